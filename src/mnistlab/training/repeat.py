"""The same training over several seeds: mean ± std of the final-epoch test accuracy, never one lucky run.

Each seed trains into DIR/seed<N>/ exactly as `mnistlab train` would; DIR/repeat.json gathers them. Only
the final epoch counts: choosing an epoch or a checkpoint by test accuracy would tune on the test set.
"""

import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import MnistlabError
from ..models import create_model, resolved_kwargs
from ..models.provenance import named_by_user
from .checkpoint import NAME as CHECKPOINT
from .config import TrainConfig
from .rundir import read_json, write_json


def parse_seeds(text: str) -> list[int]:
    """'5' -> [0, 1, 2, 3, 4]; '0,1,7' -> [0, 1, 7]."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()] if "," in text else list(range(int(text)))
    except ValueError:
        raise MnistlabError(f"--seeds {text!r}: give a count (5) or a comma list of seeds (0,1,2)") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise MnistlabError(f"--seeds {text!r}: need at least one seed, none negative, no repeats")
    return seeds


# Fields that do not change what a run learns: a seed trained with other threads still counts.
NOT_RECIPE = {"threads", "eval_batch_size"}


def _same_recipe(cfg: TrainConfig, run: Path) -> None:
    """Refuse to count a run in --out that was trained with another config (other than NOT_RECIPE)."""
    from .train import resume_config

    saved = resume_config(run).to_dict()  # model_kwargs: model.json's resolved constructor kwargs
    wanted = cfg.to_dict()
    if saved["model"] != wanted["model"]:  # before anything is built: a run's config never names code to run
        raise MnistlabError(f"{run}: was trained with another model ({saved['model']!r}, not {wanted['model']!r}); "
                            "choose another --out, or pass --overwrite")  # fmt: skip
    # Compare networks, not spellings: {} and the registered defaults written out are the same model, and
    # {} is another model once a registered default has changed.
    wanted["model_kwargs"] = resolved_kwargs(create_model(cfg.model, **cfg.model_kwargs), cfg.model_kwargs)
    # A run from before model.json recorded resolved kwargs has {} there: read it as the registered defaults
    # (shipped mnist-20k and ref runs; their weights still load into that network, tests/test_shipped_results.py).
    saved["model_kwargs"] = resolved_kwargs(create_model(cfg.model, **saved["model_kwargs"]), saved["model_kwargs"])
    diff = sorted(k for k in wanted.keys() | saved.keys() if k not in NOT_RECIPE and saved.get(k) != wanted.get(k))
    if diff:
        raise MnistlabError(
            f"{run}: was trained with another {diff[0]} ({saved.get(diff[0])!r}, not {wanted.get(diff[0])!r}); "
            "choose another --out, or pass --overwrite"
        )


def stats(values: list[float]) -> dict:
    """Mean, sample standard deviation (n - 1; 0 for one value), min and max."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": round(mean, 4), "std": round(std, 4), "min": min(values), "max": max(values)}


def repeat(
    cfg: TrainConfig,
    seeds: list[int],
    out: str | Path,
    data_dir: str | None = None,
    command: str = "",
    overwrite: bool = False,
    on_seed: Callable[[dict], None] | None = None,
    resume: bool = False,
    on_end=None,
) -> dict:
    """Train `cfg` once per seed into out/seed<N>; write and return repeat.json's content.

    `resume`: a seed folder that already holds a run of this very config is continued from its checkpoint
    (a finished one is only read back), so an interrupted repeat, or seeds trained by separate
    `mnistlab train --seed N --out DIR/seedN` processes on other cores, end in the same repeat.json."""
    from .train import library_versions, resolve_device, train

    out = Path(out)
    if cfg.hold_test:
        raise MnistlabError("repeat reports each seed's final test accuracy: drop hold_test (val-only seeds: "
                            "mnistlab train --val-size N --hold-test --seed S)")  # fmt: skip
    if (out / "repeat.json").exists() and not (overwrite or resume):
        raise MnistlabError(f"{out}: already holds a repeat; choose another --out, or pass --overwrite or --resume")
    if resume and overwrite:
        raise MnistlabError("--resume keeps the runs in --out and --overwrite replaces them: pass one")
    t0 = time.perf_counter()
    per_seed, resumed = [], []
    for seed in seeds:
        seed_cfg, run = dataclasses.replace(cfg, seed=seed), out / f"seed{seed}"
        again = resume and (run / CHECKPOINT).exists()
        trusted = False
        if again:
            _same_recipe(seed_cfg, run)
            resumed.append(seed)
            # the seed's copy of user code is the code this command names, byte for byte: nothing new runs
            trusted = named_by_user(cfg.model, read_json(run / "model.json"))
        result = train(seed_cfg, out=run, data_dir=data_dir, overwrite=overwrite, quiet=True, resume=again,
                       trust_code=trusted, on_end=on_end)  # fmt: skip
        last = result.metrics[-1]
        row = {
            "seed": seed,
            "run_dir": str(result.run_dir),
            "epochs": len(result.metrics),
            "final_test_acc": last["test_acc"],
            "seconds": round(sum(r["seconds"] for r in result.metrics), 1),
        }
        per_seed.append(row)
        if on_seed:
            on_seed(row)
    summary = {
        "command": command,
        "config": {k: v for k, v in cfg.to_dict().items() if k != "seed"},
        "seeds": per_seed,
        "final_test_acc": stats([r["final_test_acc"] for r in per_seed]),
        "wall_seconds": round(time.perf_counter() - t0, 1),  # of this invocation (less when resumed)
        "train_seconds": round(sum(r["seconds"] for r in per_seed), 1),
        "resumed_seeds": resumed,  # seeds found in `out` (trained apart or interrupted) and read back or resumed
        "machine": {
            **library_versions(),
            "device": str(resolve_device(cfg.device)),
            "threads": cfg.threads or len(os.sched_getaffinity(0)),
        },
    }
    write_json(out / "repeat.json", summary)
    return summary
