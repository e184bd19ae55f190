"""Where one epoch of `mnistlab train` goes, by phase, as a whole process:
python benchmarks/ab/profile_phases.py [TRAIN FLAGS ...]   (default: --config ref3 --epochs 1)

Runs the CLI in this process under cProfile (main thread; with `replicas = 2` the second replica's process
or thread is not seen, and the wait for it counts in the rest) and charges the cumulative time of the
functions that own each phase: start-up (Python and the imports, timed before the profiler starts), reading
and verifying the data, building the network (with its probe), the optimizer (torch.optim's first use
imports torch._dynamo; the trainer's optimizers skip it since 2026-12-06), augmentation and batch
preparation, forward, backward, the optimizer step, evaluation, writing the run folder, the budget verdict
and the report. What is left is the loop's own Python. The profiler slows Python-heavy phases more than the
tensor ops.
"""

import sys
import time

t_start = time.perf_counter()
import cProfile  # noqa: E402
import pstats  # noqa: E402
import tempfile  # noqa: E402

import torch  # noqa: E402

from mnistlab.cli.app import main  # noqa: E402

startup = time.perf_counter() - t_start
# (phase, [(file suffix, function name, caller's file suffix or None)]): the caller separates the training
# step's forward from the probe's, the evaluation's and the report's.
PHASES = [
    ("data: read + verify", [("data/verified.py", "load_split", "training/train.py")]),
    ("network: build + probe", [("models/registry.py", "create_model", None)]),
    ("optimizer: build", [("training/optim.py", "make_optimizer", None)]),
    ("augmentation + batch", [("training/augment.py", "plan_batch", None), ("training/steps.py", "inputs", None)]),
    (
        "forward",
        [
            ("torch/nn/modules/module.py", "_wrapped_call_impl", "training/steps.py"),
            ("torch/nn/modules/module.py", "_wrapped_call_impl", "training/parallel.py"),
        ],
    ),
    (
        "backward",
        [
            ("torch/_tensor.py", "backward", "training/steps.py"),
            ("torch/_tensor.py", "backward", "training/parallel.py"),
        ],
    ),
    (
        "optimizer step",
        [
            ("torch/optim/lr_scheduler.py", "wrapper", "training/train.py"),
            ("torch/optim/optimizer.py", "wrapper", "training/train.py"),
        ],
    ),
    ("evaluation", [("training/evaluate.py", "evaluate", "training/train.py")]),
    (
        "run folder",
        [("training/rundir.py", name, "training/train.py") for name in ("write_json", "write_metrics", "save_weights")]
        + [("training/checkpoint.py", "save_checkpoint", None)],
    ),  # fmt: skip
    ("budget verdict", [("inspection/budget.py", "on_end", None)]),
    ("report", [("inspection/report.py", "write_report", None)]),
]
args = sys.argv[1:] or ["--config", "ref3", "--epochs", "1"]
with tempfile.TemporaryDirectory() as tmp:
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    main(["train", *args, "--out", f"{tmp}/run", "--quiet"])
    prof.disable()
    total = time.perf_counter() - t0
stats = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
print(f"mnistlab train {' '.join(args)}; torch {torch.__version__}, {torch.get_num_threads()} threads at exit")
print(f"{'start-up: Python + imports':28s} {startup:7.2f} s")
charged = 0.0


def cum(suffix: str, name: str, caller: str | None) -> float:
    """Cumulative seconds of `name` in a file ending in `suffix`, counting only calls from `caller`'s file."""
    total = 0.0
    for (f, _, fn), (_, _, _, ct, callers) in stats.items():
        if f.endswith(suffix) and fn == name:
            total += ct if caller is None else sum(v[3] for (cf, _, _), v in callers.items() if cf.endswith(caller))
    return total


for phase, funcs in PHASES:
    t = sum(cum(*f) for f in funcs)
    charged += t
    print(f"{phase:28s} {t:7.2f} s")
print(f"{'the rest (loop, logging)':28s} {total - charged:7.2f} s")
print(f"{'whole process':28s} {startup + total:7.2f} s  (under the profiler)")
