import json

from ..inspection.summary import load_target, summarize
from .common import add_trust_flag


def add(sub):
    p = sub.add_parser("summary", help="layer table of a model or a run: shapes, params, MACs, receptive fields")
    p.add_argument("target", metavar="MODEL|FILE.py:Name|RUN_DIR")
    add_trust_flag(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(ns):
    model, label, input_shape = load_target(ns.target, ns.trust_code)
    s = summarize(model, label, input_shape)
    print(json.dumps(s.to_dict(), indent=2) if ns.json else s)
