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


# Under load: the multipart reader, the bounded lanes (503 at once), photos in a lane of their own, and answers
# that do not depend on concurrent traffic. The lanes' CPU work is held with a threading.Event where a test
# needs a request to stay in progress: the tests assert what is answered, and in what order, never how fast.

import asyncio  # noqa: E402
import threading  # noqa: E402

import httpx  # noqa: E402

from mnistlab.cli.app import main  # noqa: E402
from mnistlab.use import serve  # noqa: E402
from mnistlab.use.serve import LARGE_PIXELS, ApiError, Limits, form_file  # noqa: E402


def encoded(**kwargs) -> tuple[bytes, str]:
    """A multipart body as httpx sends it, and its content type."""
    request = httpx.Request("POST", "http://test/", **kwargs)
    return request.read(), request.headers["content-type"]


def starlette_form(body: bytes, content_type: str) -> tuple:
    """What the server read with starlette's form parser (python-multipart): ("ok", bytes, name) or ("400", why)."""
    from starlette.requests import Request

    async def read():
        scope = {"type": "http", "method": "POST", "path": "/", "query_string": b""}
        scope["headers"] = [(b"content-type", content_type.encode())]

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(scope, receive).form()
        except Exception:  # noqa: BLE001
            return ("400", "malformed")
        field = form.get("file")
        if field is None or isinstance(field, str):
            return ("400", "field")
        return ("ok", await field.read(), field.filename or "upload")

    return asyncio.run(read())


def ours(body: bytes, content_type: str) -> tuple:
    try:
        return ("ok", *form_file(body, content_type))
    except ApiError as e:
        return (str(e.status), "malformed" if "malformed" in str(e) else "field")


ONE = drawn_one()
WHOLE = encoded(files={"file": ("one.png", ONE, "image/png")})
MULTIPART = {
    "plain": WHOLE,
    "name with ; and quotes": encoded(files={"file": ('a;b "q".png', ONE)}),
    "name with unicode and backslash": encoded(files={"file": ("ünï\\x.png", ONE)}),
    "no file name (a text field)": encoded(files={"file": ("", ONE)}),
    "other fields too": encoded(data={"x": "1"}, files={"file": ("a.png", ONE)}),
    "no field named file": encoded(files={"other": ("a.png", ONE)}),
    "text field named file": encoded(data={"file": "abc"}, files={"x": ("x", b"")}),
    "two files named file (the last counts)": encoded(files=[("file", ("a.png", ONE)), ("file", ("b.png", b"x"))]),
    "empty file": encoded(files={"file": ("e.png", b"")}),
    "Windows path": (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="C:\\\\d\\\\w.png"\r\n\r\n'
        + ONE
        + b"\r\n--B--\r\n",
        "multipart/form-data; boundary=B",
    ),
    "quoted boundary, lower-case headers": (
        b'--B B\r\ncontent-disposition: form-data; NAME="file"; filename="q.png"\r\n\r\n' + ONE + b"\r\n--B B--\r\n",
        'multipart/form-data; boundary="B B"',
    ),
    "no boundary": (WHOLE[0], "multipart/form-data"),
    "cut in the file": (WHOLE[0][:150], WHOLE[1]),
    "cut before the end": (WHOLE[0][:-4], WHOLE[1]),
    "LF line ends": (WHOLE[0].replace(b"\r\n", b"\n"), WHOLE[1]),
    "not multipart at all": (b"hello world", WHOLE[1]),
    "empty body": (b"", WHOLE[1]),
    "cut in a part's headers": (WHOLE[0][:100], WHOLE[1]),
    "a preamble before the first part": (b"preamble\r\n" + WHOLE[0], WHOLE[1]),
}
# Where the two differ, on purpose: a body cut short is malformed (starlette drops the unfinished part, then
# finds no field named file, or fails: both 400), and a preamble, which RFC 2046 allows, is skipped.
DIFFERENT = {
    "cut in the file": ("400", "malformed"),
    "cut before the end": ("400", "malformed"),
    "cut in a part's headers": ("400", "malformed"),
    "a preamble before the first part": ("ok", ONE, "one.png"),
}


@pytest.mark.parametrize("case", list(MULTIPART))
def test_multipart_reader_reads_what_starlettes_form_parser_reads(case):
    assert ours(*MULTIPART[case]) == DIFFERENT.get(case, starlette_form(*MULTIPART[case]))


async def post_all(app, requests: list[dict]) -> list[httpx.Response]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60) as c:
        return await asyncio.gather(*(c.post("/api/predict", **kw) for kw in requests))


def held_preprocess(monkeypatch, large_only: bool = False) -> tuple[threading.Event, threading.Event]:
    """Make the lanes' preprocess wait for `release` (only for images over LARGE_PIXELS when large_only);
    `entered` is set when one is waiting."""
    release, entered, real = threading.Event(), threading.Event(), serve.preprocess

    def held(img):
        if not large_only or img.width * img.height > LARGE_PIXELS:
            entered.set()
            assert release.wait(60), "the test never released the preprocessing"
        return real(img)

    monkeypatch.setattr(serve, "preprocess", held)
    return release, entered


async def until(condition, what: str) -> None:
    for _ in range(6000):  # at most a minute: a condition that never comes fails the test rather than hanging it
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_a_flood_gets_503_at_once_and_the_server_answers_afterwards(monkeypatch):
    """Two small images admitted (one in work, held; one waiting), one photo: every further request gets 503
    with a JSON error and Retry-After while they are held, nothing else; afterwards all answer normally."""
    release, _ = held_preprocess(monkeypatch)
    app = create_app(limits=Limits(workers=1, queue=2, large_queue=1, processes=False))
    photo = png(Image.new("L", (400, 400), 255))  # over LARGE_PIXELS: the large lane (blank: 400 once released)

    async def flood():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60) as c:
            post = lambda data: asyncio.ensure_future(c.post("/api/predict", content=data))  # noqa: E731
            tasks = [post(photo)] + [post(drawn_one()) for _ in range(20)]
            await until(lambda: sum(t.done() for t in tasks) == 18, "18 answers while 3 are held")
            early = [t.result() for t in tasks if t.done()]
            release.set()
            rest = await asyncio.gather(*tasks)
            after = [await c.post("/api/predict", content=drawn_one()) for _ in range(4)]
            return early, rest, after

    early, rest, after = asyncio.run(flood())
    assert {r.status_code for r in early} == {503}
    for r in early:
        assert "server busy" in r.json()["error"] and r.headers["retry-after"] == "1"
    assert sorted(r.status_code for r in rest) == [200, 200, 400] + [503] * 18  # the blank photo: 400
    assert [r.status_code for r in after] == [200] * 4 and {r.json()["label"] for r in after} == {1}


def test_small_images_are_answered_while_a_photo_is_being_prepared(monkeypatch):
    """A photo's preprocessing held in the large lane: 20 small requests, one after another, all get their
    answer before the photo's; then the photo gets its own."""
    release, entered = held_preprocess(monkeypatch, large_only=True)
    app = create_app(limits=Limits(workers=1, processes=False))
    photo = Image.new("RGB", (900, 900), (230, 230, 230))
    ImageDraw.Draw(photo).line([(470, 120), (440, 780)], fill=(20, 20, 20), width=60)

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60) as c:
            big = asyncio.ensure_future(c.post("/api/predict", files={"file": ("photo.png", png(photo))}))
            await until(entered.is_set, "the photo's preprocessing began")
            small = [await c.post("/api/predict", content=drawn_one()) for _ in range(20)]
            photo_done_first = big.done()
            release.set()
            return small, photo_done_first, await big

    small, photo_done_first, big = asyncio.run(run())
    assert [r.status_code for r in small] == [200] * 20 and {r.json()["label"] for r in small} == {1}
    assert not photo_done_first
    assert big.status_code == 200 and big.json()["label"] == 1 and big.json()["file"] == "photo.png"


def test_concurrent_answers_equal_sequential_ones():
    """Eight images, one at a time, then all of them four times at once (two workers, photos in their
    process): every answer is byte for byte the sequential one."""
    images = {f"d{i}.png": canvas_digit(i) for i in range(6)}
    photo = Image.new("RGB", (1000, 800), (210, 205, 200))
    ImageDraw.Draw(photo).line([(520, 100), (480, 700)], fill=(30, 30, 30), width=70)
    images["photo.png"] = png(photo)
    images["small.png"] = png(Image.open(io.BytesIO(drawn_one())).resize((40, 40)))
    requests = [{"files": {"file": (name, data, "image/png")}} for name, data in images.items()]
    with TestClient(create_app(limits=Limits(workers=2))) as c:  # the lifespan starts the child processes
        sequential = [c.post("/api/predict", **kw) for kw in requests]
        concurrent = asyncio.run(post_all(c.app, requests * 4))
    assert [r.status_code for r in sequential] == [200] * len(images)
    for i, r in enumerate(concurrent):
        assert r.status_code == 200 and r.content == sequential[i % len(images)].content, list(images)[i % len(images)]


def canvas_digit(i: int) -> bytes:
    """Strokes on a white 280x280 canvas, a different shape for each i."""
    img = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    points = [(140 + 30 * ((i * k) % 3 - 1), 40 + 40 * k) for k in range(6)]
    ImageDraw.Draw(img).line(points, fill=(0, 0, 0, 255), width=18 + 2 * i, joint="curve")
    return png(img)


def test_server_timing_names_each_phase(client):
    r = client.post("/api/predict", content=drawn_one())
    phases = [item.split(";")[0].strip() for item in r.headers["server-timing"].split(",")]
    assert phases == ["read", "parse", "queue", "decode", "preprocess", "batch", "forward", "encode", "total"]


@pytest.mark.parametrize("flag", ["--workers", "--queue", "--large-queue"])
def test_load_flags_refuse_zero_and_too_much_in_one_line(flag, capsys):
    for value in ("0", "100000"):
        assert main(["serve", flag, value, "--port", "0"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"mnistlab: error: {flag} must be between 1 and ") and "\n" not in err, err


def test_an_images_probabilities_do_not_depend_on_the_others_in_its_forward_pass():
    """What lets the server batch concurrent requests: the same bits alone, at any place among 7 others, and
    in calls of 2 to 40 images (Predictor.probabilities pads every forward pass to FORWARD_BATCH)."""
    predictor = Predictor.load()
    rng = np.random.default_rng(0)
    others = rng.random((40, 28, 28), dtype=np.float32)
    x = np.asarray(Image.open(io.BytesIO(drawn_one())).convert("L").resize((28, 28)), dtype=np.float32) / 255
    alone = predictor.probabilities(x[None])[0]
    for n in (2, 5, 8, 9, 40):
        for at in (0, n // 2, n - 1):
            batch = np.concatenate([others[:at], x[None], others[at : n - 1]])
            assert np.array_equal(predictor.probabilities(batch)[at], alone), (n, at)


def test_an_upload_that_trickles_gets_408_and_frees_its_place(monkeypatch):
    monkeypatch.setattr(serve, "READ_TIMEOUT", 0.2)
    app = create_app(limits=Limits(queue=1, large_queue=1, processes=False))  # two bodies read at once

    async def trickle():
        yield drawn_one()[:100]
        await asyncio.sleep(30)

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            slow = await asyncio.gather(*(c.post("/api/predict", content=trickle()) for _ in range(2)))
            return slow, await c.post("/api/predict", content=drawn_one())

    slow, after = asyncio.run(run())
    assert [r.status_code for r in slow] == [408, 408] and "not received within 0.2 s" in slow[0].json()["error"]
    assert after.status_code == 200 and after.json()["label"] == 1
