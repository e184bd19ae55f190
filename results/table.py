"""Print the README's results table from results/*/repeat.json: python results/table.py

Each row is read from one repeat.json (per-seed final-epoch test accuracy, mean, std, min, time per run)
and the parameter count from seed0's model.json, so the table cannot drift from the committed runs.
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
ORDER = ["mnist-5k", "mnist-8k", "mnist-20k", "fashion-20k", "ref1", "ref2", "ref3", "ref4"]
TARGETS = {
    "mnist-5k": "mean ≥ 99.40%",
    "mnist-8k": "mean ≥ 99.45%, every seed ≥ 99.40%",
    "mnist-20k": "mean ≥ 99.60%",
    "fashion-20k": "mean ≥ 92.5%",
}


def row(name: str) -> str | None:
    path = HERE / name / "repeat.json"
    if not path.exists():
        return None
    r = json.loads(path.read_text())
    acc, seeds = r["final_test_acc"], r["seeds"]
    params = json.loads((HERE / name / "seed0" / "model.json").read_text())["params"]
    secs = sorted(s["seconds"] for s in seeds)
    threads = r["machine"]["threads"]
    per_seed = ", ".join(f"{s['final_test_acc']:.2f}" for s in seeds)
    target = TARGETS.get(name, "notebook's recipe")
    met = ""
    if name == "mnist-8k":
        met = " ✔" if acc["mean"] >= 99.45 and acc["min"] >= 99.40 else " ✘"
    elif name in TARGETS:
        met = " ✔" if acc["mean"] >= float(target.split("≥ ")[1].rstrip("%")) else " ✘"
    return (
        f"| `{name}` | {params:,} | {seeds[0]['epochs']} | {target}{met} | **{acc['mean']:.2f}% ± {acc['std']:.2f}** "
        f"| {acc['min']:.2f}% | {per_seed} | {secs[0]:.0f}–{secs[-1]:.0f} s ({threads} thread{'s' * (threads > 1)}) "
        f"| `{r['command']}` |"
    )


if __name__ == "__main__":
    print("| class | params | epochs | target | mean ± std | min | per seed (0–4) | time per run | command |")
    print("|---|---:|---:|---|---:|---:|---|---:|---|")
    for name in ORDER:
        line = row(name)
        print(line if line else f"| `{name}` | | | {TARGETS.get(name, '')} | not run yet | | | | |")
