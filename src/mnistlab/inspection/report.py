"""A run's report: report.md and report.html (images embedded) with Target / Results / Analysis / Model.

Everything is read back from the run directory (config.json, model.json, metrics.csv, log.txt, weights)
and the verified data set, so a report can be rebuilt any time. The weights are the final epoch's:
nothing here (or anywhere in mnistlab) picks an epoch by its test accuracy.
"""

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data import verified as data_mod
from ..training.augment import augment_batch
from ..training.config import load_config
from ..training.evaluate import predict_logits
from ..training.rundir import atomic_write_text, load_model, read_json, read_metrics
from . import plots
from .budget import check, resolve_budget
from .summary import summarize

IMAGES = ("curves.png", "misclassified.png", "confusion.png", "batch.png")


@dataclass
class Predictions:
    labels: torch.Tensor  # (N,) int64
    preds: torch.Tensor  # (N,) int64
    confidence: torch.Tensor  # (N,) softmax probability of the prediction
    losses: torch.Tensor  # (N,) cross-entropy of each image

    def errors(self) -> torch.Tensor:
        """Indices of the misclassified images, highest loss first."""
        wrong = (self.preds != self.labels).nonzero().flatten()
        return wrong[self.losses[wrong].argsort(descending=True, stable=True)]

    def confusion(self, k: int) -> np.ndarray:
        """(k, k) counts, rows true class, columns predicted."""
        return torch.bincount(self.labels * k + self.preds, minlength=k * k).view(k, k).numpy()


def predict(model, split: data_mod.Split, mean: float, std: float, outputs=None) -> Predictions:
    """`outputs`: the model's (N, 10) outputs on `split` if already computed (the trainer's final test pass)."""
    if outputs is None or len(outputs) != len(split):
        outputs = predict_logits(model, split.images, mean, std)
    out = outputs.float()  # (N, 10) logits or log-probs
    probs = out.softmax(1)  # softmax(log_softmax(z)) == softmax(z): both kinds of output work
    conf, preds = probs.max(1)
    losses = F.cross_entropy(out, split.labels, reduction="none")
    return Predictions(split.labels, preds, conf, losses)


def first_batch(cfg, train_split: data_mod.Split) -> tuple[torch.Tensor, torch.Tensor]:
    """Epoch 1's first batch exactly as the trainer drew it: (B, 28, 28) in [0, 1] after augmentation, (B,)."""
    from ..data.verified import carve_validation

    gen = torch.Generator().manual_seed(cfg.seed)  # the trainer's generator, same draws in the same order
    split, _ = carve_validation(train_split, cfg.val_size)
    idx = torch.randperm(len(split), generator=gen)[: cfg.batch_size]
    x = split.images[idx].unsqueeze(1).float().div_(255)  # (B, 1, 28, 28)
    return augment_batch(x, cfg.augment, gen)[:, 0].clamp(0, 1), split.labels[idx]


def draw(
    run_dir: Path,
    cfg,
    meta: dict,
    metrics: list[dict],
    model,
    data_dir=None,
    min_acc=None,
    limit: int = 100,
    test_outputs=None,
) -> dict:
    """Write the four PNGs into `run_dir`; returns the facts the text needs (errors, totals)."""
    classes = list(meta.get("classes", [str(i) for i in range(10)]))
    norm = meta.get("normalize", {"mean": 0.1307, "std": 0.3081})
    test = data_mod.load_split(cfg.dataset, False, data_dir)
    p = predict(model, test, norm["mean"], norm["std"], test_outputs)
    wrong = p.errors()
    shown = wrong[:limit]
    plots.curves(metrics, run_dir / "curves.png", min_acc)
    plots.digit_grid(
        test.images[shown].numpy(),
        [f"{classes[p.labels[i]]}->{classes[p.preds[i]]} {100 * p.confidence[i]:.0f}%" for i in shown.tolist()],
        run_dir / "misclassified.png",
        f"{len(wrong)} misclassified of {len(test):,} (true->predicted, confidence), highest loss first"
        + (f"; the first {len(shown)}" if len(shown) < len(wrong) else ""),
    )
    plots.confusion(p.confusion(len(classes)), classes, run_dir / "confusion.png")
    x, y = first_batch(cfg, data_mod.load_split(cfg.dataset, True, data_dir))
    n = min(len(x), 64)
    plots.digit_grid(
        x[:n].numpy(),
        [classes[i] for i in y[:n].tolist()],
        run_dir / "batch.png",
        f"epoch 1, batch 1 as the network sees it ({n} of {len(x)}; augmentation: {cfg.augment.describe()})",
        cols=16,
        fontsize=9,
    )
    return {"errors": len(wrong), "total": len(test), "error_indices": wrong.tolist()}


def _machine(run_dir: Path, config: dict) -> str:
    lib = config.get("library", {})
    log = run_dir / "log.txt"
    first = [ln for ln in log.read_text().splitlines() if ln.startswith("Python ")] if log.is_file() else []
    where = first[0] if first else f"Python {lib.get('python', '?')}, torch {lib.get('torch', '?')}"
    return f"{where}; {lib.get('processor', '?')}"


def build(
    run_dir: Path, note: str | None = None, data_dir=None, limit=100, model=None, trust_code=False, test_outputs=None
) -> list[tuple]:
    """The report as blocks: ("h1"|"h2"|"p", text), ("table", header, rows), ("img", file, alt)."""
    run_dir = Path(run_dir)
    model = model if model is not None else load_model(run_dir, trust_code=trust_code)  # trained weights
    config = read_json(run_dir / "config.json")
    cfg = load_config(str(run_dir / "config.json"))
    meta = read_json(run_dir / "model.json")
    metrics = read_metrics(run_dir)
    from ..errors import MnistlabError

    if not metrics:
        raise MnistlabError(f"{run_dir}: metrics.csv has no epochs yet")
    if config.get("hold_test"):  # its figures and galleries are test-set figures
        raise MnistlabError(f"{run_dir} held the test set back (hold_test): no report; `mnistlab eval {run_dir}` "
                            "measures it when the recipe is chosen")  # fmt: skip
    budget = resolve_budget(str(run_dir))
    verdict = check(str(run_dir), budget, model=model)
    facts = draw(run_dir, cfg, meta, metrics, model, data_dir, budget.min_acc, limit, test_outputs)
    tested = [r for r in metrics if "test_acc" in r]  # every epoch, or every k-th under eval_every
    final, best = tested[-1], max(tested, key=lambda r: r["test_acc"])
    rule = next((r for r in verdict.rules if r.rule == "consistency"), None)
    consistency = f"{rule.value:.2f}%" if rule and rule.value is not None else (rule.detail if rule else "-")
    a = cfg.augment.describe()
    blocks = [
        ("h1", f"Run {run_dir.name}: {meta['name']}"),
        ("h2", "Target"),
        ("p", cfg.notes or "(no notes in the config)"),
        (
            "p",
            f"Budget: ≤ {budget.max_params:,} parameters, ≤ {budget.max_epochs} epochs, ≥ {budget.min_acc:.2f}% "
            f"test accuracy at the final epoch and over each of the last {budget.last_k}; required: "
            f"{', '.join(budget.require) or 'nothing'}."
            + ("" if cfg.budget else " (mnistlab's default budget: the config has no budget section)"),
        ),
        (
            "p",
            f"Recipe: {cfg.model}{' ' + str(cfg.model_kwargs) if cfg.model_kwargs else ''}, {cfg.optimizer} "
            f"lr {cfg.lr}, scheduler {cfg.scheduler}, batch {cfg.batch_size}, {cfg.epochs} epochs, "
            f"augmentation {a}, seed {cfg.seed}.",
        ),
        ("h2", "Results"),
        (
            "table",
            ["measure", "value"],
            [
                ["Parameters", f"{meta.get('params', 0):,}"],
                ["Final test accuracy", f"{final['test_acc']:.2f}% (epoch {final['epoch']}; the saved weights)"],
                ["Best test accuracy", f"{best['test_acc']:.2f}% (epoch {best['epoch']}; shown, never selected)"],
                [f"Consistency (min of last {budget.last_k})", consistency],
                ["Test errors", f"{facts['errors']:,} of {facts['total']:,}"],
                ["Wall time", f"{sum(r.get('seconds', 0) for r in metrics):.1f} s over {len(metrics)} epochs"],
                ["Machine", _machine(run_dir, config)],
            ],
        ),
        ("table", ["rule", "value", "limit", "result"], [[r.rule, *r.shown(), r.status] for r in verdict.rules]),
        ("p", f"Verdict: {'PASS' if verdict.passed else 'FAIL'}."),
        ("img", "curves.png", "loss, accuracy and learning rate per epoch"),
        ("img", "misclassified.png", "misclassified test digits, highest loss first"),
        ("img", "confusion.png", "confusion matrix"),
        ("img", "batch.png", "one augmented training batch"),
        ("h2", "Analysis"),
        ("p", note or "(no analysis yet: add one with `mnistlab report RUN_DIR --note TEXT`)"),
        ("h2", "Model"),
    ]
    s = summarize(model, meta["name"], meta.get("input_shape", [1, 28, 28]))
    rows = [
        [
            r["name"],
            r["type"],
            "x".join(map(str, r["output_shape"][1:])),
            f"{r['params']:,}",
            f"{r['macs']:,}",
            str(r["rf"]),
        ]
        for r in s.to_dict()["layers"]
    ]
    blocks.append(("table", ["layer", "type", "output", "params", "MACs", "RF"], rows))
    blocks.append(
        (
            "p",
            f"{s.total_params:,} parameters ({s.trainable_params:,} trainable); {s.macs:,} MACs per image; "
            f"~{s.train_flops_per_epoch / 1e12:.2f} TFLOP to train one epoch of {s.train_images:,} images.",
        )
    )
    return blocks


def to_markdown(blocks: list[tuple]) -> str:
    out = []
    for b in blocks:
        if b[0] in ("h1", "h2"):
            out.append(f"{'#' if b[0] == 'h1' else '##'} {b[1]}")
        elif b[0] == "p":
            out.append(b[1])
        elif b[0] == "img":
            out.append(f"![{b[2]}]({b[1]})")
        else:
            header, rows = b[1], b[2]
            cell = lambda c: str(c).replace("|", "\\|")  # noqa: E731
            out.append(
                "\n".join(["| " + " | ".join(map(cell, r)) + " |" for r in [header, ["---"] * len(header)] + rows])
            )
    return "\n\n".join(out) + "\n"


def to_html(blocks: list[tuple], run_dir: Path) -> str:
    """A single self-contained file: the PNGs go in as base64 data URIs."""
    e = html.escape
    out = [
        "<!doctype html><meta charset='utf-8'><title>mnistlab report</title><style>"
        "body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .6em}"
        "img{max-width:100%;display:block;margin:1em 0}</style>"
    ]
    for b in blocks:
        if b[0] in ("h1", "h2", "p"):
            out.append(f"<{b[0]}>{e(b[1])}</{b[0]}>")
        elif b[0] == "img":
            data = base64.b64encode((Path(run_dir) / b[1]).read_bytes()).decode()
            out.append(f"<img alt='{e(b[2])}' src='data:image/png;base64,{data}'>")
        else:
            head = "".join(f"<th>{e(str(c))}</th>" for c in b[1])
            body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in b[2])
            out.append(f"<table><tr>{head}</tr>{body}</table>")
    return "\n".join(out) + "\n"


def write_report(
    run_dir: str | Path,
    note: str | None = None,
    data_dir=None,
    limit=100,
    model=None,
    trust_code=False,
    test_outputs=None,
) -> Path:
    """Write report.md, report.html and the PNGs into `run_dir`; a note is kept in note.txt for next time.

    `limit` caps the misclassified grid (highest loss first); the text always gives the full count. A run of
    user code needs its network (`model`, weights are loaded into it) or `trust_code` (rundir.load_model).
    `test_outputs`: the trained model's (N, 10) outputs on the test set, when the caller has them (the
    trainer's final test pass, TrainResult.test_outputs); otherwise the test set is predicted here.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "model.json").is_file():
        from ..errors import MnistlabError

        raise MnistlabError(f"{run_dir}: not a run directory (no model.json)")
    model = load_model(run_dir, model=model, trust_code=trust_code)  # a run of user code: refused first
    note_file = run_dir / "note.txt"
    if note is not None:
        atomic_write_text(note_file, note.strip() + "\n")
    elif note_file.is_file():
        note = note_file.read_text().strip()
    blocks = build(run_dir, note, data_dir, limit, model, trust_code, test_outputs)
    atomic_write_text(run_dir / "report.md", to_markdown(blocks))
    atomic_write_text(run_dir / "report.html", to_html(blocks, run_dir))
    return run_dir / "report.md"
