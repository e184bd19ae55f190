import json
import sys

from ..use.predict import predict_files
from .common import add_trust_flag


def add(sub):
    p = sub.add_parser("predict", help="predict the digit in image files (photos, scans, PNGs)")
    p.add_argument("images", nargs="+", metavar="IMAGE|FOLDER", help="image files, or folders of them")
    p.add_argument("--run", default=None, metavar="RUN_DIR", help="run directory (default: the shipped model)")
    p.add_argument("--top-k", type=int, default=3, help="how many classes to list per image (default 3)")
    p.add_argument("--json", action="store_true", help="a JSON list, one object per image")
    p.add_argument("--save-preprocessed", default=None, metavar="DIR", help="write each 28x28 input as a PNG")
    add_trust_flag(p)
    p.set_defaults(func=run)


def run(ns):
    results = predict_files(
        ns.images, ns.run, top_k=ns.top_k, save_preprocessed=ns.save_preprocessed, trust_code=ns.trust_code
    )
    if ns.json:
        print("[\n" + ",\n".join(json.dumps(r) for r in results) + "\n]")  # a JSON list, one image a line
    else:
        for r in results:
            if "error" in r:
                print(f"{r['file']}: error: {r['error']}", file=sys.stderr)
                continue
            top = "  ".join(f"{label} {100 * p:.1f}%" for label, p in r["top_k"])
            print(f"{r['file']}: {r['label']} ({100 * r['confidence']:.1f}%)  top-{len(r['top_k'])}: {top}")
    return 1 if any("error" in r for r in results) else 0
