"""`mnistlab serve` under load: the real server in a subprocess on a free port of 127.0.0.1.

- 500 predictions sent 20 at a time, mixed with 100 malformed requests, while one more client posts
  1400x1400 photos one after another: every request is answered, nothing gets a 5xx, each bad request gets
  its 4xx, every photo its prediction, concurrent answers for one image are identical, and the server's
  resident memory (VmRSS) is flat between the first and the last 100 requests.
- A flood of 300 requests at once: those beyond the server's queues get 503 with a JSON error and
  Retry-After, the others their prediction, nothing else; then the server answers as before.

Behaviour only: how fast is benchmarks/serve_load.py's business."""

import asyncio
import io
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.test_browser import free_port  # the browser test's helper: a free port on 127.0.0.1

httpx = pytest.importorskip("httpx", reason="the load test's client (in requirements.txt)")

MAX_UPLOAD = 2 * 1024 * 1024  # the server's limit (mnistlab.use.serve.MAX_UPLOAD), without importing FastAPI here
CONCURRENCY, GOOD, BATCH = 20, 500, 100
RSS_GROWTH_LIMIT_MB = 30  # between the first and the last 100 requests (observed: see README, Reliability)


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def canvas(strokes: list[list[tuple[int, int]]], side: int = 280) -> bytes:
    """What the page sends: black strokes on a white RGBA canvas."""
    img = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    for points in strokes:
        ImageDraw.Draw(img).line(points, fill=(0, 0, 0, 255), width=side // 14, joint="curve")
    return png(img)


DIGITS = {  # name -> (bytes, the label the shipped model gives it, or None when any label will do)
    "one": (canvas([[(150, 40), (140, 240)]]), 1),
    "zero": (canvas([[(140, 40), (90, 90), (90, 190), (140, 240), (190, 190), (190, 90), (140, 40)]]), 0),
    "seven": (canvas([[(70, 50), (210, 50), (120, 240)]]), None),
    "small one": (canvas([[(30, 8), (28, 48)]], side=56), 1),
}
TRUNCATED = DIGITS["one"][0][:300]


def photo() -> bytes:
    """A 1400x1400 JPEG (~1.4 MB): a dark '1' on unevenly lit, noisy paper (the shipped model reads a 1)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1400, 0:1400] / 1400
    img = Image.fromarray((200 - 50 * xx - 20 * yy).astype(np.uint8)).convert("RGB")
    ImageDraw.Draw(img).line([(770, 210), (672, 1190)], fill=(40, 40, 50), width=100)
    a = np.asarray(img).astype(np.int16) + rng.normal(0, 12, (1400, 1400, 3)).astype(np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=97)
    return buf.getvalue()


PHOTO = photo()

BAD = {  # name -> (httpx request arguments, expected status, a fragment of the JSON error)
    "not an image": ({"content": b"this is not an image " * 20}, 415, "not an image"),
    "empty body": ({"content": b""}, 400, "empty upload"),
    "over 2 MB": ({"content": b"\0" * (MAX_UPLOAD + 1)}, 413, "larger than 2 MB"),
    "wrong field name": ({"files": {"image": ("one.png", DIGITS["one"][0], "image/png")}}, 400, "field named 'file'"),
    "truncated PNG": ({"files": {"file": ("cut.png", TRUNCATED, "image/png")}}, 415, "not an image"),
}


def requests() -> list[tuple[str, dict]]:
    """600 (name, request arguments): the 500 predictions with one malformed request after every fifth."""
    out, bad = [], list(BAD)
    for i in range(GOOD):
        name = list(DIGITS)[i % len(DIGITS)]
        body = DIGITS[name][0]
        out.append((name, {"files": {"file": (f"{name}.png", body, "image/png")}} if i % 2 else {"content": body}))
        if i % 5 == 4:
            kind = bad[(i // 5) % len(bad)]
            out.append((kind, BAD[kind][0]))
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # kB -> MiB
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mnistlab", "serve", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # the model loads before uvicorn listens
            try:
                httpx.get(f"{url}/api/model", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not start: {log.read_text()}")
                time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def send_all(url: str, jobs: list[tuple[str, dict]], pid: int) -> tuple[list, list[float], list]:
    """Every job, CONCURRENCY in flight, in batches of BATCH; VmRSS after each batch; and photos posted one
    after another by one more client until the jobs are done. -> (answers, rss, photo answers)."""
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY + 1, max_keepalive_connections=CONCURRENCY + 1)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        done, photos = asyncio.Event(), []

        async def photo_client():
            while not done.is_set() or not photos:
                try:
                    r = await client.post("/api/predict", files={"file": ("photo.jpg", PHOTO, "image/jpeg")})
                    photos.append((r.status_code, r.json()))
                except (httpx.HTTPError, ValueError) as e:
                    photos.append((None, repr(e)))

        photographer = asyncio.create_task(photo_client())

        async def one(name: str, kwargs: dict):
            async with gate:
                t0 = time.monotonic()
                try:
                    r = await client.post("/api/predict", **kwargs)
                    return name, r.status_code, r.json(), time.monotonic() - t0
                except (httpx.HTTPError, ValueError) as e:  # no answer, or not JSON: recorded, asserted below
                    return name, None, repr(e), time.monotonic() - t0

        answers, rss = [], []
        for start in range(0, len(jobs), BATCH):
            answers += await asyncio.gather(*(one(n, k) for n, k in jobs[start : start + BATCH]))
            rss.append(rss_mb(pid))
        done.set()
        await photographer
    return answers, rss, photos


def test_600_requests_20_at_a_time(server):
    url, proc = server
    jobs = requests()
    t0 = time.monotonic()
    answers, rss, photos = asyncio.run(send_all(url, jobs, proc.pid))
    seconds = time.monotonic() - t0
    waits = sorted(a[3] for a in answers)
    statuses = dict(Counter(a[1] for a in answers))
    print(
        f"\n{len(jobs)} requests in {seconds:.1f}s, {CONCURRENCY} in flight; answers {statuses}; latency median "
        f"{waits[len(waits) // 2]:.3f}s, p95 {waits[int(0.95 * len(waits))]:.3f}s, max {waits[-1]:.3f}s; "
        f"server VmRSS after each 100 (MiB): {[round(m, 1) for m in rss]}; {len(photos)} photos meanwhile"
    )

    assert len(answers) == len(jobs) == 600
    unanswered = [(n, body) for n, status, body, _ in answers if status is None]
    assert not unanswered, unanswered[:3]
    assert not [a for a in answers if a[1] >= 500], "a 5xx answer"
    seen = {}
    for name, status, body, _ in answers:
        if name in BAD:
            assert status == BAD[name][1] and BAD[name][2] in body["error"], (name, status, body)
            continue
        assert status == 200, (name, status, body)
        want = DIGITS[name][1]
        assert want is None or body["label"] == want, (name, body["label"])
        answer = (body["label"], body["top_k"], body["probabilities"], body["input"])
        assert seen.setdefault(name, answer) == answer, f"{name}: answers differ under concurrency"
    assert photos and all(status == 200 and body["label"] == 1 for status, body in photos), photos[:3]
    assert proc.poll() is None, "the server died"
    assert rss[-1] - rss[0] < RSS_GROWTH_LIMIT_MB, rss
    assert httpx.get(f"{url}/api/model", timeout=10).status_code == 200  # still serving


FLOOD = 300  # requests at once, every 30th a photo: well over the default queues (32 small, 4 photos)


async def flood(url: str) -> list[tuple[int | None, dict | str, dict]]:
    limits = httpx.Limits(max_connections=FLOOD, max_keepalive_connections=FLOOD)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one(i: int):
            body = PHOTO if i % 30 == 0 else DIGITS["one"][0]
            try:
                r = await client.post("/api/predict", files={"file": (f"{i}.png", body, "image/png")})
                return r.status_code, r.json(), dict(r.headers)
            except (httpx.HTTPError, ValueError) as e:
                return None, repr(e), {}

        return await asyncio.gather(*(one(i) for i in range(FLOOD)))


def test_a_flood_gets_503s_and_nothing_else_then_the_server_answers_as_before(server):
    url, proc = server
    answers = asyncio.run(flood(url))
    statuses = Counter(status for status, _, _ in answers)
    print(f"\n{FLOOD} requests at once: {dict(statuses)}")
    assert set(statuses) <= {200, 503} and statuses[503] > 0 and statuses[200] > 0, statuses
    for status, body, headers in answers:
        if status == 503:
            assert body["error"].startswith("server busy") and headers["retry-after"] == "1", body
        else:
            assert body["label"] == 1, body
    after = [httpx.post(f"{url}/api/predict", content=DIGITS["one"][0], timeout=60) for _ in range(20)]
    assert [r.status_code for r in after] == [200] * 20 and {r.json()["label"] for r in after} == {1}
    assert proc.poll() is None, "the server died"
