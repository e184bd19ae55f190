import json
from pathlib import Path

from ..data import verified as data
from ..data.verified import carve_validation
from ..errors import MnistlabError
from ..inspection.tta import VIEWS, evaluate_tta
from ..training.rundir import load_model, read_json
from .common import add_data_flags, add_trust_flag


def add(sub):
    p = sub.add_parser("eval", help="evaluate a run's model on the test set (or on the validation split it held out)")
    p.add_argument("run_dir")
    add_data_flags(p)
    p.add_argument(
        "--split",
        choices=["test", "val"],
        default="test",
        help="val: the images the run held out of the training set (its config.json's val_size), to tune on",
    )
    p.add_argument(
        "--tta",
        choices=list(VIEWS),
        default="none",
        help="average over fixed views: 1-px shifts, +-6 deg rotations, mirror images (Fashion-MNIST)",
    )
    p.add_argument("--json", action="store_true")
    add_trust_flag(p)
    p.set_defaults(func=run)


def run(ns):
    run_dir = Path(ns.run_dir)
    meta = read_json(run_dir / "model.json")
    model = load_model(run_dir, trust_code=ns.trust_code)  # a run of user code is refused before data loads
    dataset = ns.dataset or meta.get("dataset", "mnist")
    if ns.split == "val":
        val_size = int(read_json(run_dir / "config.json").get("val_size", 0))
        if val_size == 0:
            raise MnistlabError(f"{run_dir} held out no validation images (val_size 0); use --split test")
        _, split = carve_validation(data.load_split(dataset, True, ns.data_dir), val_size)
    else:
        split = data.load_split(dataset, False, ns.data_dir)
    norm = meta.get("normalize", {})
    r = evaluate_tta(model, split, norm.get("mean", 0.1307), norm.get("std", 0.3081), VIEWS[ns.tta])
    if ns.json:
        print(json.dumps(r.to_dict() | {"split": ns.split, "tta": ns.tta}))
    else:
        tta = "" if ns.tta == "none" else f" (TTA {ns.tta}: {len(VIEWS[ns.tta])} views)"
        print(
            f"{run_dir}: {dataset} {ns.split} loss {r.loss:.4f}, "
            f"Accuracy: {r.correct}/{r.total} ({100 * r.accuracy:.2f}%){tta}"
        )
