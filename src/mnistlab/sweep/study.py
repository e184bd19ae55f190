"""Optuna sweeps: `mnistlab sweep` workers, on one machine or many, share one study through its storage.

A trial: sample the space -> build the model and count its parameters (over the budget, or a shape that
cannot work: pruned before any training) -> one training run per seed on a validation split carved from
the training set, reporting validation accuracy to the pruner after every epoch -> the objective is the
mean final validation accuracy over the seeds. The test set is never part of the objective.

Storage: a journal file by default (appends under a lock file; safe for several processes, and over NFS);
`postgresql+psycopg://` for many machines; `sqlite:///` works but locks under concurrent writers.

Any number of workers may start together on a fresh storage: each creates or joins the study under a setup
lock (a lock file beside a journal or SQLite file, an advisory lock in PostgreSQL), because Optuna creates its
tables and checks the study's settings in steps that two processes can interleave.

A dead worker's trial is run again: while a trial runs, its worker writes a heartbeat into the storage every
`heartbeat` seconds (Optuna's own for databases, a trial attribute in a journal), and a running trial silent
for `stale_after` seconds is failed by any other worker, which then runs a replacement. A worker leaves only
when the study holds its total and no trial runs anywhere, so the total is reached while one worker lives.
"""

import dataclasses
import json
import os
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import MnistlabError
from ..models import count_params, create_model
from ..training.config import TrainConfig, from_dict
from .results import PER_MACHINE, summarize
from .space import Space
from .storage import (  # noqa: F401  (open_storage, storage_url, redact: the worker's public names too)
    HEARTBEAT,
    HEARTBEAT_ATTR,
    STALE_AFTER,
    _first_line,
    import_optuna,
    open_storage,
    redact,
    setup_lock,
    storage_url,
)

SEED_STRIDE = 1000  # intermediate step = seed index * 1000 + epoch: one step is one (seed, epoch) in all trials


@dataclass
class Sweep:
    """What one worker needs. `spec()` is the part every worker of a study must agree on."""

    space: Space
    trials: int = 20  # the study's total: a worker stops once the study holds this many trials
    max_params: int = 8000
    seeds: int = 1
    threads: int = 0
    data_dir: str | None = None

    def spec(self) -> dict:
        return {"space": self.space.to_dict(), "max_params": self.max_params, "seeds": self.seeds}


def open_study(storage, name: str, sweep: Sweep):
    """Create the study or join it; a joining worker must search the same space for the same objective."""
    optuna = import_optuna()
    s = sweep.space.study
    if s["sampler"] == "tpe":
        # constant_liar: running trials count as bad guesses, so parallel workers spread out
        sampler = optuna.samplers.TPESampler(
            n_startup_trials=s["startup_trials"], multivariate=True, constant_liar=True
        )
    else:
        sampler = optuna.samplers.RandomSampler()
    warmup = s["warmup_epochs"] + 1  # steps are epochs counted from 1; optuna prunes from step n_warmup_steps
    pruner = {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=s["startup_trials"], n_warmup_steps=warmup),
        "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup, reduction_factor=3),
        "none": lambda: optuna.pruners.NopPruner(),
    }[s["pruner"]]()
    study = optuna.create_study(
        storage=storage, study_name=name, sampler=sampler, pruner=pruner, direction="maximize", load_if_exists=True
    )
    stored, spec = study.user_attrs.get("sweep"), sweep.spec()
    if stored is None:
        study.set_user_attr("sweep", spec)
    elif stored != spec:
        raise MnistlabError(
            f"study {name!r} searches a different space or objective ({_first_difference(stored, spec)}); "
            "pass the same --space, --epochs, --max-steps, --seeds, --max-params, --dataset, or a new --study"
        )
    return study


def join_study(
    url: str, name: str, sweep: Sweep, heartbeat: int | None = None, stale_after: int | None = None, on_stale=None
):
    """Open the storage and create or join the study, under the setup lock. The study's first worker stores
    the heartbeat and stale limit (defaults: 60 s and 180 s; one given, the other is 3x or a third of it);
    the others adopt them, since a worker that beats slower than another's limit would lose its trials.
    `on_stale(trial)` hears of each dead worker's trial that this worker fails."""
    with setup_lock(url):
        storage = open_storage(url)
        study = open_study(storage, name, sweep)
        stored = study.user_attrs.get("heartbeat")
        if stored is None:
            if heartbeat is None and stale_after is None:
                heartbeat, stale_after = HEARTBEAT, STALE_AFTER
            stored = {"every": heartbeat or max(1, stale_after // 3), "stale_after": stale_after or 3 * heartbeat}
            study.set_user_attr("heartbeat", stored)
        elif {"every": heartbeat or stored["every"], "stale_after": stale_after or stored["stale_after"]} != stored:
            raise MnistlabError(
                f"study {name!r} runs with --heartbeat {stored['every']} --stale-after {stored['stale_after']}; "
                "pass those or leave both out"
            )
    storage.heartbeat_interval, storage.grace_period = stored["every"], stored["stale_after"]
    if on_stale is not None:
        storage.heartbeat_stale_trial_callback = lambda study, frozen: on_stale(summarize(frozen))
    return study


def _first_difference(a, b, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
    return f"{path}: study has {json.dumps(a)}, this worker {json.dumps(b)}"


def load_study(storage, name: str):
    optuna = import_optuna()
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise MnistlabError(f"no study {name!r} in this storage; it holds: {', '.join(names) or 'none'}") from None


def counted(study, before: int | None = None) -> int:
    """Trials that count towards the total: all but failed ones (a failed trial is run again)."""
    return sum(
        t.state.name != "FAIL" and not t.user_attrs.get("surplus") and (before is None or t.number < before)
        for t in study.get_trials(deepcopy=False)
    )


def run_worker(study, sweep: Sweep, on_trial=None, on_wait=None) -> list[int]:
    """Run trials until the study holds `sweep.trials` and none runs; returns the numbers of those this worker
    ran. `on_wait(numbers)` hears which trials of other workers this one waits for (once per change)."""
    optuna = import_optuna()
    _check_data(sweep)
    ran, lost, waiting_for = [], [], None

    def objective(trial):
        if counted(study, before=trial.number) >= sweep.trials:
            # Two workers raced for the study's last trial and this one lost: give it up untrained. Pruned,
            # not failed (no traceback in the log); with no params and no values no sampler or pruner uses it,
            # and the "surplus" mark keeps it out of the counts and listings.
            trial.set_user_attr("surplus", True)
            study.stop()
            raise optuna.TrialPruned(f"surplus: the study already holds {sweep.trials} trials")
        ran.append(trial.number)
        try:
            return run_trial(trial, sweep)
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another worker failed this trial as stale (this one was stopped or cut off from the storage for
            # longer than the limit) and the study runs it again: drop it. Optuna then cannot record the
            # outcome and says so at WARNING; that is expected here, so it is kept quiet until optimize returns.
            lost.append(trial.number)
            optuna.logging.set_verbosity(optuna.logging.ERROR)
            raise optuna.TrialPruned("failed as stale by another worker") from None

    def after(study, frozen):
        if on_trial is not None and not frozen.user_attrs.get("surplus"):
            on_trial(summarize(frozen))
        if counted(study) >= sweep.trials:
            study.stop()

    heartbeat = study._storage.get_heartbeat_interval() or HEARTBEAT
    while True:
        optuna.storages.fail_stale_trials(study)  # a dead worker's trial no longer counts: run it again
        if counted(study) < sweep.trials:
            dropped = len(lost)
            try:
                study.optimize(objective, callbacks=[after])
            except ValueError:  # "Cannot tell a FAIL trial": the outcome of the trial dropped above
                if len(lost) == dropped:
                    raise
            finally:
                optuna.logging.set_verbosity(optuna.logging.WARNING)
            continue
        running = [t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]
        if not running:
            return [n for n in ran if n not in lost]
        # The total counts other workers' running trials; should one of those workers be dead, this one
        # runs the replacement once the trial is failed as stale.
        if running != waiting_for and on_wait is not None:
            on_wait(running)
        waiting_for = running
        time.sleep(min(heartbeat, 2))


def _check_data(sweep: Sweep) -> None:
    """Fail once, before the first trial, rather than in every trial."""
    from ..data.verified import load_split

    cfg = from_dict(TrainConfig, sweep.space.base)
    n = len(load_split(cfg.dataset, True, sweep.data_dir))
    if cfg.val_size >= n:
        raise MnistlabError(f"val_size {cfg.val_size} leaves nothing to train on: {cfg.dataset} has {n} images")


def run_trial(trial, sweep: Sweep) -> float:
    """The objective: mean final validation accuracy (percent) over the seeds."""
    optuna = import_optuna()
    from ..training.train import train

    values = {p.name: p.suggest(trial) for p in sweep.space.params}
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    cfg = from_dict(TrainConfig, sweep.space.config_dict(values)).validate()
    trial.set_user_attr("config", {k: v for k, v in cfg.to_dict().items() if k not in PER_MACHINE})

    def prune(reason: str):
        trial.set_user_attr("pruned_reason", reason)
        return optuna.TrialPruned(reason)

    try:
        n_params = count_params(create_model(cfg.model, **cfg.model_kwargs))
    except MnistlabError as e:
        raise prune(f"infeasible: {e}") from None
    trial.set_user_attr("param_count", n_params)
    if n_params > sweep.max_params:
        raise prune(f"{n_params:,} parameters > budget {sweep.max_params:,}")
    for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.params == trial.params and "seed_values" in t.user_attrs:  # each configuration trains once
            trial.set_user_attr("duplicate_of", t.number)
            trial.set_user_attr("seed_values", t.user_attrs["seed_values"])
            return t.value

    accs, t0 = [], time.perf_counter()
    for k in range(sweep.seeds):

        def report(row, k=k):
            if "val_acc" not in row:  # an epoch not evaluated (eval_every)
                return
            trial.report(row["val_acc"], k * SEED_STRIDE + row["epoch"])
            if trial.should_prune():
                raise prune(f"seed {cfg.seed + k} epoch {row['epoch']}: val acc {row['val_acc']:.2f}% below the others")

        run_cfg = dataclasses.replace(cfg, seed=cfg.seed + k, threads=sweep.threads)
        with tempfile.TemporaryDirectory(prefix="mnistlab-sweep-") as tmp:
            try:
                result = train(
                    run_cfg, out=Path(tmp) / "run", data_dir=sweep.data_dir, quiet=True, progress=False, on_epoch=report
                )
            except MnistlabError as e:  # e.g. diverged: a verdict on this configuration, not on the sweep
                raise prune(str(e)) from None
        accs.append(result.metrics[-1]["val_acc"])
    trial.set_user_attr("seed_values", accs)
    trial.set_user_attr("seconds", round(time.perf_counter() - t0, 1))
    return round(statistics.fmean(accs), 4)
