"""Search spaces for `mnistlab sweep`: a TOML file -> a checked `Space`; sampled values -> a config dict.

A space file has three tables (the shipped default is `mnistlab/presets/spaces/default.toml`):

  [study]   sampler and pruner settings, all optional (see STUDY_DEFAULTS)
  [base]    the TrainConfig every trial starts from: the same keys as a preset
  [params]  one entry per searched knob, `{choices = [...]}` or `{low = .., high = ..[, step = ..][, log = true]}`
            (ints when low, high and step are all ints). Names are paths into the config: `lr`,
            `augment.rotation`, `model.dropout` (a model_kwargs key), `model.widths.0` (one element of a
            model_kwargs list, which [base.model_kwargs] must hold).

Every name and both ends of every range are checked when the file is read, so a typo fails at once with
the key's name rather than after an hour of trials.
"""

import copy
import inspect
import json
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import MnistlabError
from ..training.config import TrainConfig, from_dict

STUDY_DEFAULTS = {
    "sampler": "tpe",  # tpe (multivariate, constant liar: parallel workers avoid each other) | random
    "pruner": "median",  # median | halving (successive halving) | none
    "startup_trials": 5,  # random trials before TPE models the space, and trials before the median prunes
    "warmup_epochs": 1,  # never prune on the first N epochs' validation accuracy (too noisy)
}
SAMPLERS, PRUNERS = ("tpe", "random"), ("median", "halving", "none")


@dataclass(frozen=True)
class Param:
    """One searched knob; `name` is its config path and its Optuna parameter name."""

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def is_int(self) -> bool:
        return all(isinstance(v, int) for v in (self.low, self.high, self.step or 1))

    def suggest(self, trial):
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.is_int:
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def ends(self) -> list:
        """The values checked at load time: every choice, or both ends of the range."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def to_dict(self) -> dict:
        keys = ("choices",) if self.choices is not None else ("low", "high", "step", "log")
        values = {k: getattr(self, k) for k in keys}
        return {k: list(v) if k == "choices" else v for k, v in values.items() if v is not None and v is not False}


@dataclass(frozen=True)
class Space:
    study: dict
    base: dict  # TrainConfig keys; the sweep's --epochs/--max-steps/... already applied
    params: tuple[Param, ...]
    source: str  # where it came from, for messages

    def config_dict(self, values: dict) -> dict:
        """The base with each sampled value written at its path."""
        data = copy.deepcopy(self.base)
        for name, value in values.items():
            set_path(data, name, value)
        return data

    def to_dict(self) -> dict:
        """JSON-safe: stored in the study, so every worker can check that it searches the same space."""
        return json.loads(json.dumps({"study": self.study, "base": self.base, "params": self.params_dict()}))

    def params_dict(self) -> dict:
        return {p.name: p.to_dict() for p in self.params}


def default_space_text() -> str:
    return resources.files("mnistlab.presets").joinpath("spaces/default.toml").read_text()


def load_space(path: str | None, overrides: dict | None = None) -> Space:
    """The space file (default: the shipped one), with non-None `overrides` written into [base]."""
    if path is None:
        text, source = default_space_text(), "default"
    else:
        try:
            text, source = Path(path).read_text(), str(path)
        except OSError as e:
            raise MnistlabError(f"space {path}: cannot read: {e.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise MnistlabError(f"space {source}: cannot parse: {e}") from None
    return parse_space(data, source, overrides)


def parse_space(data: dict, source: str, overrides: dict | None = None) -> Space:
    def fail(message):
        raise MnistlabError(f"space {source}: {message}")

    unknown = sorted(set(data) - {"study", "base", "params"})
    if unknown:
        fail(f"unknown table {unknown[0]!r}; a space has [study], [base] and [params]")
    study = {**STUDY_DEFAULTS, **data.get("study", {})}
    for key, value in study.items():
        if key not in STUDY_DEFAULTS:
            fail(f"unknown key study.{key}; known: {', '.join(STUDY_DEFAULTS)}")
        if type(value) is not type(STUDY_DEFAULTS[key]):
            fail(f"study.{key} must be {type(STUDY_DEFAULTS[key]).__name__}, got {value!r}")
    if study["sampler"] not in SAMPLERS or study["pruner"] not in PRUNERS:
        fail(f"study.sampler must be one of {SAMPLERS} and study.pruner one of {PRUNERS}")
    if study["startup_trials"] < 0 or study["warmup_epochs"] < 0:
        fail("study.startup_trials and study.warmup_epochs must be >= 0")

    base = dict(data.get("base", {}))
    base.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        cfg = from_dict(TrainConfig, base).validate()
    except MnistlabError as e:
        fail(f"[base]: {e}")
    if cfg.val_size < 1:
        fail("base.val_size must be > 0: the objective is accuracy on a split carved from the training set")

    raw = data.get("params", {})
    if not raw:
        fail("[params] is empty: nothing to search")
    params = tuple(_parse_param(name, spec, fail) for name, spec in raw.items())
    space = Space(study, base, params, source)
    for p in params:
        _check_param(space, p, cfg.model, fail)
    return space


def _parse_param(name: str, spec, fail) -> Param:
    if not isinstance(spec, dict):
        fail(f"params.{name} must be a table like {{choices = [...]}} or {{low = 0.01, high = 0.1}}")
    unknown = sorted(set(spec) - {"choices", "low", "high", "step", "log"})
    if unknown:
        fail(f"params.{name}: unknown key {unknown[0]!r}; use choices, or low, high, step, log")
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
            fail(f"params.{name}: choices must be a non-empty list, alone")
        if not all(isinstance(c, (bool, int, float, str)) for c in choices):
            fail(f"params.{name}: choices must be numbers, strings or booleans (Optuna stores only those)")
        return Param(name, choices=tuple(choices))
    low, high, step, log = spec.get("low"), spec.get("high"), spec.get("step"), spec.get("log", False)
    numbers = [v for v in (low, high, step) if v is not None]
    if low is None or high is None or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in numbers):
        fail(f"params.{name}: needs numbers low and high (and optionally step, log)")
    if not isinstance(log, bool) or not low < high or (step is not None and step <= 0):
        fail(f"params.{name}: needs low < high, step > 0 and log true or false")
    if log and (low <= 0 or step is not None):
        fail(f"params.{name}: a log range needs low > 0 and no step")
    return Param(name, low=low, high=high, step=step, log=log)


def _check_param(space: Space, p: Param, model: str, fail) -> None:
    from ..models import model_entry

    parts = p.name.split(".")
    if parts[0] == "model" and len(parts) > 1:
        sig = inspect.signature(model_entry(model).builder)
        takes_any = any(a.kind is inspect.Parameter.VAR_KEYWORD for a in sig.parameters.values())
        if not takes_any and parts[1] not in sig.parameters:
            fail(f"params.{p.name}: model {model!r} takes no {parts[1]!r}; it takes {', '.join(sig.parameters)}")
    for value in p.ends():
        try:
            from_dict(TrainConfig, space.config_dict({p.name: value})).validate()
        except MnistlabError as e:
            fail(f"params.{p.name} = {value!r}: {e}")


def set_path(data: dict, name: str, value) -> None:
    """`model.widths.0` -> data["model_kwargs"]["widths"][0] = value; tables are created, lists are not."""
    parts = name.split(".")
    if parts[0] == "model" and len(parts) > 1:
        parts[0] = "model_kwargs"
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise MnistlabError(f"{name}: {'.'.join(parts[:i])} has {len(node)} entries, no index {part!r}")
            key = int(part)
        elif isinstance(node, dict):
            key = part
            if not last and key not in node:
                node[key] = {}
        else:
            raise MnistlabError(f"{name}: {'.'.join(parts[:i])} is a {type(node).__name__}, not a table")
        if last:
            node[key] = value
        else:
            node = node[key]


# --- writing TOML (the standard library reads it but cannot write it) ---------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)  # repr round-trips floats exactly, and 1e-05 is valid TOML
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise MnistlabError(f"cannot write {v!r} ({type(v).__name__}) as TOML")


def toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k)


def dumps_config(data: dict, comments: list[str] = ()) -> str:
    """A preset file: comment lines, top-level keys, then one [table] per dict value."""
    data = {k: v for k, v in data.items() if v is not None}  # TOML has no null: absent = the default
    lines = [f"# {c}" for c in comments]
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{toml_key(k)}]"] + [f"{toml_key(a)} = {toml_value(b)}" for a, b in v.items()]
    return "\n".join(lines) + "\n"
