from ..inspection.budget import verdict_hook
from ..training.config import load_config
from ..training.train import train
from .common import add_data_flags, add_trust_flag


def add(sub):
    p = sub.add_parser("train", help="train a model and write a run directory")
    add_train_flags(p)
    p.add_argument("--out", default=None, help="run directory (default runs/<YYYYmmdd-HHMMSS>-<model>)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no epoch lines on stdout (log.txt still has them)")
    p.add_argument("--no-report", action="store_true", help="skip report.md/.html and its plots at the end")
    add_trust_flag(p)
    p.set_defaults(func=run)


def add_train_flags(p):
    p.add_argument("--config", default=None, help="preset name (ref1, ...) or a TOML/JSON file")
    p.add_argument("--model", default=None, help="a registered name, FILE.py:Name or package.module:Name")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--val-size", type=int, default=None, help="hold out this many training images for validation")
    p.add_argument(
        "--hold-test", action="store_true", default=None,
        help="with --val-size: never evaluate the test set during the run (val-only tuning)",
    )  # fmt: skip
    p.add_argument("--eval-every", type=int, default=None, metavar="K",
                   help="evaluate after every K-th epoch and after the last (0: the last only; default 1)")  # fmt: skip
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config key, VALUE in TOML (a bare word is a string): --set weight_decay=1e-4 "
        "--set 'augment={rotation = 7.0}'; repeatable",
    )
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
        "hold_test": getattr(ns, "hold_test", None),
        "eval_every": ns.eval_every,
        "threads": ns.threads,
        "device": ns.device,
        "dataset": ns.dataset,
    }
    return load_config(ns.config, overrides | parse_sets(getattr(ns, "set", [])))


def parse_sets(items: list[str]) -> dict:
    """`--set KEY=VALUE` pairs -> overrides; lets `mnistlab sweep --show` print a self-contained command."""
    import tomllib

    from ..errors import MnistlabError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MnistlabError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value  # not TOML: a bare word such as --set optimizer=adam
    return out


def run(ns):
    if ns.resume:
        from ..training.train import resume_config

        cfg = resume_config(ns.resume)
        result = train(cfg, out=ns.resume, data_dir=ns.data_dir, quiet=ns.quiet, resume=True, trust_code=ns.trust_code,
                       on_end=verdict_hook(cfg.budget))  # fmt: skip
        print(f"Run saved in {result.run_dir}")
        return write_report_unless(ns, result.run_dir, result.model, result.test_outputs)
    cfg = config_from_flags(ns)
    result = train(cfg, out=ns.out, data_dir=ns.data_dir, overwrite=ns.overwrite, quiet=ns.quiet,
                   on_end=verdict_hook(cfg.budget))  # fmt: skip
    print(f"Run saved in {result.run_dir}")
    write_report_unless(ns, result.run_dir, result.model, result.test_outputs)


def write_report_unless(ns, run_dir, model=None, test_outputs=None) -> None:
    """The report after training unless --no-report; a report that fails must not fail the finished run."""
    if getattr(ns, "no_report", False):
        return
    import sys

    from ..errors import MnistlabError
    from ..inspection.report import write_report
    from ..training.rundir import read_json

    if read_json(run_dir / "config.json").get("hold_test"):
        print("No report: the test set was held back (hold_test)")
        return

    try:
        print(f"Report written: {write_report(run_dir, data_dir=ns.data_dir, model=model, test_outputs=test_outputs)}")
    except MnistlabError as e:
        print(f"mnistlab: warning: no report: {e}", file=sys.stderr)
