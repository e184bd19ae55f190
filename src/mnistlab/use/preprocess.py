"""Any picture of one digit -> the 28x28 input MNIST's networks expect: white ink on black, sized, centred.

MNIST's own recipe: the digit is fitted into a 20x20 box keeping its aspect ratio (anti-aliased, so edges
are grey), then placed in the 28x28 field with its centre of mass at the field's centre. Photos and scans
differ from that in polarity (dark ink on light paper), lighting (grey, noisy, unevenly lit paper) and
size; each step below undoes one of those. A 28x28 image already in MNIST form is used as it is, so a
test digit saved as PNG gets exactly the prediction `mnistlab eval` gives it.
"""

import functools
import io
import warnings
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageOps

from ..errors import MnistlabError

FIELD, BOX = 28, 20  # MNIST: a 20x20 digit inside a 28x28 field
CENTRE = 14.0  # mean centre of mass of the MNIST test digits, in pixel indices (13.99, 14.01)
WORK_SIDE = 512  # bigger pictures are reduced first: plenty for a 20x20 target, keeps filters fast
BG_SIDE = 64  # the paper's shading is estimated on a copy this small (it varies slowly)
MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb threshold: larger images are refused, never decoded


class ImageError(MnistlabError):
    """The bytes are not an image Pillow can read (the server answers 415)."""


class NoDigitError(MnistlabError):
    """The image is readable but holds no digit: empty file, transparent or blank (the server answers 400)."""


def open_image(source: str | Path | bytes, name: str | None = None) -> Image.Image:
    """A path or the bytes of a file -> a loaded Pillow image; each failure is one sentence naming `name`."""
    if isinstance(source, (str, Path)):
        name = name or str(source)
        try:
            source = Path(source).read_bytes()
        except FileNotFoundError:
            raise MnistlabError(f"{name}: not found") from None
        except OSError as e:
            raise MnistlabError(f"{name}: cannot read ({e.strerror or e})") from None
    name = name or "image"
    if len(source) == 0:
        raise NoDigitError(f"{name}: empty file")
    too_big = f"{name}: more than {MAX_PIXELS / 1e6:.0f} megapixels; send a smaller image"
    try:
        with warnings.catch_warnings():  # Pillow's own guard: a warning over its limit, an error over twice it
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(source))  # reads the header only
        if img.width * img.height > MAX_PIXELS:  # checked before decoding: no allocation of the claimed size
            raise ImageError(too_big)
        img.load()  # decode now: a truncated file fails here, not later
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(too_big) from None
    except Exception:  # noqa: BLE001 - Pillow raises many types (OSError, SyntaxError, ValueError)
        raise ImageError(f"{name}: not an image Pillow can read") from None
    return img


def to_gray(img: Image.Image) -> np.ndarray:
    """(H, W) float32 in [0, 1], 1 = white; transparent pixels are composited onto a contrasting paper."""
    img = ImageOps.exif_transpose(img)  # phone photos keep their rotation in EXIF
    factor = max(img.size) // WORK_SIDE
    if factor >= 2:  # a 12-megapixel photo: shrink by whole-pixel box averaging before any float copy
        try:
            img = img.reduce(factor)
        except ValueError:  # modes reduce() does not handle (P, 1, ...): converted at full size
            pass
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit scans and float images
        a = np.asarray(img, dtype=np.float32)
        top = 1.0 if a.max() <= 1 else 255.0 if a.max() <= 255 else 65535.0
        return np.clip(a / top, 0, 1)
    if "A" not in img.mode and "transparency" not in img.info:
        return np.asarray(img.convert("L"), dtype=np.float32) / 255  # exact k/255 for 8-bit images
    rgba = img.convert("RGBA")
    lum = np.asarray(rgba.convert("L"), dtype=np.float32) / 255
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
    if alpha.min() == 1:
        return lum
    if alpha.max() == 0:
        raise NoDigitError("fully transparent image")
    # What lies under a transparent pixel is unknown: choose the paper that contrasts with the opaque
    # marks (dark strokes on a transparent layer -> white paper), so the marks read as ink either way.
    paper = 1.0 if (lum * alpha).sum() / alpha.sum() < 0.5 else 0.0
    return (lum * alpha + paper * (1 - alpha)).astype(np.float32)


def is_mnist_form(g: np.ndarray) -> bool:
    """28x28 with a black frame and some bright ink: already an MNIST digit (their 2-px frames average < 0.04)."""
    if g.shape != (FIELD, FIELD) or g.max() < 0.5:
        return False
    frame = np.concatenate([g[:2].ravel(), g[-2:].ravel(), g[2:-2, :2].ravel(), g[2:-2, -2:].ravel()])
    return float(frame.mean()) < 0.1


def _resize(a: np.ndarray, h: int, w: int, resample=Image.Resampling.BOX) -> np.ndarray:
    """(H, W) float32 -> (h, w) float32 through Pillow's float mode (area-aware when shrinking)."""
    return np.asarray(Image.fromarray(a.astype(np.float32), "F").resize((w, h), resample), dtype=np.float32)


def _window(a: np.ndarray, k: int, fn) -> np.ndarray:
    """(H, W) -> (H, W): fn (np.min, np.max, np.mean, np.median) over k x k windows, edges replicated.

    The same bits as fn(sliding_window_view(padded, (k, k)), axis=(-2, -1)) for k < 128, which numpy runs
    window by window (an 11x11 median of 64x64: ~7 ms; a 3x3 mean of 512x512: ~15 ms); here one partition of
    a copy, or k to 2k whole-array operations (~1 ms, ~2 ms).
    """
    if k <= 1:
        return a
    h, w = a.shape
    p = np.pad(a, k // 2, mode="edge")
    if fn is np.min or fn is np.max:  # separable: a square's extreme is the extreme of its rows' extremes
        op = np.minimum if fn is np.min else np.maximum
        rows = functools.reduce(op, (p[i : i + h] for i in range(k)))  # (h, w + k - 1)
        return functools.reduce(op, (rows[:, j : j + w] for j in range(k))).astype(np.float32)
    if fn is np.median:  # k * k is odd: the median is the middle value, found by one partition
        win = sliding_window_view(p, (k, k)).reshape(h, w, k * k)  # mostly a copy; a (read-only) view when 1 px wide
        win = win if win.flags.writeable else win.copy()
        win.partition(k * k // 2, axis=-1)  # in place: the copy is ours
        return win[..., k * k // 2].astype(np.float32)
    if fn is np.mean and min(h, w) > 1:  # summed in numpy's order for that reduction: the same rounding too

        def row_sum(i):  # numpy's pairwise sum of one window row (n < 128: eight running sums), every pixel at once
            cols = [p[i : i + h, j : j + w] for j in range(k)]
            if k < 8:
                return functools.reduce(np.add, cols)
            r = cols[:8]
            for start in range(8, k - k % 8, 8):
                r = [r[j] + cols[start + j] for j in range(8)]
            return functools.reduce(
                np.add, cols[k - k % 8 :], ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            )

        total = functools.reduce(np.add, (row_sum(i) for i in range(k)))
        return (total / np.float32(k * k)).astype(np.float32)
    return fn(sliding_window_view(p, (k, k)), axis=(-2, -1)).astype(np.float32)


def _noise(d: np.ndarray) -> float:
    """Robust standard deviation (MAD): the paper's noise, barely moved by the few ink pixels."""
    return float(1.4826 * np.median(np.abs(d - np.median(d))))


def _paper(x: np.ndarray, fn) -> np.ndarray:
    """(H, W) -> (H, W): the paper's slowly varying shade, fn(small, k) on a <= 64 px copy, scaled back.

    k is odd and about a sixth of the copy's side: wider than a stroke (a digit filling the picture has
    strokes of about an eighth), narrower than the digit.
    """
    h, w = x.shape
    s = min(1.0, BG_SIDE / max(h, w))
    sh, sw = max(1, round(h * s)), max(1, round(w * s))
    k = max(3, int(max(sh, sw) / 6) | 1)
    if s == 1:
        return fn(x, k)
    return _resize(fn(_resize(x, sh, sw), k), h, w, Image.Resampling.BILINEAR)


def _otsu(v: np.ndarray) -> float:
    """The threshold that best splits v's histogram into two classes (Otsu 1979)."""
    hist, edges = np.histogram(v, bins=256)
    p = hist / max(hist.sum(), 1)
    w0 = np.cumsum(p)
    mu = np.cumsum(p * edges[:-1])
    between = (mu[-1] * w0 - mu) ** 2 / np.maximum(w0 * (1 - w0), 1e-12)
    return float(edges[int(np.argmax(between[:-1])) + 1])


def ink_map(g: np.ndarray) -> np.ndarray:
    """(H, W) gray -> (h, w) float32 in [0, 1]: ink bright, paper 0, at a working size of <= 512 px."""
    h, w = g.shape
    s = min(1.0, WORK_SIDE / max(h, w))
    if s < 1:
        g = _resize(g, max(1, round(h * s)), max(1, round(w * s)))
    side = max(g.shape)
    # Polarity: strokes stick out of the local median on one side only; noise is symmetric.
    d = g - _paper(g, lambda a, k: _window(a, k, np.median))
    floor = 3 * _noise(d) + 0.02
    dark_ink = np.abs(d[d < -floor]).sum() > d[d > floor].sum()
    x = 1 - g if dark_ink else g  # ink bright from here on
    # Paper shade: a morphological opening (min then max) removes strokes narrower than k, whatever the
    # lighting; the box mean smooths its blocks. Subtracting it flattens grey or unevenly lit paper.
    d = x - _paper(x, lambda a, k: _window(_window(_window(a, k, np.min), k, np.max), k, np.mean))
    if side >= 96:  # strokes are several pixels wide here; a 3x3 mean cuts pixel noise by 3
        d = _window(d, 3, np.mean)
    sigma = _noise(d)
    ink = np.clip(d - np.median(d), 0, None)  # the paper (most pixels) at 0 whatever the opening's bias
    if ink.max() >= 4 * sigma:
        ink = _drop_margins(ink, ink > max(4 * sigma, 0.1 * float(ink.max())))
    peak = float(ink.max())
    if peak < max(0.08, 6 * sigma):
        raise NoDigitError("no digit found: the image is blank")
    t = max(_otsu(ink[ink > 0]) if (ink > 0).sum() > 1 else 0.0, 0.2 * peak, 4 * sigma)
    mask = ink > t
    core = float(np.median(ink[mask]))  # typical stroke intensity -> 1.0, as MNIST's stroke cores are
    lo = 0.5 * t
    val = np.clip((ink - lo) / max(core - lo, 1e-6), 0, 1)
    # Keep only ink near the thresholded strokes, so faint paper texture between them stays black.
    near = _window(mask.astype(np.float32), 3, np.max) > 0
    return (val * near).astype(np.float32)


def _border_connected(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool -> the pixels of mask connected (8-way) to the image border, on a <= 128 px grid."""
    f = max(1, -(-max(mask.shape) // 128))  # pooling factor: keeps the flood fill's loop short
    h, w = -(-mask.shape[0] // f), -(-mask.shape[1] // f)
    pooled = np.zeros((h * f, w * f), bool)
    pooled[: mask.shape[0], : mask.shape[1]] = mask
    pooled = pooled.reshape(h, f, w, f).any(axis=(1, 3))  # (h, w)
    seen = np.zeros_like(pooled)
    seen[[0, -1], :], seen[:, [0, -1]] = pooled[[0, -1], :], pooled[:, [0, -1]]
    while True:  # geodesic dilation: grow from the border, only through ink
        p = np.pad(seen, 1)
        rows = p[:-2] | p[1:-1] | p[2:]  # the 3x3 maximum, separably
        grown = (rows[:, :-2] | rows[:, 1:-1] | rows[:, 2:]) & pooled
        if np.array_equal(grown, seen):
            break
        seen = grown
    return np.repeat(np.repeat(seen, f, 0), f, 1)[: mask.shape[0], : mask.shape[1]] & mask


def _drop_margins(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W) ink -> the same with a table, paper edge or shadow along the picture's border zeroed.

    Such margins run along a good part of a side (>= 1/4), where a digit's stroke meets the border for a
    stroke's width. They go only if ink away from the border remains (>= 2% of the mass: the digit), so a
    tightly cropped digit, whose every stroke may touch the border, is kept whole.
    """
    edge = _border_connected(mask)  # (H, W) bool
    if not edge.any():
        return ink
    contact = max(edge[[0, -1], :].sum(1).max() / mask.shape[1], edge[:, [0, -1]].sum(0).max() / mask.shape[0])
    if contact < 0.25 or float(ink[mask & ~edge].sum()) < 0.02 * float(ink[mask].sum()):
        return ink
    fringe = _window(edge.astype(np.float32), 5, np.max) > 0  # with its anti-aliased rim
    return np.where(fringe, 0, ink).astype(np.float32)


def _bbox(v: np.ndarray, trim: float = 0.002) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) holding all but `trim` of the ink mass at each side: drops stray specks."""

    def span(profile):
        c = np.cumsum(profile) / profile.sum()
        return int(np.searchsorted(c, trim)), int(np.searchsorted(c, 1 - trim)) + 1

    top, bottom = span(v.sum(1))
    left, right = span(v.sum(0))
    return top, bottom, left, right


def fit_and_centre(v: np.ndarray) -> np.ndarray:
    """(h, w) ink map -> (28, 28): cropped to the ink, fitted in 20x20 keeping aspect, mass at the centre."""
    top, bottom, left, right = _bbox(v)
    crop = v[top:bottom, left:right]
    h, w = crop.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    digit = np.clip(_resize(crop, nh, nw, Image.Resampling.LANCZOS), 0, 1)  # (nh, nw), anti-aliased
    if digit.sum() <= 0:
        raise NoDigitError("no digit found: the image is blank")
    ys, xs = np.arange(nh), np.arange(nw)
    cy = float((digit.sum(1) * ys).sum() / digit.sum())
    cx = float((digit.sum(0) * xs).sum() / digit.sum())
    oy = int(np.clip(round(CENTRE - cy), 0, FIELD - nh))
    ox = int(np.clip(round(CENTRE - cx), 0, FIELD - nw))
    out = np.zeros((FIELD, FIELD), dtype=np.float32)
    out[oy : oy + nh, ox : ox + nw] = digit
    return np.round(out * 255) / np.float32(255)  # 8-bit levels, so a saved PNG is exactly the input


def preprocess(img: Image.Image) -> np.ndarray:
    """Pillow image -> (28, 28) float32 in [0, 1], white digit on black, MNIST-style."""
    g = to_gray(img)
    if is_mnist_form(g):
        return g
    if g.size == 0 or float(g.max() - g.min()) < 1e-3:
        raise NoDigitError("no digit found: the image is blank")
    return fit_and_centre(ink_map(g))


def load_digit(source: str | Path | bytes, name: str | None = None) -> np.ndarray:
    """A file's path or bytes -> (28, 28) float32 input; errors name the file."""
    name = name or (str(source) if isinstance(source, (str, Path)) else "image")
    img = open_image(source, name)
    try:
        return preprocess(img)
    except MnistlabError as e:
        raise type(e)(f"{name}: {e}") from None


def to_png(x: np.ndarray) -> bytes:
    """(28, 28) float in [0, 1] -> 8-bit grayscale PNG bytes (lossless for preprocess's output)."""
    buf = io.BytesIO()
    Image.fromarray(np.round(x * 255).astype(np.uint8), "L").save(buf, format="PNG")
    return buf.getvalue()
