"""A sweep's trials as plain data: the `--show` listing, the `mnistlab train` line and the exported preset.

Each trial stores its resolved config (user attribute "config"), so a trial can be listed, rerun and
exported from the storage alone, on any machine, without the space file that produced it.
"""

import json
import re
import shlex
from pathlib import Path

from ..errors import MnistlabError
from ..training.config import TrainConfig, list_presets, read_config_dict
from ..training.rundir import atomic_write_text
from .space import dumps_config, toml_value

PER_MACHINE = ("threads", "device")  # each worker sets its own; not part of what a trial is
TRAIN_FLAGS = {  # config keys that `mnistlab train` has a flag for; the rest go through --set
    "model": "--model",
    "dataset": "--dataset",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "seed": "--seed",
    "max_steps": "--max-steps",
    "val_size": "--val-size",
}


def summarize(t) -> dict:
    """One trial as plain data: what `--show` prints and `--show --json` emits."""
    a = t.user_attrs
    config = a.get("config")
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value,
        "params": t.params,
        "param_count": a.get("param_count"),
        "seed_values": a.get("seed_values"),
        "seconds": a.get("seconds"),
        "worker": a.get("worker"),
        "pruned_reason": a.get("pruned_reason"),
        "duplicate_of": a.get("duplicate_of"),
        "intermediate_values": dict(sorted(t.intermediate_values.items())),
        "config": config,
        "command": train_command(config) if config else None,
    }


def list_trials(study) -> list[dict]:
    """Every trial but surplus ones, best first: completed by value, then the rest by number."""
    trials = [summarize(t) for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]
    return sorted(trials, key=lambda r: (r["value"] is None, -(r["value"] or 0), r["number"]))


def train_command(config: dict) -> str:
    """The `mnistlab train` line that reruns a trial's first seed on the same training/validation split."""
    defaults = json.loads(json.dumps(TrainConfig().to_dict()))
    preset = read_config_dict(config["model"]) if config.get("model") in list_presets() else {}
    args = ["mnistlab", "train"]
    for key, value in config.items():
        if key in PER_MACHINE or key == "notes" or value is None:
            continue
        if key != "model" and key not in preset and json.dumps(value) == json.dumps(defaults.get(key)):
            continue  # the default; but a model named like a preset brings that preset's keys, so keep those
        if key in TRAIN_FLAGS:
            args += [TRAIN_FLAGS[key], str(value)]
        elif isinstance(value, dict) and isinstance(defaults.get(key), dict) and key not in preset:
            # a config table (augment): its unnamed keys take their defaults, so name only the others
            table = {k: v for k, v in value.items() if json.dumps(v) != json.dumps(defaults[key].get(k))}
            args += ["--set", f"{key}={_set_value(table)}"]
        else:
            args += ["--set", f"{key}={_set_value(value)}"]
    return shlex.join(args)


def _set_value(v) -> str:
    """A TOML value, except a plain word, which `--set` takes bare (`--set scheduler=onecycle`)."""
    plain = isinstance(v, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", v)
    return v if plain and v not in ("true", "false", "inf", "nan") else toml_value(v)


def export_trial(study, path: str | Path, number: int | None = None) -> dict:
    """Write a completed trial (default: the best) as a preset for `mnistlab train --config FILE`."""
    done = {t.number: t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
    if not done:
        raise MnistlabError(f"study {study.study_name!r} has no completed trial yet")
    if number is None:
        number = max(done.values(), key=lambda t: t.value).number
    if number not in done:
        raise MnistlabError(f"trial {number} of {study.study_name!r} is not a completed trial")
    t = done[number]
    seeds = t.user_attrs.get("seed_values", [])
    config = {k: v for k, v in t.user_attrs["config"].items() if k != "notes"}
    note = (
        f"sweep {study.study_name} trial {number}: val acc {t.value:.2f}% (mean of {len(seeds)} seed(s) on "
        f"{config['val_size']} images carved from the training set), {t.user_attrs['param_count']:,} parameters"
    )
    comments = [
        f"Exported by `mnistlab sweep --export-best` from study {study.study_name!r}, trial {number}.",
        f"Sampled: {', '.join(f'{k}={v}' for k, v in t.params.items())}",
        "Trains on the same split as the trial; set val_size = 0 to train on all the training images.",
    ]
    try:
        atomic_write_text(Path(path), dumps_config({"notes": note, **config}, comments))
    except OSError as e:
        raise MnistlabError(f"--export-best {path}: cannot write: {e.strerror}") from None
    return summarize(t)
