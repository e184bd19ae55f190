import json

from ..models import count_params, create_model, list_models, model_entry
from .common import print_table


def add(sub):
    p = sub.add_parser("models", help="list the registered models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(ns):
    rows = []
    for name in list_models():
        e = model_entry(name)
        rows.append(
            {"name": name, "params": count_params(create_model(name)), "description": e.description, "config": e.config}
        )
    if ns.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(
            [[r["name"], f"{r['params']:,}", r["description"]] for r in rows], ["name", "params", "description"]
        )
