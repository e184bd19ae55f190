import json

from ..use.export import FORMATS, Parity, export_model
from .common import add_data_flags, add_trust_flag


def add(sub):
    p = sub.add_parser("export", help="export a run's model to ONNX or TorchScript, with a parity check")
    p.add_argument("run_dir")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", required=True, metavar="FILE", help="file to write (.onnx or .pt)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--json", action="store_true")
    add_data_flags(p)
    add_trust_flag(p)
    p.set_defaults(func=run)


def run(ns):
    r = export_model(ns.run_dir, ns.format, ns.out, ns.overwrite, ns.dataset, ns.data_dir, trust_code=ns.trust_code)
    if ns.json:
        print(json.dumps(r, indent=2))
        return
    parity = Parity(**{k: v for k, v in r["parity"].items() if k != "ok"})
    print(f"Exported {ns.run_dir} as {r['format']} to {r['out']} ({r['bytes']:,} bytes)")
    print(f"Parity with the eager model: {parity.describe()}")
