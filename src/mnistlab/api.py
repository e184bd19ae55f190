"""The Python API, for notebooks first: the same trainer, run folders and tables as the CLI.

    import mnistlab
    mnistlab.summary(Net())                     # the layer table with receptive fields
    mnistlab.check(Net())                       # the exercise's checklist, PASS/FAIL per rule
    run = mnistlab.fit(Net(), "ref3", epochs=15) # trains in place, writes runs/<time>-Net/, returns a Run
    run                                         # in Jupyter: final accuracy, the curves, the folder
    run.misclassified(); run.confusion()
    mnistlab.check(run)                         # the budget verdict of the trained run

Interrupting a fit (Ctrl-C, or the kernel's stop button) finishes the step, saves a checkpoint and says how
to continue: `mnistlab.fit(model, resume=run_folder)`.
"""

import dataclasses
import inspect
from pathlib import Path

import torch
from torch import nn

from .data import verified as data_mod
from .errors import MnistlabError
from .inspection.budget import Verdict, resolve_budget, verdict_hook
from .inspection.budget import check as _check
from .inspection.display import Picture, html_table, png_tag
from .inspection.summary import Summary, load_target, summarize
from .models import create_model
from .models.provenance import reference_for
from .training.config import TrainConfig, load_config
from .training.rundir import load_model, read_json, read_metrics
from .training.stops import Interrupted
from .training.train import resume_config, train_model


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _config(config, overrides: dict, model_ref: str) -> TrainConfig:
    """A preset name, a TOML/JSON path, a TrainConfig or None, then keyword overrides, then validation."""
    if isinstance(config, TrainConfig):
        return load_config(None, {**config.to_dict(), **overrides, "model": model_ref})
    if config is None or isinstance(config, (str, Path)):
        return load_config(str(config) if config is not None else None, {**overrides, "model": model_ref})
    raise MnistlabError(f"config: a preset name, a TOML/JSON file or a TrainConfig, not {type(config).__name__}")


def fit(model, config=None, out=None, *, resume=None, data_dir=None, progress=None, quiet=False, **overrides):
    """Train `model` and return its Run.

    model: an nn.Module instance (trained in place: afterwards it holds the weights that were evaluated and
        saved), an nn.Module subclass or a function returning one (built after seeding, so its initial
        weights follow `seed`), or a model reference string ("ref3", "my_net.py:Net").
    config: a preset name ("ref3", "mnist-8k"), a TOML/JSON file, a TrainConfig, or None for the defaults.
    overrides: any TrainConfig field: epochs=15, lr=0.05, max_steps=200, augment={"rotation": 7.0}, ...
    resume: a run folder interrupted earlier; `model` must be the same network (its weights are replaced by
        the checkpoint's), the recipe is the run's own.
    A notebook class's source is saved beside the weights when Python can retrieve it (run folder model.py).
    """
    if resume is not None:
        if config is not None or overrides:
            raise MnistlabError("fit(resume=...) continues the run's own recipe: pass no config or overrides")
        cfg, out = resume_config(resume), resume
    else:
        cfg = _config(config, overrides, _reference(model))
    if isinstance(model, nn.Module):
        net = model
    elif isinstance(model, str) and resume is None:
        net = lambda: create_model(cfg.model, **cfg.model_kwargs)  # noqa: E731  (the trainer builds it after seeding)
    elif isinstance(model, str):
        net = create_model(cfg.model, **cfg.model_kwargs)  # the checkpoint's weights replace its initial ones
    else:
        net = _seeded(model, cfg.model_kwargs, cfg.seed)  # a class or factory, built here as the trainer would
    progress = _in_notebook() and not quiet if progress is None else progress
    try:
        result = train_model(net, cfg, out, data_dir, progress=progress, quiet=quiet, resume=resume is not None,
                             on_end=verdict_hook(cfg.budget))  # fmt: skip
    except Interrupted as e:
        hint = f"mnistlab.fit(model, resume={str(e.run_dir)!r})"
        raise KeyboardInterrupt(f"training interrupted; checkpoint saved in {e.run_dir}. Resume with: {hint}") from None
    if isinstance(model, nn.Module) and result.model is not model:  # EMA: the evaluated copy's weights
        model.load_state_dict(result.model.state_dict())
    return Run(result.run_dir, model=result.model, data_dir=data_dir)


def _reference(model) -> str:
    """The config's model field for what fit was given: a reference as it is, `module:Class` otherwise."""
    if isinstance(model, str):
        return model
    if isinstance(model, nn.Module):
        return reference_for(model)
    if inspect.isclass(model) or inspect.isfunction(model):
        name = model.__qualname__ if model.__qualname__.isidentifier() else model.__name__
        return f"{model.__module__}:{name}"
    raise MnistlabError(
        f"fit: model must be an nn.Module, a class or function building one, or a name; got {type(model).__name__}"
    )


def _seeded(builder, kwargs: dict, seed: int) -> nn.Module:
    """Build the user's network with the global generator seeded, so its initial weights follow `seed`; the
    instance is then trained (and its code saved) as any other."""
    torch.manual_seed(seed)
    from .models.source import build

    return build(builder, kwargs, getattr(builder, "__name__", "model"))


def summary(model, name: str = "", input_shape=(1, 28, 28), trust_code: bool = False) -> Summary:
    """The layer table of an nn.Module, a model reference or a run folder; prints as the CLI's, renders as a
    table in Jupyter (`.to_dict()` for the numbers)."""
    if isinstance(model, Run):
        model = str(model.path)
    if isinstance(model, (str, Path)):
        model, name, input_shape = load_target(str(model), trust_code)
    return summarize(model, name or type(model).__name__, tuple(input_shape))


def check(model_or_run, trust_code: bool = False, **budget) -> Verdict:
    """The budget verdict: of a bare network (parameters, BatchNorm, Dropout, GAP) or of a run (also epochs
    and final accuracy). budget: max_params, max_epochs, min_acc, require=[...], last_k."""
    if isinstance(model_or_run, Run):
        return _check(str(model_or_run.path), resolve_budget(str(model_or_run.path), budget),
                      model=model_or_run.model, trust_code=trust_code)  # fmt: skip
    target = model_or_run if isinstance(model_or_run, nn.Module) else str(model_or_run)
    return _check(target, resolve_budget("" if isinstance(target, nn.Module) else target, budget),
                  trust_code=trust_code)  # fmt: skip


def load_data(dataset: str = "mnist", val_size: int = 0, data_dir=None) -> dict:
    """The verified splits as tensors, for your own loop: {"train", "val", "test"} -> (images, labels), images
    (N, 28, 28) uint8 and labels (N,) int64 on the CPU, plus "mean" and "std" for normalising. `val_size`
    images are carved from the training set by the same fixed permutation the trainer uses."""
    spec = data_mod.get_spec(dataset)
    train, val = data_mod.carve_validation(data_mod.load_split(dataset, True, data_dir), val_size)
    test = data_mod.load_split(dataset, False, data_dir)
    pairs = {k: (s.images, s.labels) for k, s in (("train", train), ("val", val), ("test", test))}
    return pairs | {"mean": spec.mean, "std": spec.std, "classes": list(spec.classes)}


@dataclasses.dataclass
class Run:
    """A run folder: its metrics, its final accuracy and its pictures. `Run("runs/...")` opens one."""

    path: Path
    model: nn.Module | None = None  # the trained network, when this process trained it (else load())
    data_dir: str | None = None
    _cache: tuple | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self):
        self.path = Path(self.path)
        if not (self.path / "model.json").is_file():
            raise MnistlabError(f"{self.path}: not a run directory (no model.json)")

    @property
    def metrics(self) -> list[dict]:
        return read_metrics(self.path)

    @property
    def config(self) -> dict:
        return read_json(self.path / "config.json")

    @property
    def final(self) -> dict:
        """The last epoch's row: train_loss, train_acc, val_acc (if any), test_acc (unless held back), ..."""
        rows = self.metrics
        return rows[-1] if rows else {}

    @property
    def accuracy(self) -> float | None:
        """The final epoch's test accuracy in percent (None when the test set was held back)."""
        return self.final.get("test_acc")

    def load(self, model: nn.Module | None = None, trust_code: bool = False) -> nn.Module:
        """The trained network (see rundir.load_model: a run of your own code needs `model` or trust_code)."""
        if self.model is None or model is not None or trust_code:
            self.model, self._cache = load_model(self.path, model=model, trust_code=trust_code), None
        return self.model

    def curves(self) -> Picture:
        from .inspection import plots

        budget = self.config.get("budget") or {}
        return Picture(plots.curves(self.metrics, self.path / "curves.png", budget.get("min_acc")))

    def _predictions(self):
        """(predictions, test split, model.json) on the test set, computed once per Run (misclassified and
        confusion share them)."""
        if self._cache is not None:
            return self._cache
        from .inspection.report import predict

        meta = read_json(self.path / "model.json")
        test = data_mod.load_split(meta.get("dataset", "mnist"), False, self.data_dir)
        norm = meta.get("normalize", {"mean": 0.1307, "std": 0.3081})
        self._cache = (predict(self.load(), test, norm["mean"], norm["std"]), test, meta)
        return self._cache

    def misclassified(self, limit: int = 100) -> Picture:
        """The test digits the network gets wrong, highest loss first: true→predicted and confidence."""
        from .inspection import plots

        p, test, meta = self._predictions()
        classes = list(meta.get("classes", [str(i) for i in range(10)]))
        wrong = p.errors()
        shown = wrong[:limit]
        labels = [f"{classes[p.labels[i]]}→{classes[p.preds[i]]} {100 * p.confidence[i]:.0f}%" for i in shown.tolist()]
        title = f"{len(wrong)} misclassified of {len(test):,} (true→predicted, confidence), highest loss first"
        return Picture(plots.digit_grid(test.images[shown].numpy(), labels, self.path / "misclassified.png", title))

    def confusion(self) -> Picture:
        from .inspection import plots

        p, _, meta = self._predictions()
        classes = list(meta.get("classes", [str(i) for i in range(10)]))
        return Picture(plots.confusion(p.confusion(len(classes)), classes, self.path / "confusion.png"))

    def report(self, note: str | None = None) -> Path:
        """report.md and report.html with every picture, as `mnistlab report` writes them."""
        from .inspection.report import write_report

        return write_report(self.path, note, self.data_dir, model=self.load())

    def _headline(self) -> str:
        rows, f = self.metrics, self.final
        acc = f"test accuracy {f['test_acc']:.2f}%" if "test_acc" in f else "test held back"
        val = f", val accuracy {f['val_acc']:.2f}%" if "val_acc" in f else ""
        seconds = sum(r.get("seconds", 0.0) for r in rows)
        name = read_json(self.path / "model.json").get("name")
        return f"{name}: {acc}{val} after {len(rows)} epochs in {seconds:.1f}s ({self.path})"

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}): {self._headline()}"

    def _repr_html_(self) -> str:
        keys = [k for k in ("epoch", "train_loss", "train_acc", "val_acc", "test_acc", "seconds") if k in self.final]
        rows = [[r.get(k, "") for k in keys] for r in self.metrics]
        curves = png_tag(self.curves().path, "training curves") if rows else ""
        return f"<p><b>{self._headline()}</b></p>{curves}{html_table(rows, keys)}"
