"""`mnistlab sweep`: run one Optuna worker on a shared study, or list / export the study's best trials."""

import json

from ..errors import MnistlabError
from .common import add_data_flags


def add(sub):
    p = sub.add_parser("sweep", help="search architectures and recipes with Optuna; workers share one study")
    p.add_argument("--study", required=True, help="study name; workers given the same name and storage share it")
    p.add_argument(
        "--storage",
        default=None,
        help="a journal file (default studies/STUDY.journal), sqlite:///FILE, or "
        "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB for workers on several machines",
    )
    p.add_argument("--space", default=None, help="search-space TOML (default: mnistlab/presets/spaces/default.toml)")
    p.add_argument("--trials", type=int, default=20, help="the study's total; a worker stops once it holds this many")
    p.add_argument("--max-params", type=int, default=8000, help="parameter budget; larger samples are pruned untrained")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the space's)")
    p.add_argument("--max-steps", type=int, default=None, help="cap the optimizer steps per run (quick looks)")
    p.add_argument("--seeds", type=int, default=1, help="runs per trial (seeds 0..K-1); the objective is their mean")
    p.add_argument("--val-size", type=int, default=None, help="validation images carved from the training set")
    p.add_argument("--threads", type=int, default=0, help="torch threads per worker (0: one per core)")
    p.add_argument(
        "--heartbeat",
        type=int,
        metavar="SECONDS",
        help="how often a running trial's worker writes a sign of life into the storage (default 60, or a third of "
        "--stale-after); the study's first worker sets it for all",
    )
    p.add_argument(
        "--stale-after",
        type=int,
        metavar="SECONDS",
        help="fail a running trial whose worker has been silent this long, and run it again (default 180, or "
        "3x --heartbeat); the study's first worker sets it for all",
    )
    add_data_flags(p)
    p.add_argument("--show", action="store_true", help="list the best trials with the command that reruns each")
    p.add_argument("--json", action="store_true", help="with --show: every trial as JSON")
    p.add_argument("--top", type=int, default=5, help="with --show: how many trials to list")
    p.add_argument("--export-best", metavar="FILE", help="write the best trial as a preset for train --config")
    p.add_argument("--trial", type=int, default=None, help="with --export-best: this trial instead of the best")
    p.set_defaults(func=run)


def run(ns):
    from ..sweep import study as sw
    from ..sweep.results import export_trial, list_trials

    if ns.json and not ns.show:
        raise MnistlabError("--json goes with --show")
    if ns.trial is not None and not ns.export_best:
        raise MnistlabError("--trial goes with --export-best")
    url = sw.storage_url(ns.storage, ns.study)
    where = sw.redact(url)
    if ns.top < 1:
        raise MnistlabError(f"--top must be >= 1, got {ns.top}")
    if ns.show or ns.export_best:
        study = sw.load_study(sw.open_storage(url, create=False), ns.study)
        if ns.export_best:
            t = export_trial(study, ns.export_best, ns.trial)
            print(
                f"trial {t['number']} ({t['value']:.2f}% val acc) written to {ns.export_best}; "
                f"train it: mnistlab train --config {ns.export_best}"
            )
        if ns.show:
            show(study, where, list_trials(study), ns.top, ns.json)
        return 0

    for flag, value, low in (
        ("--trials", ns.trials, 1),
        ("--seeds", ns.seeds, 1),
        ("--max-params", ns.max_params, 1),
        ("--threads", ns.threads, 0),
        ("--heartbeat", ns.heartbeat, 1),
        ("--stale-after", ns.stale_after, 2),
    ):
        if value is not None and value < low:
            raise MnistlabError(f"{flag} must be >= {low}, got {value}")
    if ns.heartbeat and ns.stale_after and ns.stale_after < 2 * ns.heartbeat:
        # one late write (a busy storage) must not fail a live worker's trial
        raise MnistlabError(
            f"--stale-after must be at least twice --heartbeat ({2 * ns.heartbeat}), got {ns.stale_after}"
        )
    from ..sweep.space import load_space

    overrides = {"epochs": ns.epochs, "max_steps": ns.max_steps, "val_size": ns.val_size, "dataset": ns.dataset}
    space = load_space(ns.space, overrides)
    sweep = sw.Sweep(space, ns.trials, ns.max_params, ns.seeds, ns.threads, ns.data_dir)
    study = sw.join_study(
        url, ns.study, sweep, ns.heartbeat, ns.stale_after, on_stale=lambda t: print(stale_line(t), flush=True)
    )
    print(
        f"mnistlab sweep: study {ns.study} on {where}, space {space.source} ({len(space.params)} knobs), "
        f"{ns.trials} trials in all, budget {ns.max_params:,} parameters, {ns.seeds} seed(s) per trial",
        flush=True,
    )
    limit = study.user_attrs["heartbeat"]["stale_after"]
    ran = sw.run_worker(
        study,
        sweep,
        on_trial=lambda t: print(trial_line(t), flush=True),
        on_wait=lambda numbers: print(
            f"waiting for trial(s) {', '.join(map(str, numbers))} of other workers; should a worker be dead, its "
            f"trial fails {limit} s after its last heartbeat and this worker runs it again",
            flush=True,
        ),
    )
    trials = list_trials(study)
    states = {}
    for t in trials:
        states[t["state"].lower()] = states.get(t["state"].lower(), 0) + 1
    best = next((t for t in trials if t["state"] == "COMPLETE"), None)
    print(
        f"this worker ran {len(ran)} trial(s); the study holds {len(trials)} "
        f"({', '.join(f'{n} {s}' for s, n in states.items())})"
        + (f"; best: trial {best['number']}, val acc {best['value']:.2f}%" if best else "")
    )
    print(f"list them: mnistlab sweep --study {ns.study} --storage {where} --show")


def trial_line(t: dict) -> str:
    knobs = " ".join(f"{k}={_short(v)}" for k, v in t["params"].items())
    size = f"{t['param_count']:,} params" if t["param_count"] is not None else "? params"
    if t["state"] == "COMPLETE":
        dup = f" (same as trial {t['duplicate_of']})" if t["duplicate_of"] is not None else ""
        return f"trial {t['number']}: val acc {t['value']:.2f}%{dup} | {size} | {t['seconds'] or 0:.1f}s | {knobs}"
    return f"trial {t['number']}: {t['state'].lower()}: {t['pruned_reason'] or '-'} | {size} | {knobs}"


def stale_line(t: dict) -> str:
    return f"trial {t['number']} of worker {t['worker'] or '?'} failed: its heartbeat stopped; the study runs it again"


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def show(study, where: str, trials: list[dict], top: int, as_json: bool) -> None:
    spec = study.user_attrs.get("sweep", {})
    if as_json:
        best = next((t["number"] for t in trials if t["state"] == "COMPLETE"), None)
        print(json.dumps({"study": study.study_name, "storage": where, "sweep": spec, "best": best, "trials": trials}))
        return
    states = {}
    for t in trials:
        states[t["state"].lower()] = states.get(t["state"].lower(), 0) + 1
    base = spec.get("space", {}).get("base", {})
    print(
        f"study {study.study_name} on {where}: {len(trials)} trials "
        f"({', '.join(f'{n} {s}' for s, n in states.items()) or 'none yet'}); objective: final validation "
        f"accuracy on {base.get('val_size', '?')} images carved from the {base.get('dataset', 'mnist')} training "
        f"set, mean of {spec.get('seeds', '?')} seed(s); budget {spec.get('max_params', 0):,} parameters"
    )
    done = [t for t in trials if t["state"] == "COMPLETE"][:top]
    for rank, t in enumerate(done, 1):
        seeds = ", ".join(f"{v:.2f}" for v in t["seed_values"] or [])
        print(
            f"\n#{rank} trial {t['number']}: val acc {t['value']:.2f}% (seeds: {seeds}) | "
            f"{t['param_count']:,} params | {t['seconds'] or 0:.1f}s"
        )
        print("   " + " ".join(f"{k}={_short(v)}" for k, v in t["params"].items()))
        print(f"   {t['command']}")
    if not done:
        print("no completed trial yet")
