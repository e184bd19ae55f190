"""The assignment's verdict: does a run (or a bare model) meet its budget? One rule per row, PASS or FAIL.

Structural rules (parameters, BatchNorm, Dropout, GAP) are judged from the model's modules and a traced
forward pass, so a functional `F.dropout` or `x.mean((2, 3))` counts too. Training rules (epochs, final
accuracy, consistency) need a run; for a bare model they are n/a, which is neither a pass nor a fail.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..errors import MnistlabError
from ..training.config import BudgetConfig, from_dict
from .summary import Layer, summarize

# gap_or_fc: the checklist as the notebooks state it ("a fully connected layer, and GAP"): either head passes
COMPONENTS = ("batchnorm", "dropout", "gap", "gap_or_fc")
_AVERAGES = ("AdaptiveAvgPool2d", "AvgPool2d", "F.avg_pool2d", "F.adaptive_avg_pool2d", "Tensor.mean", "torch.mean")


@dataclass
class Rule:
    rule: str
    value: float | int | bool | None  # what the run has; None when it cannot be known
    limit: float | int | bool
    op: str  # "<=", ">=" or "required"
    status: str  # PASS | FAIL | n/a
    detail: str = ""  # the evidence: which layers, which epochs

    def shown(self) -> tuple[str, str]:
        """(value, limit) as a person reads them."""
        if self.op == "required":
            return ("yes" if self.value else "no") if self.value is not None else "-", "required"
        pct = self.rule in ("final test accuracy", "consistency")
        fmt = (lambda v: f"{v:.2f}%") if pct else (lambda v: f"{v:,}")  # noqa: E731
        return ("-" if self.value is None else fmt(self.value)), f"{'≤' if self.op == '<=' else '≥'} {fmt(self.limit)}"


@dataclass
class Verdict:
    target: str
    budget: BudgetConfig
    rules: list[Rule]

    @property
    def passed(self) -> bool:
        """Every rule that applies passed (n/a rules neither pass nor fail)."""
        return all(r.status != "FAIL" for r in self.rules)

    def __str__(self) -> str:
        return "\n".join(verdict_lines(self))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from .display import html_lines, html_table

        lines = verdict_lines(self)
        rows = [[r.rule, *r.shown(), r.status, r.detail] for r in self.rules]
        return html_table(rows, ["rule", "value", "limit", "result", ""], caption=lines[0]) + html_lines(lines[-1:])

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "passed": self.passed,
            "budget": dataclasses.asdict(self.budget),
            "rules": [dataclasses.asdict(r) for r in self.rules],
        }


def resolve_budget(target: str, overrides: dict | None = None) -> BudgetConfig:
    """BudgetConfig defaults <- the run's config.json budget section (if any) <- non-None overrides."""
    data = {}
    cfg_path = Path(target) / "config.json"
    if cfg_path.is_file():
        from ..training.rundir import read_json

        data = dict(read_json(cfg_path).get("budget") or {})
    data |= {k: v for k, v in (overrides or {}).items() if v is not None}
    budget = from_dict(BudgetConfig, data, prefix="budget.")
    unknown = sorted(set(budget.require) - set(COMPONENTS))
    if unknown:
        raise MnistlabError(f"unknown required component {unknown[0]!r}; known: {', '.join(COMPONENTS)}")
    if budget.last_k < 1:
        raise MnistlabError("budget: last_k must be >= 1")
    if not 0 <= budget.min_acc <= 100:  # also refuses nan, which no accuracy can be compared with
        raise MnistlabError(f"budget: min_acc must be a percentage in [0, 100], got {budget.min_acc}")
    if budget.max_params < 1 or budget.max_epochs < 1:
        raise MnistlabError("budget: max_params and max_epochs must be >= 1")
    return budget


def components(model: nn.Module, layers: list[Layer]) -> dict[str, list[str]]:
    """Which required components the traced forward pass used -> the layer names that show it."""
    modules = dict(model.named_modules())
    found = {c: [] for c in COMPONENTS}
    for layer in layers:
        mod = modules.get(layer.name)
        if isinstance(mod, nn.modules.batchnorm._BatchNorm) or layer.type == "F.batch_norm":
            found["batchnorm"].append(layer.name)
        if (isinstance(mod, nn.modules.dropout._DropoutNd) and mod.p > 0) or layer.type.startswith("F.dropout"):
            found["dropout"].append(layer.name)
        # GAP: an average that turns a spatial map (B, C, H, W), H*W > 1, into one value per channel
        spatial_in = len(layer.in_shape) == 4 and layer.in_shape[-1] * layer.in_shape[-2] > 1
        one_out = len(layer.output_shape) == 2 or layer.output_shape[-2:] == [1, 1]
        if layer.type in _AVERAGES and spatial_in and one_out:
            found["gap"].append(layer.name)
        if isinstance(mod, nn.Linear) or layer.type == "F.linear":
            found["gap_or_fc"].append(layer.name)
    found["gap_or_fc"] = found["gap"] + found["gap_or_fc"]
    return found


def _at_most(rule, value, limit) -> Rule:
    return Rule(rule, value, limit, "<=", "PASS" if value <= limit else "FAIL")


def _at_least(rule, value, limit, detail="") -> Rule:
    ok = value is not None and value + 1e-9 >= limit  # accuracies are stored rounded to 4 decimals
    return Rule(rule, value, limit, ">=", "PASS" if ok else "FAIL", detail)


def _accuracy_rules(metrics: list[dict], budget: BudgetConfig) -> list[Rule]:
    final = metrics[-1].get("test_acc") if metrics else None
    rules = [_at_least("final test accuracy", final, budget.min_acc, f"epoch {len(metrics)}")]
    # The last K evaluated epochs (with eval_every > 1 or 0, not every epoch has a test figure).
    last = [r for r in metrics if "test_acc" in r][-budget.last_k :]
    worst = min(r["test_acc"] for r in last) if len(last) == budget.last_k else None  # fewer than K: not shown
    skipped = len(last) < len(metrics[-budget.last_k :])
    detail = (
        f"min over epochs {last[0]['epoch']}-{last[-1]['epoch']}" + (" (evaluated ones)" if skipped else "")
        if worst is not None
        else f"only {len(last)} evaluated epochs, need {budget.last_k}"
        if skipped
        else f"only {len(metrics)} epochs, need {budget.last_k}"
    )
    return rules + [_at_least("consistency", worst, budget.min_acc, detail)]


def check(target, budget: BudgetConfig | None = None, model=None, trust_code: bool = False) -> Verdict:
    """Judge a run directory, a model reference (a registered name, FILE.py:Name, package.module:Name) or an
    nn.Module against `budget` (default: resolve_budget). A bare network is judged on the exercise's
    checklist (parameters, BatchNorm, Dropout, GAP); epochs and accuracy need a run. `model`: the run's
    network, given, so that its code is not executed again (a run of user code needs it or `trust_code`)."""
    from ..models import count_params, create_model, list_models, names_a_model
    from ..models.provenance import build_from_meta
    from ..training.rundir import read_json, read_metrics

    if isinstance(target, nn.Module):
        model, target = target, type(target).__name__
    budget = budget or resolve_budget(str(target))
    path = Path(target)
    input_shape, metrics = [1, 28, 28], None
    if model is None and (path / "model.json").is_file():
        meta = read_json(path / "model.json")
        model = build_from_meta(path, meta, trust_code)  # structure only: no weights needed
        input_shape = meta.get("input_shape", [1, 28, 28])
    if (path / "model.json").is_file():
        metrics = read_metrics(path)
    elif model is None and names_a_model(target):
        model = create_model(target)
    elif model is None:
        raise MnistlabError(
            f"{target!r}: no run directory (model.json) or model; known models: {', '.join(list_models())}"
        )

    rules = [_at_most("parameters", count_params(model), budget.max_params)]
    if metrics is None:
        rules += [
            Rule(r, None, lim, op, "n/a", "needs a run")
            for r, lim, op in (
                ("epochs", budget.max_epochs, "<="),
                ("final test accuracy", budget.min_acc, ">="),
                ("consistency", budget.min_acc, ">="),
            )
        ]
    else:
        rules.append(_at_most("epochs", len(metrics), budget.max_epochs))
        if metrics and "test_acc" not in metrics[-1]:  # hold_test: no test figure to judge, not a failure
            rules += [
                Rule(r, None, budget.min_acc, ">=", "n/a", "test held back")
                for r in ("final test accuracy", "consistency")
            ]
        else:
            rules += _accuracy_rules(metrics, budget)
    found = components(model, summarize(model, input_shape=input_shape).layers)
    for c in budget.require:
        names = found[c]
        shown = ", ".join(names[:3]) + (f" (+{len(names) - 3})" if len(names) > 3 else "")
        rules.append(Rule(c, bool(names), True, "required", "PASS" if names else "FAIL", shown or "none found"))
    return Verdict(str(target), budget, rules)


def verdict_lines(v: Verdict) -> list[str]:
    """The verdict as aligned text: one row per rule, then the overall line."""
    cells = [["rule", "value", "limit", "result", ""]]
    cells += [[r.rule, *r.shown(), r.status, r.detail] for r in v.rules]
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    lines = [f"Budget check: {v.target}"]
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    failed = [r.rule for r in v.rules if r.status == "FAIL"]
    na = [r.rule for r in v.rules if r.status == "n/a"]
    verdict = "PASS" if v.passed else f"FAIL ({', '.join(failed)})"
    lines.append(f"Verdict: {verdict}" + (f"; not judged without a run: {', '.join(na)}" if na else ""))
    return lines


def verdict_hook(budget: BudgetConfig | None):
    """For the trainer's `on_end`: the run's verdict, the same rows as `mnistlab check`, printed and written
    to log.txt after the final line; None when the config sets no budget."""
    if budget is None:
        return None

    def on_end(run_dir, model, log) -> None:
        for line in verdict_lines(check(str(run_dir), budget, model=model)):
            log(line)

    return on_end
