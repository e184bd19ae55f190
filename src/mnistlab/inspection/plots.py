"""The report's four pictures, drawn from plain data (no model, no files but the PNG written).

matplotlib's object API with the Agg canvas: no pyplot, so no global figure state and no display needed.
"""

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 100


def _save(fig: Figure, path: Path) -> Path:
    # No bbox_inches="tight": it draws the figure twice (once to measure). The figures lay themselves out
    # (tight_layout, or axes placed to fill the canvas), and a report pays one draw per picture.
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI)
    return Path(path)


def curves(metrics: list[dict], path: Path, min_acc: float | None = None) -> Path:
    """Loss, accuracy (train/val/test) and lr per epoch: three panels side by side."""
    fig = Figure(figsize=(13, 3.6))
    ax_loss, ax_acc, ax_lr = fig.subplots(1, 3)
    epochs = [r["epoch"] for r in metrics]
    for split, style in (("train", "-o"), ("val", "-s"), ("test", "-^")):
        rows = [r for r in metrics if f"{split}_loss" in r]  # val/test: the evaluated epochs (eval_every)
        if rows:
            ax_loss.plot([r["epoch"] for r in rows], [r[f"{split}_loss"] for r in rows], style, ms=3, label=split)
            ax_acc.plot([r["epoch"] for r in rows], [r[f"{split}_acc"] for r in rows], style, ms=3, label=split)
    if min_acc is not None:
        ax_acc.axhline(min_acc, color="grey", ls="--", lw=1, label=f"target {min_acc:g}%")
    ax_loss.set(title="loss", xlabel="epoch", yscale="log")
    ax_acc.set(title="accuracy (%)", xlabel="epoch")
    accs = [r[k] for r in metrics for k in ("train_acc", "test_acc", "val_acc") if k in r]
    low = min(accs + ([min_acc] if min_acc else []))
    ax_acc.set_ylim(max(low - 0.5, 0), 100.05)  # the last percent is where the story is
    ax_lr.plot(epochs, [r["lr"] for r in metrics], "-o", ms=3, color="tab:purple")
    ax_lr.set(title="learning rate (epoch start)", xlabel="epoch")
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.legend()
    ax_acc.legend(loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def digit_grid(
    images: np.ndarray, captions: list[str], path: Path, title: str, cols: int = 10, fontsize: float = 7
) -> Path:
    """(N, H, W) images in [0, 1] or uint8, one caption each, in rows of `cols`; an empty N draws the title.

    One mosaic in one Axes, captions as text: a hundred separate Axes take seconds to lay out.
    """
    n = len(images)
    h, w = images.shape[1:] if n else (28, 28)
    rows, cols = max(1, -(-n // cols)), max(1, min(cols, n))
    top, gap = 9, 3  # pixels of caption band above each digit, and of margin beside it
    cell_h, cell_w = h + top, w + gap
    mosaic = np.full((rows * cell_h, cols * cell_w), np.nan)  # NaN: drawn as the white background
    for i in range(n):
        r, c = divmod(i, cols)
        img = np.asarray(images[i], dtype=float)
        mosaic[r * cell_h + top : (r + 1) * cell_h, c * cell_w : c * cell_w + w] = img / (255 if img.max() > 1 else 1)
    fig = Figure(figsize=(cols * cell_w / 26, rows * cell_h / 26 + 0.4))
    ax = fig.add_axes((0, 0, 1, 1 - 0.4 / (rows * cell_h / 26 + 0.4)))
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    for i in range(n):
        r, c = divmod(i, cols)
        ax.text(c * cell_w + w / 2, r * cell_h + top - 1.5, captions[i], ha="center", va="bottom", fontsize=fontsize)
    ax.set_axis_off()
    fig.suptitle(title, fontsize=10, y=0.995, va="top")
    return _save(fig, path)


def confusion(matrix: np.ndarray, classes: list[str], path: Path) -> Path:
    """(K, K) counts, rows true and columns predicted, each cell labelled; the diagonal in its own colour."""
    k = len(classes)
    fig = Figure(figsize=(6.4, 5.6))
    ax = fig.subplots()
    off = matrix.astype(float).copy()
    np.fill_diagonal(off, np.nan)  # errors only: the diagonal would swamp the colour scale
    ax.imshow(off, cmap="Reds", vmin=0, vmax=max(1.0, np.nanmax(off) if np.isfinite(off).any() else 1.0))
    for i in range(k):
        for j in range(k):
            v = int(matrix[i, j])
            color = "tab:green" if i == j else ("black" if v else "lightgrey")
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(k), classes, fontsize=8, rotation=45 if max(map(len, classes)) > 2 else 0)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    errors, total = int(matrix.sum() - np.trace(matrix)), int(matrix.sum())
    ax.set_title(f"confusion matrix: {errors} errors in {total} test images", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
