"""The draw-a-digit web app: a FastAPI app over predict.Predictor (`mnistlab serve` runs it on uvicorn).

Routes: GET / (the page, web/index.html), GET /api/model (model.json's facts), POST /api/predict (an
image as multipart field `file` or as the raw body -> the same JSON as `mnistlab predict --json`, plus
all ten probabilities and the 28x28 input). Every bad request gets a JSON {"error"} and a 4xx status;
nothing a client sends can stop the server.

Under load. The event loop only reads bodies, finds the file in a multipart form and reads the image's
header; the CPU work runs in one of two lanes, chosen by the image's pixel count:

- small images (up to LARGE_PIXELS: the page's 280x280 canvas, scans of one digit): `workers` threads, each
  taking up to 8 queued requests at a time, having them decoded and preprocessed by its own child process
  (in parallel with the other's and without the server's GIL: ~2.5 ms of Python and numpy for a 64x64
  upload, which in threads capped the server at ~270 a second whatever the cores), then running one
  forward pass for them and writing their answers;
- larger ones (photos): one thread and one child process at a lower CPU priority (nice), one at a time, so
  a photo being decoded and preprocessed takes neither the GIL nor a core that small requests want.

Each lane admits a bounded number of requests (waiting + running; `queue`, `large_queue`), and at most
`queue + large_queue` bodies are read at once, each within READ_TIMEOUT: one request more gets 503 at
once, with a JSON {"error"} and Retry-After, never an unbounded wait. Each answer carries a Server-Timing
header with its phases (ms).
"""

import asyncio
import gc
import io
import json
import os
import pickle
import re
import select
import subprocess
import sys
import threading
import time
import warnings
from collections import deque
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image

from ..errors import MnistlabError
from ..training.rundir import read_metrics
from .predict import FORWARD_BATCH, Predictor
from .preprocess import ImageError, open_image, preprocess

MAX_UPLOAD = 2 * 1024 * 1024  # bytes; a phone photo as PNG can exceed it, so the error says how to shrink
WEB = Path(__file__).with_name("web")

WORKERS = 2  # child processes (each fed by a thread) preparing small images: one per core of a 2-core machine
QUEUE = 32  # small images admitted at once (running + waiting); at ~4 ms each, a wait of ~60 ms at most
LARGE_QUEUE = 4  # large images admitted at once; at ~50-150 ms each (niced under load), well under a second
LARGE_PIXELS = 320 * 320  # more pixels than this (a photo) -> the large lane; the page's canvas is 280x280
LARGE_NICE = 10  # the photo process's niceness: under contention it gets ~1/10 of a nice-0 process's share
CHILD_TIMEOUT = 60.0  # seconds; a child process that takes longer is restarted and its requests get 503
READ_TIMEOUT = 30.0  # seconds to receive a body (2 MB at most); a slower upload gets 408


@dataclass(frozen=True)
class Limits:
    """How much work the server takes on; `mnistlab serve --workers/--queue/--large-queue` set the first three."""

    workers: int = WORKERS
    queue: int = QUEUE
    large_queue: int = LARGE_QUEUE
    large_pixels: int = LARGE_PIXELS
    processes: bool = True  # False: the lanes prepare images in their threads, in this process (tests stub it there)


class ApiError(Exception):
    """An answer to a bad request (or a full queue): HTTP status, one sentence, optional headers."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers


def busy(what: str) -> ApiError:
    return ApiError(503, f"server busy: {what}; retry in a moment", {"Retry-After": "1"})


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


_PARAM = re.compile(rb';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _params(value: bytes) -> dict[bytes, bytes]:
    """`form-data; name="file"; filename="a.png"` -> {b"name": b"file", b"filename": b"a.png"} (keys lowercased)."""
    out = {}
    for key, val in _PARAM.findall(value):
        val = val.strip()
        if val[:1] == b'"':
            val = re.sub(rb"\\(.)", rb"\1", val[1:-1])
        out[key.lower()] = val
    return out


def form_file(body: bytes, content_type: str) -> tuple[bytes, str]:
    """A multipart/form-data body -> (bytes, file name) of its file field named `file` (the last, as a form reads).

    The body is in memory already (size-checked), so the parts are found with bytes.find: ~0.3 ms of the
    event loop for a 1.4 MB photo, where starlette's form parser (python-multipart) takes ~1.6 ms, and ~8 us
    for a 3 KB upload (~75 us).
    """
    malformed = ApiError(400, "malformed multipart body")
    no_file = ApiError(400, "multipart upload needs a file in a field named 'file'")
    if not body:
        raise no_file
    boundary = _params(content_type.encode("latin-1", "replace")).get(b"boundary")
    if not boundary:
        raise malformed
    delimiter = b"\r\n--" + boundary
    pos = body.find(delimiter[2:])
    if pos < 0 or (pos > 0 and body[pos - 2 : pos] != b"\r\n"):
        raise malformed
    pos += len(delimiter) - 2
    found = None
    while not body.startswith(b"--", pos):  # "--" after a delimiter closes the form
        if not body.startswith(b"\r\n", pos):
            raise malformed
        head_end = body.find(b"\r\n\r\n", pos)
        end = body.find(delimiter, head_end + 4) if head_end >= 0 else -1
        if end < 0:
            raise malformed
        disposition = b""
        for line in body[pos + 2 : head_end].split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-disposition":
                disposition = value
        params = _params(disposition)
        if params.get(b"name") == b"file":
            found = (body[head_end + 4 : end], params.get(b"filename"))
        pos = end + len(delimiter)
    if found is None or found[1] is None:  # no field `file`, or a text field (a file part has a filename)
        raise no_file
    filename = found[1].decode("utf-8", "replace")
    if filename[1:3] == ":\\" or filename[:2] == "\\\\":  # a full Windows path, as old browsers send
        filename = filename.rsplit("\\", 1)[-1]
    return found[0], filename or "upload"


def image_bytes(request: Request, body: bytes) -> tuple[bytes, str]:
    """(image bytes, name) from a multipart form's `file` field, or the raw body itself."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return body, "upload"
    return form_file(body, content_type)


def pixel_count(data: bytes) -> int:
    """Width x height from the image's header (nothing decoded); 0 when unreadable (its lane then says why)."""
    try:
        with warnings.catch_warnings():  # a decompression-bomb warning: open_image refuses such an image anyway
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                return img.width * img.height
    except Exception:  # noqa: BLE001 - Pillow raises many types; the lane's open_image gives the 415
        return 0


def prepare(data: bytes, name: str) -> tuple[np.ndarray, float, float]:
    """Image bytes -> ((28, 28) float32 input, decode seconds, preprocess seconds); errors name the file."""
    t0 = time.perf_counter()
    img = open_image(data, name)
    t1 = time.perf_counter()
    try:
        x = preprocess(img)
    except MnistlabError as e:
        raise type(e)(f"{name}: {e}") from None
    return x, t1 - t0, time.perf_counter() - t1


def outcome(data: bytes, name: str) -> tuple:
    """prepare() as a picklable reply: ("ok", x, decode s, preprocess s), or ("image" | "input" | "bug", why)."""
    try:
        return ("ok", *prepare(data, name))
    except ImageError as e:
        return ("image", str(e))
    except MnistlabError as e:
        return ("input", str(e))
    except Exception as e:  # noqa: BLE001 - a bug: the server answers 500
        return ("bug", repr(e))


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "little") + data)
    stream.flush()


def _receive(stream):
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    data = stream.read(int.from_bytes(head, "little"))
    if len(data) < int.from_bytes(head, "little"):
        raise EOFError
    return pickle.loads(data)  # only ever from the server's own child or parent


def prepare_worker() -> None:
    """A lane's child process (`python -c` runs it): reads lists of (bytes, name) from stdin and writes their
    outcomes to stdout, until stdin closes."""
    replies, requests = os.fdopen(os.dup(1), "wb"), os.fdopen(0, "rb")
    os.dup2(2, 1)  # a stray print, from Python or C, lands in the log rather than in the replies
    while True:
        try:
            items = _receive(requests)
        except (EOFError, OSError):  # the server closed its end, or died
            return
        try:
            _send(replies, [outcome(data, name) for data, name in items])
        except OSError:  # the server went away while these images were prepared
            return


class LaneFailed(Exception):
    """A lane's child process died or overran CHILD_TIMEOUT (it has been restarted)."""


class ChildProcess:
    """A child process that prepares (decodes and preprocesses) the images a lane's thread sends it, at a
    given niceness; restarted when it dies or hangs. A plain `python -c` child: it shares no lock or thread
    with the server, and imports none of the server's own script."""

    def __init__(self, nice: int, timeout: float = CHILD_TIMEOUT):
        self.nice, self.timeout = nice, timeout
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._ensure()

    def _ensure(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._stop()
        package_root = str(Path(__file__).resolve().parents[2])  # this mnistlab, installed or not
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        code = f"import os; os.nice({self.nice}); from mnistlab.use.serve import prepare_worker; prepare_worker()"
        self._proc = subprocess.Popen(  # it imports numpy, Pillow and mnistlab (~2 s) while the server starts
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=2)  # stdin closed: it returns at once when idle
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __call__(self, items: list[tuple[bytes, str]]) -> list[tuple]:
        with self._lock:
            self._ensure()
            try:
                _send(self._proc.stdin, items)
                if not select.select([self._proc.stdout], [], [], self.timeout)[0]:
                    raise TimeoutError
                return _receive(self._proc.stdout)
            except (EOFError, OSError, TimeoutError, pickle.UnpicklingError):
                self._proc.kill()
                self._stop()
                raise LaneFailed from None


@dataclass
class Job:
    """One admitted prediction: what the lane needs, and the future its answer (body, phases) goes to."""

    data: bytes
    name: str
    top_k: int
    submitted: float
    future: Future = field(default_factory=Future)


class Lane:
    """A queue of admitted jobs and `workers` threads that each take up to `batch` of them at a time. The
    thread has the jobs prepared (decoded, preprocessed) by its own child process (`nice` set), or in the
    thread itself when `nice` is None; the prepared ones share one forward pass (8 images cost ~2x one, and
    an image's probabilities do not depend on its batch: Predictor.probabilities), and each gets its JSON
    answer. At most `capacity` jobs are admitted (queued + running); the server answers 503 beyond."""

    def __init__(self, name, predictor: Predictor, workers: int, capacity: int, batch: int, nice: int | None):
        self.name, self.predictor = name, predictor
        self.workers, self.capacity, self.batch, self.nice = workers, capacity, batch, nice
        self.pending = 0  # admitted, not yet answered; the event loop's count
        self._queue: deque[Job] = deque()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._children = [ChildProcess(nice) for _ in range(workers)] if nice is not None else []
        self._closed = False

    def start(self) -> None:
        """Start the worker threads and child processes (submit does, when the app's lifespan has not)."""
        with self._ready:
            self._start()

    def _start(self) -> None:
        self._closed = False
        for child in self._children:
            child.start()
        self._threads = [t for t in self._threads if t.is_alive()]
        for i in range(len(self._threads), self.workers):
            child = self._children[i] if self._children else None
            t = threading.Thread(target=self._work, args=(child,), name=f"mnistlab-{self.name}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def submit(self, job: Job) -> Future:
        with self._ready:
            if not self._threads or self._closed:
                self._start()
            self._queue.append(job)
            self._ready.notify()
        return job.future

    def close(self) -> None:
        """Cancel the queued jobs; the threads finish the jobs they hold and stop, and so do the children."""
        with self._ready:
            self._closed = True
            for job in self._queue:
                job.future.cancel()
            self._queue.clear()
            self._ready.notify_all()
            threads, self._threads = self._threads, []
        for t in threads:
            t.join(timeout=5)
        for child in self._children:
            child.close()

    def _work(self, child: ChildProcess | None) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
                jobs = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]  # skips requests gone away
            if jobs:
                self._run(jobs, child)

    def _run(self, jobs: list[Job], child: ChildProcess | None) -> None:
        started = time.perf_counter()
        try:
            outcomes = child([(j.data, j.name) for j in jobs]) if child else [outcome(j.data, j.name) for j in jobs]
        except LaneFailed as e:
            for job in jobs:
                job.future.set_exception(e)
            return
        prepared = time.perf_counter() - started  # the whole batch's, with the trip to the child and back
        ready = []
        for job, (kind, *rest) in zip(jobs, outcomes, strict=True):
            if kind == "ok":
                x, decode, prep = rest
                phases = {"queue": started - job.submitted, "decode": decode, "preprocess": prep}
                ready.append((job, x, {**phases, "batch": prepared - decode - prep}))  # the batch's other images
            else:
                errors = {"image": ImageError, "input": MnistlabError}
                job.future.set_exception(errors.get(kind, RuntimeError)(rest[0]))  # RuntimeError: a bug, 500
        if not ready:
            return
        t0 = time.perf_counter()
        try:
            probs = self.predictor.probabilities(np.stack([x for _, x, _ in ready]))  # (n, 10)
        except BaseException as e:  # noqa: BLE001 - a bug: each request of the batch answers 500
            for job, _, _ in ready:
                job.future.set_exception(e)
            return
        forward = time.perf_counter() - t0
        for (job, x, phases), p in zip(ready, probs, strict=True):
            t1 = time.perf_counter()
            result = {
                **self.predictor.result(job.name, p, job.top_k),
                "probabilities": [round(float(v), 6) for v in p],
                "input": (x * 255).round().astype(int).tolist(),  # 28 rows of 28 ints, what the network saw
            }
            body = json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
            job.future.set_result((body, {**phases, "forward": forward, "encode": time.perf_counter() - t1}))


def model_facts(predictor: Predictor) -> dict:
    """model.json plus where it came from and its last recorded test accuracy (percent), when known."""
    facts = {**predictor.meta, "run": predictor.run_dir.name}
    try:
        facts["test_acc"] = read_metrics(predictor.run_dir)[-1].get("test_acc")
    except (MnistlabError, IndexError):
        facts["test_acc"] = None
    return facts


def create_app(
    run_dir: str | Path | None = None,
    predictor: Predictor | None = None,
    trust_code: bool = False,
    limits: Limits | None = None,
) -> FastAPI:
    """The app for one model; None means the shipped default."""
    predictor = predictor or Predictor.load(run_dir, trust_code)
    limits = limits or Limits()
    nice = (lambda n: n) if limits.processes else (lambda n: None)
    small = Lane("small", predictor, limits.workers, limits.queue, FORWARD_BATCH, nice(0))
    large = Lane("large", predictor, 1, limits.large_queue, 1, nice(LARGE_NICE))
    reading = [0]  # bodies being read now (event loop only)

    @asynccontextmanager
    async def lifespan(app):
        for lane in (small, large):
            lane.start()
        # What is alive now (torch, FastAPI, the model: ~200,000 objects) stays alive: out of the collector's
        # sight, a full collection takes ~2 ms instead of ~70-130 ms that every request in flight would wait.
        gc.collect()
        gc.freeze()
        yield
        for lane in (small, large):
            lane.close()

    app = FastAPI(title="mnistlab", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    page = (WEB / "index.html").read_text()

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return JSONResponse({"error": str(e)}, status_code=e.status, headers=e.headers)

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
        t0 = time.perf_counter()
        if not 1 <= top_k <= len(predictor.classes):
            raise ApiError(400, f"top_k must be between 1 and {len(predictor.classes)}")
        if reading[0] >= limits.queue + limits.large_queue:
            raise busy(f"{reading[0]} uploads are being received")
        reading[0] += 1
        try:  # a client that trickles its upload would hold its place among the bodies being read for ever
            async with asyncio.timeout(READ_TIMEOUT):  # no task of its own, unlike wait_for
                body = await read_limited(request)
        except TimeoutError:
            raise ApiError(408, f"upload not received within {READ_TIMEOUT:g} s; send it again") from None
        finally:
            reading[0] -= 1
        t1 = time.perf_counter()
        data, name = image_bytes(request, body)
        if not data:
            raise ApiError(400, "empty upload: send an image as field 'file' or as the request body")
        lane = large if pixel_count(data) > limits.large_pixels else small
        if lane.pending >= lane.capacity:
            raise busy(f"{lane.pending} {lane.name}-image predictions are queued")
        lane.pending += 1
        t2 = time.perf_counter()
        try:
            content, phases = await asyncio.wrap_future(lane.submit(Job(data, name, top_k, t2)))
        except ImageError as e:
            raise ApiError(415, str(e)) from None
        except MnistlabError as e:  # blank or transparent image
            raise ApiError(400, str(e)) from None
        except LaneFailed:
            raise busy("an image worker was restarted") from None
        finally:
            lane.pending -= 1
        phases = {"read": t1 - t0, "parse": t2 - t1, **phases, "total": time.perf_counter() - t0}
        timing = ", ".join(f"{k};dur={v * 1e3:.3f}" for k, v in phases.items())
        return Response(content, media_type="application/json", headers={"Server-Timing": timing})

    return app
