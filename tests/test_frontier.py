"""The frontier picture (docs/frontier.png) is drawn from the committed runs: its numbers (docs/frontier.json)
must equal what results/frontier.py reads from results/*/repeat.json now."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_frontier_numbers_match_the_committed_runs():
    r = subprocess.run([sys.executable, "results/frontier.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads((ROOT / "docs" / "frontier.json").read_text())
    names = {p["name"] for p in data["measured"]}
    assert {"mnist-5k", "mnist-8k", "mnist-20k", "ref1", "ref2", "ref3", "ref4"} <= names
    for p in data["measured"]:
        assert p["min"] <= p["mean"] <= p["max"] and p["seeds"] == 5
    assert (ROOT / "docs" / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
