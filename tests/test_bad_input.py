"""Every subcommand given bad input answers with one line on stderr and a non-zero exit, never a traceback.

Each row is the console entry point's code in its own process (see FORK_RUNNER); one row is also run
as a plain `python -m mnistlab` to show both ways give the same answer. Unwritable paths are under
/proc, which stays unwritable for root too.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from mnistlab.use.weights import default_run_dir

CUSTOM = ["--dataset", "custom", "--data-dir", "{tiny}"]  # the tiny synthetic set: no real MNIST needed
QUICK = ["--max-steps", "1", "--threads", "1"]

# id: (arguments, a fragment of the one stderr line); {tmp}, {tiny}, {default} are filled in below.
ROWS = {
    "report missing run": (["report", "/nonexistent"], "not a run directory"),
    "summary unknown name": (["summary", "nope"], "no such run directory or model"),
    "check folder without metrics": (["check", "{tmp}/nometrics"], "no metrics.csv"),
    "check corrupt metrics.csv": (["check", "{tmp}/badmetrics"], "metrics.csv: not a valid metrics file"),
    "report corrupt metrics.csv": (["report", "{tmp}/badmetrics"], "metrics.csv: not a valid metrics file"),
    "eval model.json not an object": (["eval", "{tmp}/listjson"], "model.json: not a JSON object"),
    "eval corrupt weights": (["eval", "{tmp}/badweights", *CUSTOM], "not a valid safetensors file"),
    "export missing run": (["export", "/nonexistent", "--format", "onnx", "--out", "{tmp}/m.onnx"], "not found"),
    "export unwritable --out": (
        ["export", "{default}", "--format", "onnx", "--out", "/proc/mnistlab.onnx", *CUSTOM],
        "/proc/mnistlab.onnx: cannot write",
    ),
    "predict folder without images": (["predict", "{tmp}/noimages"], "no image files in"),
    "predict huge claimed size": (["predict", "{tmp}/huge.png"], "more than 89 megapixels"),
    "predict unwritable --save-preprocessed": (
        ["predict", "{tmp}/digit.png", "--save-preprocessed", "/proc/mnistlab-seen"],
        "cannot create the folder",
    ),
    "train --resume without checkpoint": (["train", "--resume", "{tmp}/nockpt", *CUSTOM], "no checkpoint"),
    "train --resume a file": (["train", "--resume", "{tmp}/afile", *CUSTOM], "config.json: not found"),
    "train config wrong value type": (["train", "--config", "{tmp}/badtype.toml"], "epochs must be int"),
    "train config not TOML": (["train", "--config", "{tmp}/badsyntax.toml"], "cannot parse"),
    "train --data-dir a file": (["train", "--data-dir", "{tmp}/afile"], "is a file"),
    "train unwritable --out": (["train", *CUSTOM, *QUICK, "--out", "/proc/mnistlab-run"], "cannot create the run"),
    "train --val-size whole set": (["train", *CUSTOM, *QUICK, "--val-size", "512", "--out", "{tmp}/v"], "val_size"),
    "repeat --out a file": (
        ["repeat", *CUSTOM, *QUICK, "--seeds", "1", "--out", "{tmp}/afile"],
        "cannot create the run folder",
    ),
    "data fetch --data-dir a file": (["data", "fetch", "--data-dir", "{tmp}/afile"], "is a file"),
    "data fetch unwritable --data-dir": (["data", "fetch", "--data-dir", "/proc/mnistlab-data"], "cannot create"),
    "runs missing folder": (["runs", "/nonexistent"], "no such folder"),
    "sweep bad storage URL": (["sweep", "--study", "s", "--storage", "bogus://x", "--show"], "cannot open"),
    "sweep missing journal": (["sweep", "--study", "s", "--storage", "{tmp}/none.journal", "--show"], "no such"),
    "sweep negative --threads": (["sweep", "--study", "s", "--storage", "{tmp}/t.journal", "--threads", "-1"], ">= 0"),
    "check nan --min-acc": (["check", "{default}", "--min-acc", "nan"], "--min-acc: must be a finite number"),
    "check --min-acc over 100": (["check", "{default}", "--min-acc", "101"], "min_acc must be a percentage"),
    "sweep --show --top 0": (
        ["sweep", "--study", "s", "--storage", "{tmp}/t.journal", "--show", "--top", "0"],
        "--top must be >= 1",
    ),
    "bench negative --threads": (["bench", "--threads", "-1", "--steps", "1"], "--threads: must be >= 0"),
    "serve port out of range": (["serve", "--port", "70000"], "port must be 0-65535"),
}


def png_header_claiming(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring width x height, then IEND: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


def make_bad_inputs(tmp: Path) -> None:
    default = default_run_dir()
    (tmp / "afile").write_text("not a folder\n")
    (tmp / "noimages").mkdir()
    (tmp / "noimages" / "notes.txt").write_text("no images here\n")
    (tmp / "huge.png").write_bytes(png_header_claiming(100_000, 100_000))
    shutil.copy(Path(__file__).resolve().parents[1] / "docs" / "serve.png", tmp / "digit.png")
    for name, files in (("nometrics", ["model.json", "model.safetensors"]), ("nockpt", ["config.json"])):
        (tmp / name).mkdir()
        for f in files:
            shutil.copy(default / f, tmp / name / f)
    cfg = json.loads((default / "config.json").read_text())  # a run on the tiny set: resume loads only that
    (tmp / "nockpt" / "config.json").write_text(json.dumps({**cfg, "dataset": "custom"}))
    for name in ("badmetrics", "badweights"):
        shutil.copytree(default, tmp / name)
    (tmp / "badmetrics" / "metrics.csv").write_text("epoch,test_acc\nfirst,high\n")
    (tmp / "badweights" / "model.safetensors").write_bytes(b"garbage")
    (tmp / "listjson").mkdir()
    (tmp / "listjson" / "model.json").write_text(json.dumps([1, 2]))
    (tmp / "badtype.toml").write_text('model = "ref1"\nepochs = "ten"\n')
    (tmp / "badsyntax.toml").write_text("model = = ref1\n")


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("bad")
    make_bad_inputs(tmp)
    return tmp


# One interpreter imports mnistlab, torch and the modules commands import lazily, then forks one child per
# row that runs `python -m mnistlab ARGS`'s code: a real process with its own stderr and exit status, and
# an uncaught exception handled as the interpreter does (traceback, exit 1). One fresh `python -m mnistlab`
# per row would pay torch's import every time (about 2.5 CPU-seconds each, a minute or two here).
FORK_RUNNER = r"""
import json, os, runpy, sys, tempfile, time, traceback
import torch
torch.set_num_threads(1)
import mnistlab.cli.app, mnistlab.use.export, mnistlab.use.predict, mnistlab.use.serve, mnistlab.sweep.study
mnistlab.cli.app.build_parser()
results = {}
for case, args in json.load(sys.stdin):
    with tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(err.fileno(), 2)
            sys.argv, code = ["mnistlab", *args], 1
            try:
                runpy.run_module("mnistlab", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as e:
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - t0 > 120:
                os.kill(pid, 9)
            time.sleep(0.005)
        err.seek(0)
        results[case] = {
            "rc": os.waitstatus_to_exitcode(status),
            "stderr": err.read().decode(errors="replace"),
            "seconds": round(time.monotonic() - t0, 2),
        }
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def answers(bad_dir, tiny_data) -> dict:
    fill = {"tmp": str(bad_dir), "tiny": str(tiny_data), "default": str(default_run_dir())}
    rows = [[case, [a.format(**fill) for a in args]] for case, (args, _) in ROWS.items()]
    env = {**os.environ, "MNISTLAB_DATA": str(bad_dir / "cache")}  # never the user's cache
    r = subprocess.run(
        [sys.executable, "-c", FORK_RUNNER],
        input=json.dumps(rows),
        capture_output=True,
        text=True,
        env=env,
        cwd=bad_dir,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("case", list(ROWS))
def test_bad_input_gets_one_line_and_nonzero_exit(answers, case):
    r = answers[case]
    assert r["rc"] != 0
    assert "Traceback" not in r["stderr"], r["stderr"]
    lines = r["stderr"].strip().splitlines()
    assert len(lines) == 1, r["stderr"]
    assert ROWS[case][1] in lines[0]


def test_refusals_leave_nothing_behind(answers, bad_dir):
    """No run folder (not even an empty one), export file or temporary file; the file given as a folder is intact."""
    assert not (bad_dir / "runs").exists() and not (bad_dir / "v").exists() and not (bad_dir / "m.onnx").exists()
    assert not (bad_dir / "t.journal").exists() and not (bad_dir / "none.journal").exists()
    assert (bad_dir / "afile").read_text() == "not a folder\n"
    assert not list(bad_dir.rglob(".*.tmp"))


def test_plain_subprocess_gives_the_same_answer(answers, bad_dir, tiny_data):
    case = "train --resume a file"
    args = [a.format(tmp=bad_dir, tiny=tiny_data) for a in ROWS[case][0]]
    env = {**os.environ, "MNISTLAB_DATA": str(bad_dir / "cache")}
    r = subprocess.run([sys.executable, "-m", "mnistlab", *args], capture_output=True, text=True, cwd=bad_dir, env=env)
    assert (r.returncode, r.stderr) == (answers[case]["rc"], answers[case]["stderr"])


def test_missing_optional_dependency_is_one_line(monkeypatch, capsys):
    """`serve` without fastapi installed: the extra to install, not a traceback."""
    import builtins

    from mnistlab.cli.app import main

    real_import = builtins.__import__

    def no_fastapi(name, *args, **kwargs):
        if name.split(".")[0] == "fastapi":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fastapi)
    monkeypatch.delitem(sys.modules, "mnistlab.use.serve", raising=False)
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == "mnistlab: error: serve needs the package 'fastapi', not installed here: pip install 'mnistlab[serve]'"
    )
