"""Preprocessing: synthetic digits of every polarity, size, place and paper -> centred MNIST-style 28x28."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnistlab.use.preprocess import (
    ImageError,
    NoDigitError,
    load_digit,
    open_image,
    preprocess,
    to_png,
)


def seven(size=(200, 160), box=(40, 30, 140, 150), width=12, ink=0, paper=255, mode="L") -> Image.Image:
    """A '7' (bar and diagonal) drawn in `box` (left, top, right, bottom) on a canvas of `size` (w, h)."""
    img = Image.new(mode, size, paper)
    d = ImageDraw.Draw(img)
    left, top, right, bottom = box
    d.line([(left, top), (right, top), (left + (right - left) // 3, bottom)], fill=ink, width=width, joint="curve")
    return img


def png_bytes(img: Image.Image, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def grey_noisy_paper(img: Image.Image, seed=0) -> Image.Image:
    """Dark-on-white -> ink on grey paper lit from the left (0.75 -> 0.4) with pixel noise (sd 0.06)."""
    a = np.asarray(img, np.float32) / 255
    h, w = a.shape
    light = np.linspace(0.75, 0.4, w)[None, :]  # (1, W): unevenly lit
    rng = np.random.default_rng(seed)
    out = light * (0.15 + 0.85 * a) + rng.normal(0, 0.06, a.shape)
    return Image.fromarray(np.clip(out * 255, 0, 255).astype(np.uint8), "L")


def rgba(strokes_white: bool) -> Image.Image:
    """Strokes on a fully transparent layer (the RGB under it is the opposite shade, to mislead)."""
    ink = (255, 255, 255, 255) if strokes_white else (0, 0, 0, 255)
    under = (0, 0, 0, 0) if strokes_white else (255, 255, 255, 0)
    img = Image.new("RGBA", (200, 160), under)
    ImageDraw.Draw(img).line([(40, 30), (140, 30), (73, 150)], fill=ink, width=12)
    return img


def on_table(img: Image.Image) -> Image.Image:
    """The paper photographed with a dark table showing along the left and bottom edges."""
    a = np.asarray(img).copy()
    a[:, :25], a[-20:, :] = 40, 40
    return Image.fromarray(a)


CASES = {
    "dark_on_light": seven(),
    "light_on_dark": seven(ink=255, paper=0),
    "off_centre": seven(size=(400, 300), box=(300, 190, 390, 290)),
    "tiny": seven(size=(120, 120), box=(10, 100, 16, 110), width=2),
    "huge": seven(size=(2400, 1800), box=(500, 200, 1700, 1700), width=150),
    "rgba_dark_strokes": rgba(strokes_white=False),
    "rgba_white_strokes": rgba(strokes_white=True),
    "grey_noisy_uneven": grey_noisy_paper(seven()),
    "tight_crop": seven(size=(112, 132), box=(6, 6, 106, 126)),  # the bar touches the top edge
    "table_at_edges": on_table(seven(size=(300, 240), box=(110, 50, 200, 200))),
    "rgb_jpeg": Image.open(io.BytesIO(png_bytes(seven().convert("RGB"), "JPEG"))),
}


def centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[0:28, 0:28]
    return float((ys * x).sum() / x.sum()), float((xs * x).sum() / x.sum())


@pytest.mark.parametrize("name", list(CASES))
def test_synthetic_digit_becomes_centred_mnist_input(name):
    x = preprocess(CASES[name])
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() == 1.0  # white ink, stroke cores saturated as in MNIST
    assert (x > 0.05).mean() < 0.3  # a thin stroke on black, no paper texture or specks left
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1, (cy, cx)
    rows, cols = np.nonzero((x > 0.1).any(1))[0], np.nonzero((x > 0.1).any(0))[0]
    assert rows[-1] - rows[0] + 1 in (19, 20, 21)  # the '7' is taller than wide: its height fills 20 px
    assert cols[-1] - cols[0] + 1 < rows[-1] - rows[0] + 1  # aspect ratio kept, not stretched square


def test_same_digit_same_input_whatever_the_paper():
    """Polarity, lighting and noise are undone: the clean and the grey noisy versions nearly coincide."""
    clean, noisy = preprocess(CASES["dark_on_light"]), preprocess(CASES["grey_noisy_uneven"])
    inverse = preprocess(CASES["light_on_dark"])
    assert np.abs(clean - inverse).max() < 1e-6
    assert np.corrcoef(clean.ravel(), noisy.ravel())[0, 1] > 0.9  # observed 0.95


def test_mnist_form_is_used_as_is():
    rng = np.random.default_rng(0)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = rng.integers(128, 256, (16, 4))  # a '1' already white on black, 28x28
    x = preprocess(Image.fromarray(digit))
    assert np.array_equal(x, digit.astype(np.float32) / 255)  # bit-exact: the values eval would use
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(to_png(x)))), digit)  # and the PNG round-trips


def test_sixteen_bit_image():
    img = Image.fromarray(np.asarray(seven(), np.uint16) * 257)
    assert img.mode == "I;16"
    assert centre_of_mass(preprocess(img)) == pytest.approx((14, 14), abs=1)


BAD = {
    "empty file": (b"", NoDigitError, "empty file"),
    "text": (b"hello, not an image\n", ImageError, "not an image Pillow can read"),
    "truncated png": (png_bytes(seven())[:200], ImageError, "not an image Pillow can read"),
    "blank white": (png_bytes(Image.new("L", (100, 80), 255)), NoDigitError, "blank"),
    "blank grey noise": (png_bytes(grey_noisy_paper(Image.new("L", (150, 150), 255))), NoDigitError, "blank"),
    "transparent": (png_bytes(Image.new("RGBA", (50, 50), (0, 0, 0, 0))), NoDigitError, "transparent"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_image_gets_its_error(name):
    data, kind, message = BAD[name]
    with pytest.raises(kind, match=message) as e:
        load_digit(data, name="x.png")
    assert str(e.value).startswith("x.png: ") and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(Exception, match="not found"):
        open_image(tmp_path / "nope.png")
