import shlex

from ..errors import MnistlabError
from ..inspection.budget import verdict_hook
from ..training.repeat import parse_seeds, repeat
from .common import print_table
from .train import add_train_flags, config_from_flags


def add(sub):
    p = sub.add_parser("repeat", help="train the same config over several seeds; mean ± std of final accuracy")
    add_train_flags(p)
    p.add_argument("--seeds", required=True, help="a count N (seeds 0..N-1) or a comma list such as 0,1,2")
    p.add_argument("--out", required=True, help="folder for seed<N>/ runs and repeat.json")
    p.add_argument("--overwrite", action="store_true", help="replace runs already in --out")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue: seeds already in --out with this config are read back or resumed from their checkpoint",
    )
    p.set_defaults(func=run, parser=p)


def command_line(ns) -> str:
    """The command as a user could type it again: every flag that differs from its default (not --resume:
    a resumed repeat ends as the same command run whole would)."""
    words = ["mnistlab", "repeat"]
    for a in ns.parser._actions:
        value = getattr(ns, a.dest, None)
        if not a.option_strings or a.dest in ("help", "resume") or value is None or value == a.default:
            continue
        flag = a.option_strings[-1]
        values = value if isinstance(value, list) else [value]  # --set KEY=VALUE repeats
        words += [flag] if value is True else [w for v in values for w in (flag, str(v))]
    return shlex.join(words)


def run(ns):
    if ns.seed is not None:
        raise MnistlabError("repeat takes --seeds (a count or a list), not --seed")
    seeds = parse_seeds(ns.seeds)
    cfg = config_from_flags(ns)
    steps = f", at most {cfg.max_steps} steps" if cfg.max_steps else ""
    print(f"Repeating {cfg.model} ({cfg.epochs} epochs{steps}) over seeds {', '.join(map(str, seeds))} into {ns.out}")
    show = lambda r: print(f"  seed {r['seed']}: final test accuracy {r['final_test_acc']:.2f}% in {r['seconds']:.1f}s")  # noqa: E731
    result = repeat(
        cfg, seeds, ns.out, ns.data_dir, command_line(ns), ns.overwrite, show, ns.resume, verdict_hook(cfg.budget)
    )
    rows = [[r["seed"], r["epochs"], f"{r['final_test_acc']:.2f}%", f"{r['seconds']:.1f}"] for r in result["seeds"]]
    print_table(rows, ["seed", "epochs", "final test acc", "seconds"])
    s = result["final_test_acc"]
    print(
        f"Final test accuracy over {s['n']} seeds: {s['mean']:.2f}% ± {s['std']:.2f} (std), "
        f"min {s['min']:.2f}%, max {s['max']:.2f}%; {result['wall_seconds']:.0f}s wall; {ns.out}/repeat.json"
    )
