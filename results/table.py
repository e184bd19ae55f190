"""Print the README's results tables from results/*/repeat.json and tta.json: python results/table.py

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


def verdict(name: str, acc: dict) -> str:
    """' ✔' / ' ✘' against the class's target ({"mean", "min"} in percent); '' for the refs."""
    if name == "mnist-8k":
        return " ✔" if acc["mean"] >= 99.45 and acc["min"] >= 99.40 else " ✘"
    if name in TARGETS:
        return " ✔" if acc["mean"] >= float(TARGETS[name].split("≥ ")[1].rstrip("%")) else " ✘"
    return ""


def row(name: str) -> str | None:
    path = HERE / name / "repeat.json"
    if not path.exists():
        return None
    r = json.loads(path.read_text())
    acc, seeds = r["final_test_acc"], r["seeds"]
    params = json.loads((HERE / name / "seed0" / "model.json").read_text())["params"]
    secs = sorted(s["seconds"] for s in seeds)
    threads = r["machine"]["threads"]
    # The processor the seeds were timed on: rows come from different sessions' machines, so times compare
    # only within a row (or between rows of one processor).
    cpu = r["machine"].get("processor", "?").replace("Intel(R) ", "").replace("(R)", "").replace(" Processor", "")
    per_seed = ", ".join(f"{s['final_test_acc']:.2f}" for s in seeds)
    target = TARGETS.get(name, "notebook's recipe")
    met = verdict(name, acc)
    return (
        f"| `{name}` | {params:,} | {seeds[0]['epochs']} | {target}{met} | **{acc['mean']:.2f}% ± {acc['std']:.2f}** "
        f"| {acc['min']:.2f}% | {per_seed} | {secs[0]:.0f}–{secs[-1]:.0f} s ({threads} thread{'s' * (threads > 1)}, {cpu}) "
        f"| `{r['command']}` |"
    )


def tta_row(name: str) -> str | None:
    """The same seeds' test accuracy with test-time augmentation (results/tta.py), beside the plain mean."""
    path = HERE / name / "tta.json"
    if not path.exists():
        return None
    t, plain = json.loads(path.read_text()), json.loads((HERE / name / "repeat.json").read_text())["final_test_acc"]
    acc = t["test_acc_tta"]
    met = verdict(name, acc)
    per_seed = ", ".join(f"{s['test_acc_tta']:.2f}" for s in t["seeds"])
    return (
        f"| `{name}` | {plain['mean']:.2f}% | {TARGETS.get(name, 'notebook recipe')}{met} | "
        f"`{t['tta']}` ({len(t['views'])}) | **{acc['mean']:.2f}% ± {acc['std']:.2f}** | {acc['min']:.2f}% | {per_seed} | "
        f"`{t['command']}` |"
    )


if __name__ == "__main__":
    print("| class | params | epochs | target | mean ± std | min | per seed (0–4) | time per run | command |")
    print("|---|---:|---:|---|---:|---:|---|---:|---|")
    for name in ORDER:
        line = row(name)
        print(line if line else f"| `{name}` | | | {TARGETS.get(name, '')} | not run yet | | | | |")
    print()
    print("| class | plain mean | target | TTA views (n) | with TTA | min | per seed (0–4) | command |")
    print("|---|---:|---|---|---:|---:|---|---|")
    for name in ORDER:
        line = tta_row(name)
        if line:
            print(line)
