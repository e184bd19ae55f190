"""The MNIST frontier as one picture: final-epoch test accuracy against parameters (log scale).

    python results/frontier.py            # writes docs/frontier.png and docs/frontier.json
    python results/frontier.py --check    # exit 1 if docs/frontier.json differs from the committed runs

Every shipped MNIST class and every rerun source network is a point at its mean over seeds 0-4, with a bar
from its worst to its best seed, read from results/<name>/repeat.json and seed0/model.json. The public
figures at each size (single runs, as published) are hollow markers. Fashion-MNIST (fashion-20k) is
another data set and stays out of this picture. docs/frontier.json holds the plotted numbers, so
tests/test_frontier.py can check the picture against the committed runs without comparing pixels.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["mnist-2k", "mnist-5k", "mnist-8k", "mnist-20k"]
REFS = ["ref1", "ref2", "ref3", "ref4"]
# Published single runs (best or final epoch as reported): the source notebooks' own claims, and the best
# public figures under 8k and 5k parameters (docs/results.md, "Against public figures").
PUBLIC = [
    ("ref1's notebook (final)", 14320, 99.43),
    ("ref2's notebook (epoch 9)", 19378, 99.44),
    ("ref3's notebook (final)", 7776, 99.40),
    ("ref4's notebook", 17466, 99.48),
    ("public, 15 epochs (final)", 7918, 99.50),
    ("public, 50 epochs", 4862, 99.07),
]
# Where each label sits (points of offset, alignment), so that no two overlap.
LABELS = {
    "ref1's notebook (final)": ((-8, 3), "right"),
    "ref2's notebook (epoch 9)": ((8, -3), "left"),
    "ref3's notebook (final)": ((8, -12), "left"),
    "ref4's notebook": ((-8, 9), "right"),
    "public, 15 epochs (final)": ((8, -3), "left"),
    "public, 50 epochs": ((8, -3), "left"),
}


def points() -> dict:
    """{"measured": [{name, params, mean, min, max, seeds}], "public": [{name, params, acc}]}"""
    measured = []
    for name in SHIPPED + REFS:
        repeat = json.loads((ROOT / "results" / name / "repeat.json").read_text())
        n = json.loads((ROOT / "results" / name / "seed0" / "model.json").read_text())["params"]
        acc = repeat["final_test_acc"]
        measured.append({"name": name, "params": n, "mean": acc["mean"], "min": acc["min"], "max": acc["max"],
                         "seeds": acc["n"]})  # fmt: skip
    public = [{"name": label, "params": n, "acc": acc} for label, n, acc in PUBLIC]
    return {"measured": measured, "public": public}


def draw(data: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.5, 5.2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for p in data["measured"]:
        ours = p["name"] in SHIPPED
        color = "tab:blue" if ours else "tab:gray"
        err = [[p["mean"] - p["min"]], [p["max"] - p["mean"]]]
        ax.errorbar(p["params"], p["mean"], yerr=err, fmt="o", color=color, capsize=4, ms=7)
        ax.annotate(p["name"], (p["params"], p["mean"]), textcoords="offset points", xytext=(7, 4), fontsize=9)
    for p in data["public"]:
        ax.plot(p["params"], p["acc"], marker="D", mfc="none", mec="tab:red", ls="none", ms=7)
        offset, align = LABELS[p["name"]]
        ax.annotate(p["name"], (p["params"], p["acc"]), textcoords="offset points", xytext=offset, fontsize=8,
                    color="tab:red", ha=align)  # fmt: skip
    ax.axhline(99.4, color="k", lw=0.8, ls="--")
    ax.text(1550, 99.41, "the exercise: 99.4%", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(1500, 30000)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("final-epoch test accuracy (%)")
    ax.set_title(
        "MNIST: mnistlab's classes (blue) and the rerun source networks (gray), mean of 5 seeds, bar = worst to "
        "best seed;\npublished single runs (red diamonds)",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str]) -> int:
    data = points()
    target = ROOT / "docs" / "frontier.json"
    text = json.dumps(data, indent=2) + "\n"
    if "--check" in argv:
        ok = target.is_file() and target.read_text() == text
        print("docs/frontier.json matches the committed runs" if ok else "docs/frontier.json is stale: rerun")
        return 0 if ok else 1
    target.write_text(text)
    draw(data, ROOT / "docs" / "frontier.png")
    print(f"wrote {target.relative_to(ROOT)} and docs/frontier.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
