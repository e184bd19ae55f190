import json

from ..inspection.budget import check, resolve_budget, verdict_lines
from .common import add_trust_flag


def add(sub):
    p = sub.add_parser("check", help="the budget verdict of a run or a model: one PASS/FAIL row per rule")
    p.add_argument("target", metavar="RUN_DIR|MODEL|FILE.py:Name")
    add_trust_flag(p)
    p.add_argument("--max-params", type=int, default=None, help="default: the run's budget, else 20000")
    p.add_argument("--max-epochs", type=int, default=None, help="default: the run's budget, else 19")
    p.add_argument("--min-acc", type=float, default=None, help="percent; default: the run's budget, else 99.4")
    p.add_argument("--require", default=None, help="comma list of batchnorm,dropout,gap ('' for none)")
    p.add_argument("--last-k", type=int, default=None, help="consistency over the last K epochs (default 3)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(ns):
    require = None if ns.require is None else [c.strip() for c in ns.require.split(",") if c.strip()]
    overrides = {
        "max_params": ns.max_params,
        "max_epochs": ns.max_epochs,
        "min_acc": ns.min_acc,
        "require": require,
        "last_k": ns.last_k,
    }
    v = check(ns.target, resolve_budget(ns.target, overrides), trust_code=ns.trust_code)
    if ns.json:
        print(json.dumps(v.to_dict(), indent=2))
    else:
        print("\n".join(verdict_lines(v)))
    return 0 if v.passed else 1
