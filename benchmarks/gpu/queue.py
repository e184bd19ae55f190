"""Run many `mnistlab train` processes side by side on one accelerator, under a deadline.

One tiny network's training step leaves an H200 mostly idle (benchmarks/README.md: 0.2% of its peak,
launch-bound), so a lease is best spent on several runs at once, one host core each. Jobs come from a
file, one per line, highest priority first:

    NAME | NEEDS | ARGS...        (NEEDS: another job's NAME, or -; "{runs}" in ARGS is the runs folder)

A job starts when a worker is free and the job it needs has finished cleanly (a teacher, say). At the
deadline, running jobs are stopped and left out. The runs are written to RUNS (--runs; default a new
temporary folder, outside OUT because a device lease brings back only a few files); after every finished job
they are re-packed (checkpoints dropped) into OUT/runs.tgz, so whatever finished comes back even if the lease
ends early. From the repository root:

    python benchmarks/gpu/queue.py JOBS OUT --workers 12 --deadline 520 [--device cuda] [--runs RUNS] [--extra "..."]

(research/fashion-20k/eight-seed-candidates/jobs.txt is the job list of 2026-12-04.)
"""

import argparse
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path


def read_jobs(path: Path) -> list[dict]:
    jobs = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, needs, args = (part.strip() for part in line.split("|", 2))
        jobs.append({"name": name, "needs": None if needs == "-" else needs, "args": args})
    return jobs


def pack(runs: Path, out: Path) -> None:
    tmp = out / "runs.tgz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(runs, arcname="runs", filter=lambda t: None if t.name.endswith("checkpoint.safetensors") else t)
    tmp.replace(out / "runs.tgz")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("jobs", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--workers", type=int, default=12)
    p.add_argument("--deadline", type=float, default=520.0, help="seconds from start; then stop and pack")
    p.add_argument("--device", default="cuda")
    p.add_argument("--extra", default="", help="appended to every job's arguments (a dry run: --max-steps 5)")
    p.add_argument("--runs", type=Path, default=None, help="where the run folders go (default: a new temporary folder)")
    a = p.parse_args()
    runs = a.runs or Path(tempfile.mkdtemp(prefix="queue-runs-"))  # all of it travels back in OUT/runs.tgz
    logs = runs / "logs"
    if runs.exists() and any(runs.iterdir()):
        sys.exit(f"queue: {runs} is not empty (an earlier queue's runs); move it away first")
    logs.mkdir(parents=True, exist_ok=True)
    ml = [sys.executable, "-m", "mnistlab", "train", "--device", a.device, "--threads", "1", "--no-report", "--quiet"]
    pending, running, done = read_jobs(a.jobs), {}, {}
    t0 = time.time()
    status = open(a.out / "status.txt", "w", buffering=1)

    def finish(name, rc):
        job = running.pop(name)
        wall = time.time() - job["t"]
        done[name] = rc
        job["log"].close()
        status.write(f"{name} rc={rc} start_s={job['t'] - t0:.1f} wall_s={wall:.1f}\n")

    while pending or running:
        for name, job in list(running.items()):
            if job["proc"].poll() is not None:
                finish(name, job["proc"].returncode)
                pack(runs, a.out)
        if time.time() - t0 > a.deadline:
            for name, job in list(running.items()):
                job["proc"].terminate()
                job["proc"].wait()
                finish(name, "stopped-at-deadline")
            for job in pending:
                status.write(f"{job['name']} not started: deadline\n")
            break
        for job in list(pending):
            if len(running) >= a.workers:
                break
            need = job["needs"]
            if need and done.get(need, None) != 0:
                if need in done or all(j["name"] != need for j in pending) and need not in running:
                    pending.remove(job)  # what it needs failed or does not exist
                    status.write(f"{job['name']} skipped: needs {need} ({done.get(need, 'missing')})\n")
                continue
            pending.remove(job)
            args = shlex.split(job["args"].replace("{runs}", str(runs))) + shlex.split(a.extra)
            log = open(logs / f"{job['name']}.txt", "w")  # the run's stdout and stderr
            env = os.environ | {"PYTHONUNBUFFERED": "1"}
            proc = subprocess.Popen(
                [*ml, "--out", str(runs / job["name"]), *args], stdout=log, stderr=subprocess.STDOUT, env=env
            )
            running[job["name"]] = {"proc": proc, "t": time.time(), "log": log}
            status.write(f"{job['name']} started at {time.time() - t0:.1f} s\n")
        time.sleep(0.5)
    pack(runs, a.out)
    status.write(f"all done in {time.time() - t0:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
