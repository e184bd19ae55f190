"""Optuna sweeps: `mnistlab sweep` workers, on one machine or many, share one study through its storage.

A trial: sample the space -> build the model and count its parameters (over the budget, or a shape that
cannot work: pruned before any training) -> one training run per seed on a validation split carved from
the training set, reporting validation accuracy to the pruner after every epoch -> the objective is the
mean final validation accuracy over the seeds. The test set is never part of the objective.

Storage: a journal file by default (appends under a lock file; safe for several processes, and over NFS);
`postgresql+psycopg://` for many machines; `sqlite:///` works but locks under concurrent writers.
"""

import dataclasses
import json
import os
import re
import socket
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .config import TrainConfig, from_dict
from .errors import MnistlabError
from .models import count_params, create_model
from .space import Space
from .sweep_results import PER_MACHINE, summarize

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


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise MnistlabError("mnistlab sweep needs optuna: pip install -r requirements.txt") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its INFO line per trial would interleave with ours
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def storage_url(url: str | None, study: str) -> str:
    """None -> sweeps/<study>.journal; postgres:// and postgresql:// get the psycopg (3) driver."""
    if not url:
        return str(Path("sweeps") / f"{study}.journal")
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def redact(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


def open_storage(url: str, create: bool = True):
    optuna = import_optuna()
    if "://" in url:
        from sqlalchemy.exc import IntegrityError, ProgrammingError

        for attempt in range(5):
            try:
                # The heartbeat marks a dead worker's trial FAIL after the grace period, so it is run again.
                return optuna.storages.RDBStorage(
                    url, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=60, grace_period=180
                )
            except (IntegrityError, ProgrammingError) as e:
                # Workers that start together on an empty database race to create Optuna's tables; the
                # loser sees a duplicate-key error and, a moment later, tables that now exist.
                error = e
                time.sleep(0.5 + attempt)
            except Exception as e:  # SQLAlchemy and driver errors: a wrong host, password or URL is user input
                error = e
                break
        raise MnistlabError(f"storage {redact(url)}: cannot open: {_first_line(error)}")
    path = Path(url)
    if not create and not path.is_file():
        raise MnistlabError(f"storage {url}: no such journal file")
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    # An O_EXCL lock file, not a symlink: that also holds on NFS, so machines can share the journal there.
    return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


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


def run_worker(study, sweep: Sweep, on_trial=None) -> list[int]:
    """Run trials until the study holds `sweep.trials`; returns the numbers of those this worker ran."""
    _check_data(sweep)
    ran = []

    def objective(trial):
        if counted(study, before=trial.number) >= sweep.trials:
            # Two workers raced for the study's last trial and this one lost: give it up untrained. Pruned,
            # not failed (no traceback in the log); with no params and no values no sampler or pruner uses it,
            # and the "surplus" mark keeps it out of the counts and listings.
            trial.set_user_attr("surplus", True)
            study.stop()
            raise import_optuna().TrialPruned(f"surplus: the study already holds {sweep.trials} trials")
        ran.append(trial.number)
        return run_trial(trial, sweep)

    def after(study, frozen):
        if on_trial is not None and not frozen.user_attrs.get("surplus"):
            on_trial(summarize(frozen))
        if counted(study) >= sweep.trials:
            study.stop()

    if counted(study) < sweep.trials:
        study.optimize(objective, callbacks=[after])
    return ran


def _check_data(sweep: Sweep) -> None:
    """Fail once, before the first trial, rather than in every trial."""
    from .data import load_split

    cfg = from_dict(TrainConfig, sweep.space.base)
    n = len(load_split(cfg.dataset, True, sweep.data_dir))
    if cfg.val_size >= n:
        raise MnistlabError(f"val_size {cfg.val_size} leaves nothing to train on: {cfg.dataset} has {n} images")


def run_trial(trial, sweep: Sweep) -> float:
    """The objective: mean final validation accuracy (percent) over the seeds."""
    optuna = import_optuna()
    from .train import train

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
