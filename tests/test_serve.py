"""The web API in-process (FastAPI's TestClient): answers, status codes, and surviving bad requests."""

import io
import json
import warnings

import numpy as np
import pytest
from PIL import Image, ImageDraw

fastapi = pytest.importorskip("fastapi", reason="serve needs fastapi (make venv installs it)")
with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient; httpx still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mnistlab.use.predict import Predictor  # noqa: E402
from mnistlab.use.serve import MAX_UPLOAD, create_app  # noqa: E402
from mnistlab.use.weights import default_run_dir  # noqa: E402


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def drawn_one() -> bytes:
    """A '1' as the page sends it: black stroke on a white RGBA canvas of 280x280."""
    img = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    ImageDraw.Draw(img).line([(150, 40), (140, 240)], fill=(0, 0, 0, 255), width=20)
    return png(img)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def test_page_and_model_facts(client):
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="pad"' in page.text and 'id="clear"' in page.text
    facts = client.get("/api/model").json()
    shipped = json.loads((default_run_dir() / "model.json").read_text())  # mnist-8k (seed 0 of results/mnist-8k)
    assert {k: facts[k] for k in shipped} == shipped and facts["run"] == "default"
    assert facts["test_acc"] > 99  # the shipped run's last epoch (observed 99.43)


def test_multipart_and_raw_body_give_the_predict_json(client):
    r = client.post("/api/predict", files={"file": ("one.png", drawn_one(), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["file"] == "one.png" and body["label"] == 1 and body["top_k"][0] == [1, body["confidence"]]
    assert len(body["top_k"]) == 3 and len(body["probabilities"]) == 10
    assert sum(body["probabilities"]) == pytest.approx(1, abs=1e-5)
    assert np.array(body["input"]).shape == (28, 28) and max(map(max, body["input"])) == 255
    raw = client.post("/api/predict?top_k=5", content=drawn_one(), headers={"content-type": "image/png"}).json()
    assert raw["label"] == 1 and len(raw["top_k"]) == 5 and raw["probabilities"] == body["probabilities"]


def test_same_answer_as_predict(client, tmp_path):
    """The API and `mnistlab predict` run the same code: same label, confidence and top-k."""
    from mnistlab.use.predict import predict_files

    (tmp_path / "one.png").write_bytes(drawn_one())
    cli = predict_files([tmp_path / "one.png"], predictor=Predictor.load())[0]
    api = client.post("/api/predict", files={"file": ("one.png", drawn_one())}).json()
    assert (api["label"], api["confidence"], api["top_k"]) == (cli["label"], cli["confidence"], cli["top_k"])


def blank_png() -> bytes:
    return png(Image.new("L", (64, 64), 255))


BAD = {
    "too big (Content-Length)": (dict(content=b"\0" * (MAX_UPLOAD + 1)), 413, "larger than 2 MB"),
    "too big (chunked)": (dict(content=iter([b"\0" * 1_000_000] * 3)), 413, "larger than 2 MB"),
    "not an image": (dict(content=b"hello world"), 415, "not an image"),
    "not an image (multipart)": (dict(files={"file": ("a.txt", b"text", "text/plain")}), 415, "a.txt: not an image"),
    "empty body": (dict(content=b""), 400, "empty upload"),
    "blank image": (dict(files={"file": ("blank.png", blank_png())}), 400, "blank"),
    "no file field": (dict(files={"other": ("x.png", drawn_one())}), 400, "field named 'file'"),
    "top_k not a number": (dict(params={"top_k": "abc"}, content=b"x"), 400, "top_k"),
    "top_k too big": (dict(params={"top_k": 11}, content=b"x"), 400, "top_k must be between 1 and 10"),
    "form field is text": (dict(data={"file": "abc"}, files={"x": ("x", b"")}), 400, "field named 'file'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_request_gets_json_error_and_server_keeps_serving(client, case):
    kwargs, status, message = BAD[case]
    r = client.post("/api/predict", **kwargs)
    assert r.status_code == status and message in r.json()["error"]
    assert client.post("/api/predict", content=drawn_one()).json()["label"] == 1  # still serving
