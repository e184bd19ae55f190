from ..inspection.report import write_report
from .common import add_trust_flag


def add(sub):
    p = sub.add_parser("report", help="write report.md and report.html (with plots) into a run directory")
    p.add_argument("run_dir")
    p.add_argument("--note", default=None, help="your analysis, shown under Analysis (kept in note.txt)")
    p.add_argument("--data-dir", default=None, help="folder of the run's IDX files (default: the cache)")
    add_trust_flag(p)
    p.set_defaults(func=run)


def run(ns):
    path = write_report(ns.run_dir, ns.note, ns.data_dir, trust_code=ns.trust_code)
    print(f"Report written: {path} and {path.with_suffix('.html')}")
