import json
import sys

from ..inspection.runs import COLUMNS, DESCENDING, list_runs
from .common import print_table


def add(sub):
    p = sub.add_parser("runs", help="compare the runs under a folder, one row each")
    p.add_argument("dir", nargs="?", default="runs", help="folder to search (default runs/)")
    p.add_argument(
        "--sort", default="date", choices=COLUMNS, help=f"column; {', '.join(sorted(DESCENDING))} sort best first"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(ns):
    rows, skipped = list_runs(ns.dir, ns.sort)
    for s in skipped:
        print(f"skipped {s}", file=sys.stderr)
    if ns.json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print(f"no runs under {ns.dir}")
        return
    pct = lambda v: "-" if v is None else f"{v:.2f}%"  # noqa: E731
    table = [
        [
            r["name"],
            r["model"],
            f"{r['params']:,}" if r["params"] is not None else "?",
            r["epochs"],
            pct(r["best"]),
            pct(r["final"]),
            pct(r["last3"]),
            f"{r['seconds']:.1f}",
            r["date"],
        ]
        for r in rows
    ]
    print_table(table, ["run", "model", "params", "epochs", "best", "final", "min last 3", "seconds", "date"])
