"""Property tests (hypothesis) for the image preprocessing: whatever bytes or image arrive, `load_digit`
returns a (28, 28) float32 array in [0, 1] or raises the documented MnistlabError (ImageError for
unreadable or oversized files, NoDigitError for empty, blank or transparent ones) -- nothing else, and
a header claiming enormous dimensions is refused before anything of that size is allocated."""

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from mnistlab.errors import MnistlabError
from mnistlab.use.preprocess import MAX_PIXELS, ImageError, NoDigitError, load_digit, preprocess

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = ["L", "RGB", "RGBA", "I;16", "P", "1", "LA"]


def digit_or_documented_error(source) -> np.ndarray | None:
    """load_digit's answer: the array (checked) or None for a documented error; anything else fails."""
    try:
        x = load_digit(source, "probe") if not isinstance(source, Image.Image) else preprocess(source)
    except (ImageError, NoDigitError) as e:
        event(type(e).__name__)
        return None
    except MnistlabError as e:  # pragma: no cover - a MnistlabError of another kind is a contract change
        raise AssertionError(f"undocumented error type {type(e).__name__}: {e}") from None
    assert isinstance(x, np.ndarray) and x.shape == (28, 28) and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    event("(28, 28) digit")
    return x


def encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@st.composite
def images(draw, max_side: int = 160) -> Image.Image:
    """A random image: any listed mode, any size from 1x1 to max_side (or a few larger ones), holding noise,
    a flat colour, or a stroke (a polyline, contrasting or not) on a background of any shade and alpha,
    with or without pixel noise."""
    mode = draw(st.sampled_from(MODES))
    side = st.one_of(st.integers(1, max_side), st.sampled_from([1, 2, 27, 28, 29, 600, 1100]))
    w, h = draw(side), draw(side)
    kind = draw(st.sampled_from(["noise", "flat", "stroke", "contrasting stroke", "noisy contrasting stroke"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "noise":
        rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    else:
        rgba = np.empty((h, w, 4), np.uint8)
        rgba[:] = rng.integers(0, 256, 4, dtype=np.uint8)
    img = Image.fromarray(rgba, "RGBA")
    if "stroke" in kind:
        ink = rng.integers(0, 256, 4) if kind == "stroke" else [*(255 - rgba[0, 0, :3]), 255]
        points = [tuple(int(v) for v in rng.integers(0, [w, h])) for _ in range(int(rng.integers(2, 5)))]
        ImageDraw.Draw(img).line(points, fill=tuple(int(v) for v in ink), width=max(1, min(w, h) // 8))
    if kind.startswith("noisy"):
        noisy = np.asarray(img, np.int16) + rng.integers(-30, 31, (h, w, 4)).astype(np.int16)
        img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGBA")
    if mode == "I;16":  # 16-bit scans: the luminance spread over 0..65535
        lum = np.asarray(img.convert("L"), np.uint16) * 257
        return Image.frombytes("I;16", (w, h), lum.astype("<u2").tobytes())
    if mode == "P":
        return img.convert("RGB").quantize(colors=int(rng.integers(2, 17)))
    return img.convert(mode)


@settings(FAST, max_examples=150)
@given(st.binary(max_size=4096))
def test_random_bytes(data):
    digit_or_documented_error(data)


@settings(FAST, max_examples=40)
@given(st.binary(min_size=1, max_size=512))
def test_random_bytes_after_a_png_or_jpeg_signature(tail):
    """Past the format sniffing, into the decoders."""
    for head in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM"):
        digit_or_documented_error(head + tail)


@settings(FAST, max_examples=60)
@given(images(max_side=64), st.sampled_from(["PNG", "JPEG"]), st.data())
def test_truncated_files(img, fmt, data):
    if fmt == "JPEG" and img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    blob = encode(img, fmt)
    cut = data.draw(st.integers(0, len(blob) - 1))
    digit_or_documented_error(blob[:cut])


@settings(FAST, max_examples=80)
@given(images())
def test_any_mode_and_size_as_png(img):
    digit_or_documented_error(encode(img, "PNG"))


@settings(FAST, max_examples=30)
@given(images(max_side=64), st.sampled_from(["F", "I", "CMYK", "LA", "RGBa"]))
def test_any_mode_in_memory(img, mode):
    """Modes a file rarely holds but a caller of preprocess() may pass (float, 32-bit, CMYK, premultiplied)."""
    digit_or_documented_error(img.convert(mode) if mode != "RGBa" else img.convert("RGBA").convert("RGBa"))


def png_header_claiming(width: int, height: int, mode: int = 0) -> bytes:
    """PNG signature, an IHDR declaring width x height (colour type `mode`, 8 bits), a tiny IDAT, IEND."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real 8x8 JPEG whose SOF0 frame header is patched to declare width x height."""
    blob = bytearray(encode(Image.new("L", (8, 8), 128), "JPEG"))
    sof = blob.index(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    blob[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(blob)


def over_the_limit(largest_side: int):
    """(width, height) with width x height > MAX_PIXELS, each side <= largest_side, in either orientation."""
    low = MAX_PIXELS // largest_side + 1
    sizes = st.integers(low, largest_side).flatmap(
        lambda w: st.tuples(st.just(w), st.integers(MAX_PIXELS // w + 1, largest_side))
    )
    return st.tuples(sizes, st.booleans()).map(lambda t: t[0][::-1] if t[1] else t[0])


huge_png, huge_jpeg = over_the_limit(2**31 - 1), over_the_limit(65535)  # what each format can declare


@settings(FAST, max_examples=60)
@given(huge_png, st.sampled_from([0, 2, 4, 6]))
def test_png_claiming_huge_dimensions_is_refused(size, colour_type):
    with pytest.raises(ImageError, match="megapixels"):
        load_digit(png_header_claiming(*size, colour_type), "bomb.png")


@settings(FAST, max_examples=30)
@given(huge_jpeg)
def test_jpeg_claiming_huge_dimensions_is_refused(size):
    with pytest.raises(ImageError, match="megapixels"):
        load_digit(jpeg_claiming(*size), "bomb.jpg")


BOMBS = r"""
import resource, sys
from tests.test_preprocess_properties import png_header_claiming, jpeg_claiming
from mnistlab.use.preprocess import ImageError, load_digit
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
before = peak()
bombs = [png_header_claiming(w, h, 6) for w, h in ((100_000, 100_000), (2**31 - 1, 2**31 - 1), (9460, 9460))]
for blob in bombs + [jpeg_claiming(65535, 65535), jpeg_claiming(9460, 9460)]:
    try:
        load_digit(blob, "bomb")
    except ImageError as e:
        assert "megapixels" in str(e), e
    else:
        sys.exit("a bomb was accepted")
print(peak() - before)
"""


def test_huge_claims_allocate_nothing_of_their_size():
    """In a fresh process (a clean peak-memory mark): the classic 100000 x 100000 PNG, the largest PNG and
    JPEG headers, and 9460 x 9460 (just over the limit; 341 MiB as RGBA if decoded) move the peak < 20 MiB."""
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", BOMBS], capture_output=True, text=True, cwd=root, timeout=60)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) < 20


def test_just_under_the_limit_is_still_read():
    """The limit is Pillow's own warning threshold (~89 megapixels), far above any phone photo; a file at a
    tenth of it (a blank 3000 x 3000 page) is decoded and answered as blank, not refused."""
    page = encode(Image.new("L", (3000, 3000), 255), "PNG")
    with pytest.raises(NoDigitError):
        load_digit(page, "page.png")
