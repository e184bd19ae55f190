"""`mnistlab bench --epoch`: one epoch with its test pass, as whole processes, the notebooks' loop against
`mnistlab train`, same network and recipe, interleaved so the machine's load falls on both sides alike.

    notebook:  python -m mnistlab.inspection.notebook --config C [--model M] --epochs 1
    mnistlab:  mnistlab train --config C [--model M] --epochs 1 --out <temporary folder>

Each side is timed from process start to exit, as `time` would: Python's start, imports, reading the data,
the epoch, the test pass and (mnistlab) the run folder with its report. What a user waits for.
"""

import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import MnistlabError
from ..models.source import parse_ref
from ..system import cpu_name


@dataclass
class EpochBench:
    model: str
    config: str
    rounds: int
    notebook_s: list[float] = field(default_factory=list)  # whole process, one per round
    mnistlab_s: list[float] = field(default_factory=list)
    notebook_median_s: float = 0.0
    mnistlab_median_s: float = 0.0
    speedup: float = 0.0  # notebook median / mnistlab median
    commands: dict = field(default_factory=dict)
    cpu: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _timed(cmd: list[str], what: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        last = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise MnistlabError(f"bench --epoch: the {what} side failed (exit {r.returncode}): {last[0]}")
    return seconds


def epoch_bench(model: str = "ref3", config: str | None = None, rounds: int = 3, data_dir: str | None = None,
                dataset: str | None = None, extra: list[str] | None = None, on_round=None) -> EpochBench:  # fmt: skip
    """`config`: the recipe both sides train with (default: the registered model's preset; ref3's for your
    own network). `extra`: more `mnistlab train` flags for the mnistlab side (e.g. ["--set", "amp=false"])."""
    if rounds < 1:
        raise MnistlabError("--rounds must be >= 1")
    own = parse_ref(model).kind != "registry"
    if config is None:
        from ..models import model_entry

        config = "ref3" if own else (model_entry(model).config or model)
    data = (["--dataset", dataset] if dataset else []) + (["--data-dir", str(data_dir)] if data_dir else [])
    picked = ["--model", model] if own or model != config else []
    notebook = [sys.executable, "-m", "mnistlab.inspection.notebook", "--config", config, *picked, "--epochs", "1"]
    result = EpochBench(model, config, rounds, cpu=cpu_name())
    with tempfile.TemporaryDirectory() as tmp:
        ours = [sys.executable, "-m", "mnistlab", "train", "--config", config, *picked, "--epochs", "1",
                "--out", str(Path(tmp) / "run"), "--overwrite", "--quiet", *data, *(extra or [])]  # fmt: skip
        result.commands = {"notebook": " ".join(notebook[1:] + data), "mnistlab": " ".join(ours[1:])}
        for i in range(rounds):  # interleaved: a busy spell on the machine slows both sides of a round
            result.notebook_s.append(round(_timed(notebook + data, "notebook"), 3))
            result.mnistlab_s.append(round(_timed(ours, "mnistlab"), 3))
            if on_round:
                on_round(i + 1, result.notebook_s[-1], result.mnistlab_s[-1])
    result.notebook_median_s = statistics.median(result.notebook_s)
    result.mnistlab_median_s = statistics.median(result.mnistlab_s)
    result.speedup = round(result.notebook_median_s / result.mnistlab_median_s, 3)
    return result
