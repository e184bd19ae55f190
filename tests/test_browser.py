"""The draw-a-digit page in a real browser: Debian's Chromium driven by playwright, the server on a free port.

Draws a 1 and a 0 with mouse strokes, checks the labels the page shows, and saves docs/serve.png (the
screenshot the README embeds).
"""

import math
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; playwright's own download cannot work here
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "serve.png"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: install Debian's chromium (make sysdeps does, as root)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnistlab", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # the model loads before uvicorn listens; poll until it answers
            try:
                urllib.request.urlopen(f"{url}/api/model", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not start: {proc.stdout.read() if proc.poll() is not None else ''}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def page(server_url):
    from playwright import sync_api  # in requirements.txt; only the browser binary may be missing

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 820, "height": 470})
        page.goto(server_url)
        sync_api.expect(page.locator("#model")).to_contain_text("parameters")  # /api/model answered
        yield page
        browser.close()


def stroke(page, points: list[tuple[float, float]]) -> dict:
    """Press, move through `points` (canvas pixels), release; returns the /api/predict answer it caused."""
    box = page.locator("#pad").bounding_box()
    xy = [(box["x"] + x * box["width"] / 280, box["y"] + y * box["height"] / 280) for x, y in points]
    with page.expect_response("**/api/predict") as answer:
        page.mouse.move(*xy[0])
        page.mouse.down()
        for x, y in xy[1:]:
            page.mouse.move(x, y, steps=2)
        page.mouse.up()
    return answer.value.json()


def test_draw_a_one_then_a_zero(page):
    from playwright.sync_api import expect

    one = stroke(page, [(145, 45 + 10 * i) for i in range(20)])  # a vertical line, top to bottom
    expect(page.locator("#label")).to_have_text("1")
    assert one["label"] == 1
    expect(page.locator("#confidence")).to_contain_text("% confident")

    page.click("#clear")
    expect(page.locator("#label")).to_have_text("\u2013")
    ring = [(140 + 62 * math.sin(t), 140 - 92 * math.cos(t)) for t in (2 * math.pi * i / 40 for i in range(42))]
    zero = stroke(page, ring)  # an upright ellipse, closed
    expect(page.locator("#label")).to_have_text("0")
    assert zero["label"] == 0 and zero["confidence"] > 0.5
    # The bar of the winning class is the widest, and the 28x28 view shows the digit it saw.
    widths = [
        float(w.removesuffix("%")) for w in page.eval_on_selector_all(".fill", "els => els.map(e => e.style.width)")
    ]
    assert max(range(10), key=widths.__getitem__) == 0
    lit = page.evaluate(
        "Array.from(document.getElementById('input').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data).filter((v, i) => i % 4 == 0 && v > 128).length"
    )
    assert lit > 20
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
