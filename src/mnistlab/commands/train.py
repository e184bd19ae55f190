from ..config import load_config
from ..train import train
from .common import add_data_flags


def add(sub):
    p = sub.add_parser("train", help="train a model and write a run directory")
    add_train_flags(p)
    p.add_argument("--out", default=None, help="run directory (default runs/<YYYYmmdd-HHMMSS>-<model>)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--quiet", action="store_true", help="no epoch lines on stdout (log.txt still has them)")
    p.set_defaults(func=run)


def add_train_flags(p):
    p.add_argument("--config", default=None, help="preset name (ref1, ...) or a TOML/JSON file")
    p.add_argument("--model", default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--val-size", type=int, default=None, help="hold out this many training images for validation")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"])
    add_data_flags(p)


def config_from_flags(ns):
    overrides = {
        "model": ns.model,
        "epochs": ns.epochs,
        "batch_size": ns.batch_size,
        "lr": ns.lr,
        "seed": ns.seed,
        "max_steps": ns.max_steps,
        "val_size": ns.val_size,
        "threads": ns.threads,
        "device": ns.device,
        "dataset": ns.dataset,
    }
    return load_config(ns.config, overrides)


def run(ns):
    cfg = config_from_flags(ns)
    result = train(cfg, out=ns.out, data_dir=ns.data_dir, overwrite=ns.overwrite, quiet=ns.quiet)
    print(f"Run saved in {result.run_dir}")
