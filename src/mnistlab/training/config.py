"""Typed run configuration: dataclasses, read from TOML presets or files, overridden by CLI flags.

Unknown keys, wrong types and out-of-range values are refused with one sentence naming the key.
"""

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import MnistlabError


@dataclass
class AugmentConfig:
    """Per-sample random affine + erasing, applied to whole batches on the training device."""

    rotation: float = 0.0  # max |angle| in degrees (the notebooks' RandomRotation((-7, 7)) is 7)
    translate: float = 0.0  # max |shift| as a fraction of the image side (0.1 = 2.8 px)
    scale: float = 0.0  # zoom drawn from [1 - scale, 1 + scale]
    shear: float = 0.0  # max |shear| in degrees
    flip: float = 0.0  # probability of a horizontal flip (for Fashion-MNIST; never for digits)
    erase_p: float = 0.0  # probability of erasing one random rectangle (RandomErasing)
    erase_area: tuple[float, float] = (0.02, 0.15)  # its area as a fraction of the image

    @property
    def affine(self) -> bool:
        return bool(self.rotation or self.translate or self.scale or self.shear)

    def describe(self) -> str:
        keys = ("rotation", "translate", "scale", "shear", "flip", "erase_p")
        parts = [f"{k}={getattr(self, k)}" for k in keys]
        active = [p for p in parts if not p.endswith("=0.0")]
        return ", ".join(active) if active else "none"


@dataclass
class BudgetConfig:
    """The assignment's rules; `mnistlab check` and the end of `mnistlab train` judge a run by them."""

    max_params: int = 20000
    max_epochs: int = 19
    min_acc: float = 99.4  # percent, on the final epoch
    require: list[str] = field(default_factory=lambda: ["batchnorm", "dropout", "gap"])
    last_k: int = 3  # consistency: the minimum test accuracy over the last K epochs must reach min_acc


@dataclass
class TrainConfig:
    model: str = "ref3"  # a registered name, FILE.py:Name or package.module:Name (models/source.py)
    model_kwargs: dict = field(default_factory=dict)  # passed to the class or builder
    dataset: str = "mnist"
    epochs: int = 15
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.01  # for onecycle: the peak lr
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    scheduler: str = "none"  # none | step | onecycle | cosine
    step_size: int = 6  # StepLR: epochs between decays
    gamma: float = 0.1  # StepLR: decay factor
    pct_start: float = 0.3  # OneCycle: fraction of steps spent warming up
    div_factor: float = 25.0  # OneCycle: initial lr = lr / div_factor
    final_div_factor: float = 1e4  # OneCycle: final lr = initial lr / final_div_factor
    label_smoothing: float = 0.0
    ema: float = 0.0  # decay per step of an EMA of the weights, which is then evaluated and saved; 0 = off
    # The last N epochs train on un-augmented images (the distribution the model is tested on); N >= epochs
    # makes every epoch clean, so a preset's clean_epochs = 2 still runs when a user shortens it to --epochs 1.
    clean_epochs: int = 0
    teacher: str = ""  # a run folder to distil from (distill.py), "{seed}" -> this run's seed; "" = none
    distill_alpha: float = 0.5  # weight of the teacher's soft targets; 1 - alpha stays on the labels
    distill_temperature: float = 4.0  # softmax temperature of both teacher and student in the soft term
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    val_size: int = 0  # images carved from the training set for validation (never the test set)
    # Val-only tuning: the test set is not evaluated at all during the run, so no test figure exists to be
    # looked at while a recipe is chosen (`mnistlab eval RUN` measures it later, deliberately). Needs val_size.
    hold_test: bool = False
    max_steps: int = 0  # stop after this many optimizer steps (0: run all epochs)
    # Evaluate (val and test) after every k-th epoch and always after the last; 0: after the last only. A run
    # timed to a passing model pays for one test pass, not one per epoch (the notebooks tested every epoch).
    eval_every: int = 1
    eval_batch_size: int = 500  # = evaluate.EVAL_BATCH (config stays free of torch); why 500: see there
    threads: int = 0  # torch.set_num_threads; 0 = one per core (2 threads give ~1.3x one here)
    replicas: int = 1  # 2: two model copies train the halves, one core each (replica_process.py); `threads` evaluate
    fast_dropout: bool = False  # Dropout masks from int16 lanes of int64 draws (dropout.py): cheaper, another stream
    device: str = "auto"  # auto | cpu | cuda | mps
    channels_last: bool = True  # NHWC activations: measured 15-30% faster steps on CPU (3x faster max-pool)
    amp: bool = True  # bf16 autocast for training where native: CUDA, CPUs with AVX-512 BF16/AMX (system.native_bf16)
    compile: bool = False  # torch.compile the training step; pays only on long runs (see benchmarks/)
    notes: str = ""  # the experiment's target, in words; shown in the report
    budget: BudgetConfig | None = None

    def validate(self) -> "TrainConfig":
        from ..models import check_name

        check_name(self.model)  # unknown model or a malformed FILE.py:Name -> one line; runs no user code
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.momentum >= 0, "momentum must be >= 0"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (0 <= self.ema < 1, "ema must be in [0, 1) (0: off; e.g. 0.999)"),
            (0 <= self.distill_alpha <= 1, "distill_alpha must be in [0, 1]"),
            (self.distill_temperature > 0, "distill_temperature must be > 0"),
            (self.clean_epochs >= 0, "clean_epochs must be >= 0"),
            (self.optimizer in ("sgd", "adam", "adamw"), "optimizer must be sgd, adam or adamw"),
            (
                self.scheduler in ("none", "step", "onecycle", "cosine"),
                "scheduler must be none, step, onecycle or cosine",
            ),
            (self.step_size >= 1, "step_size must be >= 1"),
            (0 < self.pct_start < 1, "pct_start must be in (0, 1)"),
            (self.val_size >= 0, "val_size must be >= 0"),
            (not self.hold_test or self.val_size > 0, "hold_test needs a validation split (--val-size N)"),
            (self.max_steps >= 0, "max_steps must be >= 0"),
            (self.eval_batch_size >= 1, "eval_batch_size must be >= 1"),
            (self.eval_every >= 0, "eval_every must be >= 0 (0: evaluate after the last epoch only)"),
            (self.threads >= 0, "threads must be >= 0"),
            (self.replicas in (1, 2), "replicas must be 1 or 2"),
            (self.replicas == 1 or self.batch_size >= 4, "replicas = 2 needs batch_size >= 4 (BatchNorm per half)"),
            (self.replicas == 1 or not self.compile, "replicas = 2 does not combine with compile"),
            (self.device in ("auto", "cpu", "cuda", "mps"), "device must be auto, cpu, cuda or mps"),
            (not self.nesterov or self.momentum > 0, "nesterov needs momentum > 0"),
            (0 <= self.augment.erase_p <= 1, "augment.erase_p must be in [0, 1]"),
            (0 <= self.augment.flip <= 1, "augment.flip must be in [0, 1]"),
            (0 <= self.augment.scale < 1, "augment.scale must be in [0, 1)"),
            (
                min(self.augment.rotation, self.augment.translate, self.augment.shear) >= 0,
                "augment values must be >= 0",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise MnistlabError(f"bad config: {message}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


RUN_ONLY_KEYS = ("library", "git_commit")  # what a run's config.json adds to the TrainConfig fields


def _check_type(key: str, value, hint):
    """Coerce `value` to `hint` where lossless (int -> float, list -> tuple); refuse anything else."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if value is None else _check_type(key, value, args[0])
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise MnistlabError(f"bad config: {key} must be a table, got {value!r}")
        return from_dict(hint, value, prefix=f"{key}.")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise MnistlabError(f"bad config: {key} must be a list, got {value!r}")
        return origin(value)
    base = origin or hint
    if not isinstance(value, base) or (base is int and isinstance(value, bool)):
        raise MnistlabError(f"bad config: {key} must be {base.__name__}, got {type(value).__name__} {value!r}")
    return value


def from_dict(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise MnistlabError(f"bad config: unknown key {prefix}{unknown[0]!r}; known keys: {', '.join(sorted(names))}")
    return cls(**{k: _check_type(prefix + k, v, hints[k]) for k, v in data.items()})


def list_presets() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("mnistlab.presets").iterdir() if p.name.endswith(".toml"))


def read_config_dict(name_or_path: str) -> dict:
    """A preset name (`ref1`) or a TOML/JSON file -> plain dict."""
    path = Path(name_or_path)
    if path.is_file():
        text, origin = path.read_text(), str(path)
    elif name_or_path in list_presets():
        text = resources.files("mnistlab.presets").joinpath(f"{name_or_path}.toml").read_text()
        origin = f"preset {name_or_path}"
    else:
        raise MnistlabError(f"config {name_or_path!r}: no such file or preset; presets: {', '.join(list_presets())}")
    try:
        if path.suffix == ".json":
            import json

            return json.loads(text)
        return tomllib.loads(text)
    except ValueError as e:
        raise MnistlabError(f"config {origin}: cannot parse: {e}") from None


def load_config(name_or_path: str | None = None, overrides: dict | None = None) -> TrainConfig:
    """Preset or file, then non-None overrides (CLI flags), then validation."""
    data = read_config_dict(name_or_path) if name_or_path else {}
    data = {k: v for k, v in data.items() if k not in RUN_ONLY_KEYS}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if "model" in given and given["model"] != data.get("model") and "model_kwargs" not in given:
        data.pop("model_kwargs", None)  # the preset's kwargs belong to the preset's network, not to another one
    data |= given
    if name_or_path is None and "model" in data and data["model"] in list_presets():
        preset = read_config_dict(data["model"])  # `--model ref1` alone brings ref1's recipe
        data = {**preset, **data}
    return from_dict(TrainConfig, data).validate()
