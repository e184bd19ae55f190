import json
from pathlib import Path

from .. import data
from ..evaluate import evaluate
from ..rundir import load_model, read_json
from .common import add_data_flags


def add(sub):
    p = sub.add_parser("eval", help="evaluate a run's model on the test set")
    p.add_argument("run_dir")
    add_data_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(ns):
    run_dir = Path(ns.run_dir)
    meta = read_json(run_dir / "model.json")
    dataset = ns.dataset or meta.get("dataset", "mnist")
    split = data.load_split(dataset, False, ns.data_dir)
    model = load_model(run_dir)
    norm = meta.get("normalize", {})
    r = evaluate(model, split, norm.get("mean", 0.1307), norm.get("std", 0.3081))
    if ns.json:
        print(json.dumps(r.to_dict()))
    else:
        print(f"{run_dir}: {dataset} test loss {r.loss:.4f}, Accuracy: {r.correct}/{r.total} ({100 * r.accuracy:.2f}%)")
