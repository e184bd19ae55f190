"""`mnistlab serve` under load: a profile of one request by phase, then four scenarios against the real server.

Run from the repository root:

    .venv/bin/python benchmarks/serve_load.py --out benchmarks/results/2026-12-05-serve [--baseline REV]

It profiles one request (multipart, image header, decode, preprocess, forward pass, JSON answer: each the
median of repeated calls, in a child process), then starts `mnistlab serve` (the shipped model) on a free
port of 127.0.0.1 and, `--repeats` times, runs each scenario for at most `--seconds` seconds and a bounded
number of requests:

- one:   1 client posting a 64x64 PNG (~3 KB), one request after another;
- small: 20 such clients at once;
- mixed: 19 such clients plus 1 posting 1400x1400 photos (JPEG, ~1.4 MB);
- flood: 3 waves of 400 requests sent at once (1 in 20 a photo), which must get 503s and nothing else, and a
  server that answers normally afterwards.

Each scenario records p50/p90/p99/max latency and throughput per image kind, the status codes, the CPU
seconds of server (with its photo process) and client, the median of each phase the server reports in its
Server-Timing header, and /proc/loadavg before and after: the machine may be shared. Then it stops the
server and writes serve_load.json and serve_load.txt to --out. Traffic goes to 127.0.0.1 only.

--baseline REV measures the src/ of that git revision too (`git archive` into a temporary folder, put first
on PYTHONPATH), side by side: each repeat runs both servers one after the other, in alternating order.
The load generator (--client raw, the default) is a hand-written HTTP/1.1 client at ~0.1 ms of CPU a
request; --client httpx costs ~2.5 ms, which on 2 cores the server then lacks.
"""

import argparse
import asyncio
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw

SMALL_CLIENTS, FLOOD, FLOOD_WAVES, PHOTO_EVERY = 20, 400, 3, 20
SCENARIOS = ("one", "small", "mixed", "flood")
MAX_REQUESTS = 20_000  # per scenario, whatever --seconds allows
TIMEOUT = 60  # seconds a request may take before it counts as a transport error
TARGETS = {"small_per_s": 200, "mixed_small_p99_ms": 100}


def small_png(seed: int) -> bytes:
    """A 64x64 RGB PNG of a stroke on lightly noisy paper (~3.2 KB)."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (64, 64), (235, 232, 225))
    x = 28 + seed % 8
    ImageDraw.Draw(img).line([(x + 4, 8), (x, 56)], fill=(30, 30, 40), width=6)
    a = np.asarray(img).astype(np.int16) + rng.integers(-3, 4, (64, 64, 1))
    buf = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def photo_jpeg(seed: int, side: int = 1400) -> bytes:
    """A side x side JPEG (quality 97, ~1.4 MB at 1400): a dark stroke on unevenly lit, noisy paper."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    img = Image.fromarray((200 - 50 * xx - 20 * yy).astype(np.uint8)).convert("RGB")
    ImageDraw.Draw(img).line(
        [(side * 0.55, side * 0.15), (side * 0.48, side * 0.85)], fill=(40, 40, 50), width=side // 14
    )
    a = np.asarray(img).astype(np.int16) + rng.normal(0, 12, (side, side, 3)).astype(np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=97)
    return buf.getvalue()


def multipart(data: bytes, name: str) -> tuple[bytes, str]:
    boundary = "mnistlab-bench-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
    body = head.encode() + b"Content-Type: image/png\r\n\r\n" + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def median_ms(fn, n: int) -> tuple[float, object]:
    out = fn()  # warm
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) * 1e3, 3), out


def profile(images: dict[str, bytes]) -> dict:
    """Each phase of one request, in this process: the median of repeated calls (ms), per image kind."""
    import torch

    from mnistlab.use.predict import Predictor

    torch.set_num_threads(1)  # as `mnistlab serve` runs
    predictor = Predictor.load()
    loop = asyncio.new_event_loop()
    try:
        return {kind: profile_image(kind, data, predictor, loop) for kind, data in images.items()}
    finally:
        loop.close()


def profile_image(kind: str, data: bytes, predictor, loop) -> dict:
    import torch
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse
    from starlette.requests import Request

    from mnistlab.use import serve
    from mnistlab.use.preprocess import open_image, preprocess

    async def starlette_form(body: bytes, content_type: str) -> bytes:  # what the server used before form_file
        scope = {"type": "http", "method": "POST", "path": "/", "query_string": b""}
        scope["headers"] = [(b"content-type", content_type.encode())]

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        return await (await Request(scope, receive).form())["file"].read()

    n = 200 if kind == "small" else 10
    body, content_type = multipart(data, f"{kind}.png")
    phases = {}
    phases["multipart: starlette form (python-multipart)"] = median_ms(
        lambda: loop.run_until_complete(starlette_form(body, content_type)), n
    )[0]
    if hasattr(serve, "form_file"):
        phases["multipart: serve.form_file"] = median_ms(lambda: serve.form_file(body, content_type), n)[0]
    if hasattr(serve, "pixel_count"):
        phases["image header (lane choice)"] = median_ms(lambda: serve.pixel_count(data), n)[0]
    phases["decode"], img = median_ms(lambda: open_image(data, kind), n)
    phases["preprocess"], x = median_ms(lambda: preprocess(img), n)
    for threads in (2, 1):
        torch.set_num_threads(threads)
        phases[f"forward (torch threads {threads})"], probs = median_ms(lambda: predictor.probabilities(x[None])[0], n)
    eight = np.stack([x] * 8)
    phases["forward, per image of a batch of 8"] = round(median_ms(lambda: predictor.probabilities(eight), n)[0] / 8, 3)
    result = {
        **predictor.result(kind, probs, 3),
        "probabilities": [round(float(p), 6) for p in probs],
        "input": (x * 255).round().astype(int).tolist(),
    }
    phases["answer: FastAPI jsonable_encoder + JSONResponse"] = median_ms(
        lambda: JSONResponse(jsonable_encoder(result)).body, n
    )[0]
    phases["answer: json.dumps"] = median_ms(
        lambda: json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(), n
    )[0]
    return {"bytes": len(data), "pixels": img.width * img.height, "ms": phases}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def family(pid: int) -> list[int]:
    """A process and its live children (the server's image workers)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return pids


def rss_mb(pid: int) -> float | None:
    try:
        line = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None
    return round(int(line.split()[1]) / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and of its live children (the photo process), in seconds."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for p in family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def start_server(args: list[str], src: str | None = None) -> tuple[subprocess.Popen, str]:
    """`mnistlab serve` on a free port of 127.0.0.1 (src: a src/ folder to import mnistlab from)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{url}/api/model", timeout=2).raise_for_status()
            for kind, data in (("large", photo_jpeg(0)), ("small", small_png(0))):  # warm: the photo process too
                httpx.post(f"{url}/api/predict", files={"file": (kind, data)}, timeout=TIMEOUT).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"the server did not start: {proc.stderr.read()}") from None
            time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def server_timing(header: str | None) -> dict[str, float]:
    out = {}
    for item in (header or "").split(","):
        name, _, dur = item.strip().partition(";dur=")
        if dur:
            out[name] = float(dur)
    return out


class RawClient:
    """One keep-alive HTTP/1.1 connection written by hand: ~0.1 ms of client CPU a request where httpx takes
    ~2.5 ms, so that on 2 cores the CPU goes to the server rather than to the load generator."""

    def __init__(self, port: int):
        self.port, self.streams, self.requests = port, None, {}

    async def post(self, kind: str, data: bytes) -> tuple[int, dict, bytes]:
        if id(data) not in self.requests:
            body, content_type = multipart(data, f"{kind}.png")
            head = f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: {content_type}\r\n"
            self.requests[id(data)] = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams

        async def exchange():
            writer.write(self.requests[id(data)])
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            return lines, headers, await reader.readexactly(int(headers.get("content-length", 0)))

        try:
            lines, headers, content = await asyncio.wait_for(exchange(), TIMEOUT)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as e:
            await self.close()
            raise ConnectionError(type(e).__name__) from None
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return int(lines[0].split()[1]), headers, content

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class HttpxClient:
    """httpx.AsyncClient posting multipart files, as the page's users' scripts would."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    async def post(self, kind: str, data: bytes) -> tuple[int, dict, bytes]:
        try:
            r = await self.client.post("/api/predict", files={"file": (f"{kind}.png", data, "image/png")})
        except httpx.HTTPError as e:
            raise ConnectionError(type(e).__name__) from None
        return r.status_code, r.headers, r.content

    async def close(self) -> None:
        pass


async def post(client, kind: str, data: bytes, log: list) -> None:
    t0 = time.perf_counter()
    try:
        status, headers, content = await client.post(kind, data)
        timing = server_timing(headers.get("server-timing"))
        label = json.loads(content).get("label") if status == 200 else None
    except ConnectionError as e:
        status, timing, label = str(e), {}, None
    log.append({"kind": kind, "status": status, "s": time.perf_counter() - t0, "timing": timing, "label": label})


def clients_for(kind: str, url: str, n: int):
    """n clients of `kind` (raw or httpx) and a function that closes them."""
    if kind == "raw":
        port = int(url.rsplit(":", 1)[1])
        raws = [RawClient(port) for _ in range(n)]

        async def close():
            for c in raws:
                await c.close()

        return raws, close
    shared = httpx.AsyncClient(
        base_url=url, timeout=60, limits=httpx.Limits(max_connections=n, max_keepalive_connections=n)
    )
    return [HttpxClient(shared)] * n, shared.aclose


async def closed_loop(
    url: str, clients: dict[str, int], images: dict[str, list[bytes]], seconds: float, client: str
) -> list:
    """clients: kind -> how many clients send that kind back to back, until `seconds` or MAX_REQUESTS."""
    log: list = []
    pool, close = clients_for(client, url, sum(clients.values()))
    try:
        for kind in clients:  # warm: one request of each kind, not recorded
            await post(pool[0], kind, images[kind][0], [])
        deadline = time.perf_counter() + seconds

        async def one_client(c, kind: str, i: int):
            j = i
            while time.perf_counter() < deadline and len(log) < MAX_REQUESTS:
                await post(c, kind, images[kind][j % len(images[kind])], log)
                j += 1

        kinds = [k for k, m in clients.items() for _ in range(m)]
        await asyncio.gather(*(one_client(c, k, i) for i, (c, k) in enumerate(zip(pool, kinds, strict=True))))
    finally:
        await close()
    return log


async def flood(url: str, images: dict[str, list[bytes]], client: str) -> tuple[list, list]:
    """FLOOD_WAVES waves of FLOOD requests at once (every PHOTO_EVERY-th a photo); then one small request."""
    log: list = []
    for _ in range(FLOOD_WAVES):
        pool, close = clients_for(client, url, FLOOD)
        jobs = [("large", images["large"][i % 2]) if i % PHOTO_EVERY == 0 else ("small", images["small"][i % 8])
                for i in range(FLOOD)]  # fmt: skip
        try:
            await asyncio.gather(*(post(c, k, d, log) for c, (k, d) in zip(pool, jobs, strict=True)))
        finally:
            await close()
    after: list = []
    pool, close = clients_for(client, url, 1)
    await post(pool[0], "small", images["small"][0], after)
    await close()
    return log, after


def summarize(log: list, seconds: float) -> dict:
    out = {"requests": len(log), "seconds": round(seconds, 2)}
    for kind in sorted({e["kind"] for e in log}):
        entries = [e for e in log if e["kind"] == kind]
        ok = np.array([e["s"] for e in entries if e["status"] == 200]) * 1e3
        s = {"statuses": dict(Counter(str(e["status"]) for e in entries)), "ok": len(ok)}
        s["ok_per_s"] = round(len(ok) / seconds, 1)
        if len(ok):
            s.update({f"p{q}_ms": round(float(np.percentile(ok, q)), 1) for q in (50, 90, 99)})
            s["max_ms"] = round(float(ok.max()), 1)
            phases = [e["timing"] for e in entries if e["status"] == 200 and e["timing"]]
            if phases:
                s["server_timing_p50_ms"] = {k: round(float(np.median([p[k] for p in phases])), 3) for k in phases[0]}
        busy = np.array([e["s"] for e in entries if e["status"] == 503]) * 1e3
        if len(busy):
            s["503_p50_ms"], s["503_max_ms"] = round(float(np.median(busy)), 1), round(float(busy.max()), 1)
        s["labels"] = dict(Counter(str(e["label"]) for e in entries if e["status"] == 200))
        out[kind] = s
    out["5xx_other_than_503"] = sum(1 for e in log if isinstance(e["status"], int) and 500 <= e["status"] != 503)
    out["transport_errors"] = sum(1 for e in log if not isinstance(e["status"], int))
    return out


def run_scenarios(src: str | None, server_args: list[str], seconds: float, images: dict, client: str) -> dict:
    proc, url = start_server(server_args, src)
    results = {}
    try:
        scenarios = {
            "one": {"small": 1},
            "small": {"small": SMALL_CLIENTS},
            "mixed": {"small": SMALL_CLIENTS - 1, "large": 1},
        }
        for name, clients in [*scenarios.items(), ("flood", None)]:
            load0, cpu0, client0, t0 = loadavg(), cpu_seconds(proc.pid), time.process_time(), time.perf_counter()
            if clients is None:
                log, after = asyncio.run(flood(url, images, client))
            else:
                log = asyncio.run(closed_loop(url, clients, images, seconds, client))
            wall = time.perf_counter() - t0
            r = summarize(log, wall)
            r["clients"] = clients or {"waves": FLOOD_WAVES, "at_once": FLOOD, "photo_every": PHOTO_EVERY}
            r["server_cpu_s"] = round(cpu_seconds(proc.pid) - cpu0, 2)
            r["client_cpu_s"] = round(time.process_time() - client0, 2)
            r["loadavg_before"], r["loadavg_after"] = load0, loadavg()
            if clients is None:
                r["after_flood"] = {"status": after[0]["status"], "ms": round(after[0]["s"] * 1e3, 1)}
            results[name] = r
            print(f"    {name}: {one_line(r)}", flush=True)
        results["server_alive"] = proc.poll() is None
        results["rss_mb"] = {"server": rss_mb(proc.pid), "children": [rss_mb(c) for c in family(proc.pid)[1:]]}
    finally:
        stop_server(proc)
    return results


def one_line(r: dict) -> str:
    parts = []
    for kind in ("small", "large"):
        if kind in r:
            s = r[kind]
            lat = f"p50 {s.get('p50_ms')} p99 {s.get('p99_ms')} ms" if s["ok"] else "no 200"
            parts.append(f"{kind} {s['ok_per_s']}/s {lat} {s['statuses']}")
    return "; ".join(parts) + f"; other 5xx {r['5xx_other_than_503']}, transport errors {r['transport_errors']}"


def report(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"mnistlab serve under load, {result['date']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}",
        f"server: mnistlab serve {' '.join(result['server_args'])} (the shipped model); load generator: "
        f"{result['client']} client, one process on the same machine",
        f"servers: {', '.join(f'{k} = {v}' for k, v in result['servers'].items())}",
        f"load average before: {result['loadavg_before']}; after: {result['loadavg_after']}",
        "",
        "Profile of one request (median ms of repeated calls; small = 64x64 PNG, large = 1400x1400 JPEG):",
    ]
    names = list(result["servers"])
    lines.append(f"  {'phase':50s}" + "".join(f" {n + ' ' + k:>16s}" for n in names for k in ("small", "large")))
    phases = list(dict.fromkeys(ph for n in names for ph in result["profile"][n]["small"]["ms"]))
    for ph in phases:
        row = [result["profile"][n][k]["ms"].get(ph) for n in names for k in ("small", "large")]
        lines.append(f"  {ph:50s}" + "".join(f" {v:16.3f}" if v is not None else f" {'-':>16s}" for v in row))
    lines += ["", "Scenarios (throughput counts 200 answers; latencies are those of 200 answers, ms):"]
    lines.append(
        f"  {'rep':3s} {'server':8s} {'scenario':8s} {'kind':5s} {'ok/s':>7s} {'p50':>7s} {'p99':>7s} {'max':>7s}"
        "  statuses | CPU s server, client | loadavg before -> after"
    )
    for i, rep in enumerate(result["repeats"], 1):
        for n in names:
            for name in SCENARIOS:
                r = rep[n][name]
                for kind in ("small", "large"):
                    if kind not in r:
                        continue
                    s = r[kind]
                    cols = " ".join(f"{s.get(k, float('nan')):7.1f}" for k in ("p50_ms", "p99_ms", "max_ms"))
                    row = f"  {i:<3d} {n:8s} {name:8s} {kind:5s} {s['ok_per_s']:7.1f} {cols}  {s['statuses']}"
                    if kind == "small":
                        row += (
                            f" | {r['server_cpu_s']}, {r['client_cpu_s']} | "
                            f"{r['loadavg_before'].split()[0]} -> {r['loadavg_after'].split()[0]}"
                        )
                    lines.append(row)
                if name == "flood":
                    busy = [r[k].get("503_p50_ms") for k in ("small", "large") if k in r]
                    lines.append(
                        f"  {'':3s} {'':8s} {'':8s} 503s answered in p50 {busy} ms; after the flood "
                        f"{r['after_flood']}; other 5xx {r['5xx_other_than_503']}, "
                        f"transport errors {r['transport_errors']}"
                    )
    for n in names:
        lines.append(f"  resident memory after repeat 1 ({n}), MiB: {result['repeats'][0][n].get('rss_mb')}")
    lines += ["", "Server-Timing medians of small requests, repeat 1 (ms):"]
    for name in ("one", "small", "mixed"):
        t = result["repeats"][0]["current"][name]["small"].get("server_timing_p50_ms")
        if t:
            lines.append(f"  {name:6s} " + ", ".join(f"{k} {v}" for k, v in t.items()))
    for n in names:
        lines += ["", f"Targets ({n}):"]
        lines += [f"  {k}: {v}" for k, v in result["targets"][n].items()]
    return "\n".join(lines) + "\n"


def targets(repeats: list[dict]) -> dict:
    rates = [r["small"]["small"]["ok_per_s"] for r in repeats]
    p99 = [r["mixed"]["small"].get("p99_ms") for r in repeats]
    other = sum(r[s]["5xx_other_than_503"] + r[s]["transport_errors"] for r in repeats for s in SCENARIOS)
    floods = [
        sum(r["flood"][k]["statuses"].get("503", 0) for k in ("small", "large") if k in r["flood"]) for r in repeats
    ]
    after = [r["flood"]["after_flood"]["status"] for r in repeats]
    met = lambda ok: "met" if ok else "missed"  # noqa: E731
    return {
        f">= {TARGETS['small_per_s']} small predictions/s at 20 clients": f"{rates} -> "
        + met(min(rates) >= TARGETS["small_per_s"]),
        f"small p99 <= {TARGETS['mixed_small_p99_ms']} ms at 19 small + 1 photo client": f"{p99} -> "
        + met(all(p is not None and p <= TARGETS["mixed_small_p99_ms"] for p in p99)),
        "no 5xx other than 503, no transport error": f"{other} -> " + met(other == 0),
        "a flood gets 503s and the server answers afterwards": f"503s {floods}, after {after} -> "
        + met(min(floods) > 0 and set(after) == {200}),
    }


def baseline_src(rev: str, into: Path) -> str:
    """src/ of a git revision, extracted under `into` -> the folder to put on PYTHONPATH."""
    archive = subprocess.run(["git", "archive", rev, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return str(into / "src")


def profile_in_child(src: str | None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, __file__, "--profile-json"], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"profile failed: {out.stderr}")
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="folder for serve_load.json and serve_load.txt")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0, help="per scenario (default 10)")
    ap.add_argument("--baseline", metavar="REV", help="a git revision whose server runs side by side")
    ap.add_argument("--client", choices=["raw", "httpx"], default="raw", help="load generator (default raw)")
    ap.add_argument("--server-arg", action="append", default=[], help="one more argument for `mnistlab serve`")
    ap.add_argument("--profile-json", action="store_true", help=argparse.SUPPRESS)  # the child of profile_in_child
    args = ap.parse_args()
    images = {"small": [small_png(s) for s in range(8)], "large": [photo_jpeg(s) for s in range(2)]}
    if args.profile_json:
        print(json.dumps(profile({"small": images["small"][0], "large": images["large"][0]})))
        return
    if not args.out:
        ap.error("--out is required")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        servers = {"current": None}
        result = {"servers": {"current": f"this checkout ({head}{', src/ modified' if dirty.strip() else ''})"}}
        if args.baseline:
            servers["baseline"] = baseline_src(args.baseline, Path(tmp))
            result["servers"]["baseline"] = f"src/ of {args.baseline}"
        result.update(
            date=time.strftime("%Y-%m-%d %H:%M"),
            machine={"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()},
            server_args=args.server_arg,
            client=args.client,
            images={k: [len(d) for d in v] for k, v in images.items()},
            loadavg_before=loadavg(),
        )
        print(f"load average: {result['loadavg_before']}; profiling one request", flush=True)
        result["profile"] = {name: profile_in_child(src) for name, src in servers.items()}
        result["repeats"] = []
        for i in range(args.repeats):
            rep = {}
            for name in list(servers)[:: 1 if i % 2 == 0 else -1]:  # alternating order: neither always first
                print(f"repeat {i + 1}/{args.repeats}, {name} server (load average {loadavg()})", flush=True)
                rep[name] = run_scenarios(servers[name], args.server_arg, args.seconds, images, args.client)
            result["repeats"].append({name: rep[name] for name in servers})
        result["loadavg_after"] = loadavg()
        result["targets"] = {name: targets([r[name] for r in result["repeats"]]) for name in servers}
    (out / "serve_load.json").write_text(json.dumps(result, indent=1) + "\n")
    text = report(result)
    (out / "serve_load.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
