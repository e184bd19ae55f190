"""The report's four pictures, drawn from plain data with Pillow (no model, no files but the PNG written).

Why not matplotlib: the report, part of every `mnistlab train`, took 2.6 s of a one-epoch run of ref3 under
cProfile (benchmarks/results/2026-12-05-xeon-amx-epoch/phases-ref3.txt): matplotlib's import and drawing,
and a second prediction of the test set. These pictures are a few lines, boxes and labels; with them and the
trainer's final test outputs reused, the whole report takes 0.8 s there
(benchmarks/results/2026-12-06-xeon-amx-epoch/phases-ref3.txt); a box-average downscale and zlib level 1
took it from 0.39 to 0.22 s (2026-12-06-xeon-amx-one-pass/report-pictures.txt). Lines and text are drawn
at SS times the size and scaled down, which anti-aliases them. Captions keep to ASCII and Latin-1: the
built-in font has no arrows.
"""

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SS = 2  # supersampling factor
BLUE, ORANGE, GREEN, PURPLE = (31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189)
GRID, AXIS, INK, FAINT = (228, 228, 228), (60, 60, 60), (20, 20, 20), (185, 185, 185)


def _font(px: float) -> ImageFont.ImageFont:
    try:  # Pillow >= 10.1 with FreeType: a scalable sans-serif built in
        return ImageFont.load_default(size=max(1, round(px * SS)))
    except (TypeError, OSError):  # an older Pillow: its small bitmap font
        return ImageFont.load_default()


def _canvas(w: int, h: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (w * SS, h * SS), "white")
    return img, ImageDraw.Draw(img)


def _save(img: Image.Image, path: Path) -> Path:
    # SS x SS box average (reduce): anti-aliasing enough for lines and text, and several times cheaper than a
    # LANCZOS resize; zlib level 1: flat-coloured pictures compress nearly as well, at a fraction of level 6's
    # time (python benchmarks/ab/report_pictures.py).
    img.reduce(SS).save(path, optimize=False, compress_level=1)
    return Path(path)


def _text(d: ImageDraw.ImageDraw, xy, s: str, px: float, anchor: str = "mm", fill=INK) -> None:
    d.text((xy[0] * SS, xy[1] * SS), s, font=_font(px), anchor=anchor, fill=fill)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi], about n of them, steps of 1, 2 or 5 times a power of ten."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    return [round(k * step, 12) for k in range(first, math.floor(hi / step + 1e-9) + 1)]


def _label(v: float) -> str:
    return f"{v:.6g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.0e}"


class _Panel:
    """One plot: data coordinates -> canvas pixels (before supersampling) inside box (x0, y0, x1, y1)."""

    def __init__(self, d, box, xs, ys, log=False, ylim=None):
        self.d, self.box, self.log = d, box, log
        t = [math.log10(y) for y in ys if y > 0] if log else list(ys)
        lo, hi = ylim if ylim else (min(t, default=0.0), max(t, default=1.0))
        if log and ylim:
            lo, hi = math.log10(lo), math.log10(hi)
        pad = (hi - lo) * 0.06 or (abs(hi) * 0.05 or 0.5)
        self.ylo, self.yhi = (lo, hi) if ylim and not log else (lo - pad, hi + pad)
        self.xlo, self.xhi = (min(xs) - 0.5, max(xs) + 0.5) if len(set(xs)) < 2 else (min(xs) - 0.3, max(xs) + 0.3)

    def px(self, x, y):
        x0, y0, x1, y1 = self.box
        v = math.log10(y) if self.log else y
        return (x0 + (x - self.xlo) / (self.xhi - self.xlo) * (x1 - x0),
                y1 - (v - self.ylo) / (self.yhi - self.ylo) * (y1 - y0))  # fmt: skip

    def frame(self, title: str, xlabel: str) -> None:
        d, (x0, y0, x1, y1) = self.d, self.box
        step = max(1, math.ceil((self.xhi - self.xlo) / 10))  # integer epochs, at most ~10 labels
        for e in range(math.ceil(self.xlo), math.floor(self.xhi) + 1):
            if e % step == 0 or step == 1:
                x = self.px(e, 1)[0]
                d.line([(x * SS, y0 * SS), (x * SS, y1 * SS)], fill=GRID, width=SS)
                _text(d, (x, y1 + 10), str(e), 11)
        for v in self._yticks():
            y = self.px(1, v)[1]
            d.line([(x0 * SS, y * SS), (x1 * SS, y * SS)], fill=GRID, width=SS)
            _text(d, (x0 - 5, y), _label(v), 11, "rm")
        d.rectangle([x0 * SS, y0 * SS, x1 * SS, y1 * SS], outline=AXIS, width=SS)
        _text(d, ((x0 + x1) / 2, y0 - 12), title, 14)
        _text(d, ((x0 + x1) / 2, y1 + 27), xlabel, 12)

    def _yticks(self) -> list[float]:
        if not self.log:
            return [v for v in nice_ticks(self.ylo, self.yhi) if self.ylo <= v <= self.yhi]
        lo, hi = self.ylo, self.yhi
        if hi - lo >= 1.5:  # decades
            return [10.0**k for k in range(math.ceil(lo), math.floor(hi) + 1)]
        ticks = [m * 10.0**k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
        ticks = [v for v in ticks if lo <= math.log10(v) <= hi]  # 1-2-5 in each decade
        return ticks if len(ticks) >= 2 else [v for v in nice_ticks(10**lo, 10**hi, 4) if v > 0]

    def series(self, xs, ys, color, marker: str) -> None:
        pts = [self.px(x, y) for x, y in zip(xs, ys, strict=True) if not (self.log and y <= 0)]
        if len(pts) > 1:
            self.d.line([(x * SS, y * SS) for x, y in pts], fill=color, width=2 * SS, joint="curve")
        for x, y in pts:
            _marker(self.d, x, y, color, marker)

    def hline(self, v: float, color) -> None:
        (x0, _, x1, _), y = self.box, self.px(0, v)[1]
        for a in np.arange(x0, x1, 8.0):  # dashed
            self.d.line([(a * SS, y * SS), (min(a + 5, x1) * SS, y * SS)], fill=color, width=SS)

    def legend(self, entries, corner: str) -> None:
        x0, y0, x1, y1 = self.box
        w, h = 112, 8 + 18 * len(entries)
        left, top = (x1 - w - 8, y0 + 8) if corner == "upper right" else (x1 - w - 8, y1 - h - 8)
        self.d.rectangle([left * SS, top * SS, (left + w) * SS, (top + h) * SS], fill="white", outline=GRID, width=SS)
        for k, (name, color, marker) in enumerate(entries):
            y = top + 13 + 18 * k
            self.d.line([((left + 6) * SS, y * SS), ((left + 30) * SS, y * SS)], fill=color, width=2 * SS)
            if marker:
                _marker(self.d, left + 18, y, color, marker)
            _text(self.d, (left + 36, y), name, 11, "lm")


def _marker(d, x, y, color, kind: str, r: float = 3.2) -> None:
    x, y, r = x * SS, y * SS, r * SS
    if kind == "s":
        d.rectangle([x - r, y - r, x + r, y + r], fill=color)
    elif kind == "^":
        d.polygon([(x, y - r * 1.2), (x - r, y + r * 0.8), (x + r, y + r * 0.8)], fill=color)
    else:
        d.ellipse([x - r, y - r, x + r, y + r], fill=color)


def curves(metrics: list[dict], path: Path, min_acc: float | None = None) -> Path:
    """Loss, accuracy (train/val/test) and lr per epoch: three panels side by side, 1300x360 pixels."""
    img, d = _canvas(1300, 360)
    epochs = [r["epoch"] for r in metrics]
    styles = (("train", BLUE, "o"), ("val", GREEN, "s"), ("test", ORANGE, "^"))
    present = [(s, c, m) for s, c, m in styles if any(f"{s}_loss" in r for r in metrics)]  # val/test: eval_every

    losses = [r[f"{s}_loss"] for s, _, _ in present for r in metrics if f"{s}_loss" in r]
    loss = _Panel(d, (75, 35, 420, 305), epochs, losses, log=True)
    accs = [r[k] for r in metrics for k in ("train_acc", "test_acc", "val_acc") if k in r]
    low = min(accs + ([min_acc] if min_acc else []))
    acc = _Panel(d, (505, 35, 850, 305), epochs, accs, ylim=(max(low - 0.5, 0), 100.05))  # the last percent
    lrs = [r["lr"] for r in metrics]
    lr = _Panel(d, (945, 35, 1285, 305), epochs, lrs)
    loss.frame("loss", "epoch")
    acc.frame("accuracy (%)", "epoch")
    lr.frame("learning rate (epoch start)", "epoch")
    if min_acc is not None:
        acc.hline(min_acc, (128, 128, 128))
    for split, color, marker in present:
        rows = [r for r in metrics if f"{split}_loss" in r]
        loss.series([r["epoch"] for r in rows], [r[f"{split}_loss"] for r in rows], color, marker)
        acc.series([r["epoch"] for r in rows], [r[f"{split}_acc"] for r in rows], color, marker)
    lr.series(epochs, lrs, PURPLE, "o")
    loss.legend(present, "upper right")
    target = [(f"target {min_acc:g}%", (128, 128, 128), "")] if min_acc is not None else []
    acc.legend(present + target, "lower right")
    return _save(img, path)


def digit_grid(
    images: np.ndarray, captions: list[str], path: Path, title: str, cols: int = 10, fontsize: float = 7
) -> Path:
    """(N, H, W) images in [0, 1] or uint8, one caption each, in rows of `cols`; an empty N draws the title.

    Each digit pixel becomes ZOOM x ZOOM pixels, black on white, its caption above it.
    """
    zoom, n = 4, len(images)
    h, w = images.shape[1:] if n else (28, 28)
    rows, cols = max(1, -(-n // cols)), max(1, min(cols, n))
    cap, gap, head = round(fontsize * 2.4), 10, 34  # caption band and margin per cell, title band (pixels)
    cell_w, cell_h = w * zoom + gap, h * zoom + cap
    width = max(cols * cell_w + gap, 11 * len(title) // 2 + 20)
    img, d = _canvas(width, head + rows * cell_h + gap)
    for i in range(n):
        r, c = divmod(i, cols)
        a = np.asarray(images[i], dtype=np.float32)
        a = a / (255.0 if a.max() > 1 else 1.0)
        ink = (255 * (1 - np.clip(a, 0, 1))).astype(np.uint8)  # dark strokes on white, as gray_r
        ink = ink.repeat(zoom * SS, 0).repeat(zoom * SS, 1)  # (H*zoom*SS, W*zoom*SS): each pixel a square
        tile = Image.fromarray(ink, "L")
        x, y = gap + c * cell_w, head + r * cell_h + cap
        img.paste(tile, (x * SS, y * SS))
        _text(d, (x + w * zoom / 2, y - 3), captions[i], fontsize * 1.6, "ms")
    _text(d, (width / 2, head / 2), title, 14)
    return _save(img, path)


def _reds(t: float) -> tuple[int, int, int]:
    """A white-to-dark-red ramp for t in [0, 1] (matplotlib's 'Reds', approximated by three stops)."""
    stops = ((0.0, (255, 245, 240)), (0.5, (251, 106, 74)), (1.0, (103, 0, 13)))
    for (a, ca), (b, cb) in zip(stops, stops[1:], strict=False):
        if t <= b:
            f = (t - a) / (b - a)
            return tuple(round(u + (v - u) * f) for u, v in zip(ca, cb, strict=True))
    return stops[-1][1]


def _slanted(img: Image.Image, xy, s: str, px: float) -> None:
    """Text at 45 degrees whose end sits at xy (a tick label under a column)."""
    font = _font(px)
    x0, y0, x1, y1 = font.getbbox(s)
    tile = Image.new("L", (x1 + 4, y1 + 4), 0)
    ImageDraw.Draw(tile).text((2, 2), s, font=font, fill=255)
    tile = tile.rotate(45, expand=True, resample=Image.Resampling.BICUBIC)
    img.paste(INK, (round(xy[0] * SS) - tile.width, round(xy[1] * SS)), tile)


def confusion(matrix: np.ndarray, classes: list[str], path: Path) -> Path:
    """(K, K) counts, rows true and columns predicted, each cell labelled; the diagonal in its own colour."""
    k = len(classes)
    cell = max(24, min(48, 480 // max(k, 1)))
    left, top = 80, 50
    long = max(map(len, classes), default=0) > 2
    img, d = _canvas(left + k * cell + 30, top + k * cell + (120 if long else 70))
    off = matrix.astype(float).copy()
    np.fill_diagonal(off, 0)  # errors only: the diagonal would swamp the colour scale
    peak = max(1.0, float(off.max()) if off.size else 1.0)
    for i in range(k):
        for j in range(k):
            x, y, v = left + j * cell, top + i * cell, int(matrix[i, j])
            fill = (255, 255, 255) if i == j else _reds(off[i, j] / peak)
            d.rectangle([x * SS, y * SS, (x + cell) * SS, (y + cell) * SS], fill=fill)
            dark = i != j and off[i, j] / peak > 0.6
            color = GREEN if i == j else ((255, 255, 255) if dark else INK) if v else FAINT
            _text(d, (x + cell / 2, y + cell / 2), str(v), 11, fill=color)
    d.rectangle([left * SS, top * SS, (left + k * cell) * SS, (top + k * cell) * SS], outline=AXIS, width=SS)
    long = max(map(len, classes), default=0) > 2  # words (Fashion-MNIST): slanted, as they would overlap
    for i, name in enumerate(classes):
        x = left + i * cell + cell / 2
        _slanted(img, (x, top + k * cell + 6), name, 11) if long else _text(d, (x, top + k * cell + 12), name, 11)
        _text(d, (left - 6, top + i * cell + cell / 2), name, 11, "rm")
    _text(d, (left + k * cell / 2, img.height / SS - 16), "predicted", 13)
    _text(d, (22, top + k * cell / 2), "true", 13)
    errors, total = int(matrix.sum() - np.trace(matrix)), int(matrix.sum())
    _text(d, (left + k * cell / 2, top / 2), f"confusion matrix: {errors} errors in {total} test images", 13)
    return _save(img, path)
