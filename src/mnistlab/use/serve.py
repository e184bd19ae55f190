"""The draw-a-digit web app: a FastAPI app over predict.Predictor (`mnistlab serve` runs it on uvicorn).

Routes: GET / (the page, web/index.html), GET /api/model (model.json's facts), POST /api/predict (an
image as multipart field `file` or as the raw body -> the same JSON as `mnistlab predict --json`, plus
all ten probabilities and the 28x28 input). Every bad request gets a JSON {"error"} and a 4xx status;
nothing a client sends can stop the server.
"""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from ..errors import MnistlabError
from ..training.rundir import read_metrics
from .predict import Predictor
from .preprocess import ImageError, load_digit

MAX_UPLOAD = 2 * 1024 * 1024  # bytes; a phone photo as PNG can exceed it, so the error says how to shrink
WEB = Path(__file__).with_name("web")


class ApiError(Exception):
    """An answer to a bad request: HTTP status and one sentence."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def read_limited(request: Request, limit: int = MAX_UPLOAD) -> bytes:
    """The whole body, refused with 413 as soon as it passes `limit` (also when Content-Length is absent)."""
    too_big = ApiError(413, f"upload larger than {limit // (1024 * 1024)} MB; send a smaller image")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big  # refused before reading a byte
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def image_bytes(request: Request, body: bytes) -> tuple[bytes, str]:
    """(image bytes, name) from a multipart form's `file` field, or the raw body itself."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return body, "upload"

    async def replay():  # the body was already read (and size-checked); hand it to the form parser
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form()
    except Exception:  # noqa: BLE001 - the multipart parser raises several types on a malformed body
        raise ApiError(400, "malformed multipart body") from None
    field = form.get("file")
    if field is None or isinstance(field, str):
        raise ApiError(400, "multipart upload needs a file in a field named 'file'")
    return await field.read(), field.filename or "upload"


def model_facts(predictor: Predictor) -> dict:
    """model.json plus where it came from and its last recorded test accuracy (percent), when known."""
    facts = {**predictor.meta, "run": predictor.run_dir.name}
    try:
        facts["test_acc"] = read_metrics(predictor.run_dir)[-1].get("test_acc")
    except (MnistlabError, IndexError):
        facts["test_acc"] = None
    return facts


def create_app(
    run_dir: str | Path | None = None, predictor: Predictor | None = None, trust_code: bool = False
) -> FastAPI:
    """The app for one model; None means the shipped default."""
    predictor = predictor or Predictor.load(run_dir, trust_code)
    app = FastAPI(title="mnistlab", docs_url=None, redoc_url=None, openapi_url=None)
    page = (WEB / "index.html").read_text()

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return JSONResponse({"error": str(e)}, status_code=e.status)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, e: RequestValidationError):  # e.g. ?top_k=abc
        where = ".".join(str(p) for p in e.errors()[0].get("loc", ()))
        return JSONResponse({"error": f"{where}: {e.errors()[0].get('msg', 'invalid')}"}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return page

    @app.get("/api/model")
    def model():
        return model_facts(predictor)

    @app.post("/api/predict")
    async def predict(request: Request, top_k: int = 3):
        if not 1 <= top_k <= len(predictor.classes):
            raise ApiError(400, f"top_k must be between 1 and {len(predictor.classes)}")
        data, name = await image_bytes(request, await read_limited(request))
        if not data:
            raise ApiError(400, "empty upload: send an image as field 'file' or as the request body")
        try:
            x = load_digit(data, name)  # (28, 28) float in [0, 1]
        except ImageError as e:
            raise ApiError(415, str(e)) from None
        except MnistlabError as e:  # blank or transparent image
            raise ApiError(400, str(e)) from None
        probs = predictor.probabilities(x[None])[0]  # (10,)
        return {
            **predictor.result(name, probs, top_k),
            "probabilities": [round(float(p), 6) for p in probs],
            "input": (x * 255).round().astype(int).tolist(),  # 28 rows of 28 ints, what the network saw
        }

    return app
