"""mnistlab sweep workers on a fresh storage and after a crash: several workers that start together on a new
SQLite file, journal or PostgreSQL database all join one study; a worker killed with SIGKILL mid-trial costs
the study that trial only, which another worker fails as stale and runs again; the new flags refuse bad values
in one line."""

import multiprocessing
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import warnings

import pytest

from mnistlab.cli.app import main
from mnistlab.sweep import study as sw
from mnistlab.sweep.space import load_space, parse_space

from .test_sweep import SPACE, postgres_url  # noqa: F401  (a fixture: the throwaway PostgreSQL server)

STORAGES = ["journal", "sqlite", "postgresql"]


def storage_for(kind: str, tmp, request, name: str) -> str:
    if kind == "journal":
        return str(tmp / f"{name}.journal")
    if kind == "sqlite":
        return f"sqlite:///{tmp / name}.db"
    # one database per storage: a PostgreSQL server starts with one, so each case gets its own schema-free
    # database, which is what a fresh storage means there
    url = request.getfixturevalue("postgres_url")
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.rsplit("/", 1)[0] + f"/{name}"


def _join(url: str, barrier, results) -> None:
    """One worker's set-up, in a forked process: wait for the others, then create or join the study."""
    try:
        space = parse_space(tomllib.loads(SPACE), "test", {"dataset": "custom"})
        barrier.wait(timeout=60)
        study = sw.join_study(url, "race", sw.Sweep(space, trials=1))
        results.put(("ok", study.user_attrs["heartbeat"]["every"]))
    except BaseException as e:  # the message is what the test shows
        results.put((f"{type(e).__name__}: {e}", None))


@pytest.mark.parametrize("kind,rounds", [("journal", 3), ("sqlite", 5), ("postgresql", 3)], ids=STORAGES)
def test_setup_on_a_fresh_storage_is_race_free(kind, rounds, tmp_path, request):
    """Six processes released at once create or join the same study on a new storage, several times over:
    without the setup lock, SQLite failed 4 rounds in 6 here (`table studies already exists`)."""
    ctx = multiprocessing.get_context("fork")  # the test's imports are inherited: the race is the set-up alone
    for r in range(rounds):
        url = storage_for(kind, tmp_path, request, f"race{r}")
        barrier, results = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_join, args=(url, barrier, results)) for _ in range(6)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        assert [o for o, _ in outcomes] == ["ok"] * 6, f"round {r}: {outcomes}"
        assert {every for _, every in outcomes} == {sw.HEARTBEAT}
        storage = sw.open_storage(sw.storage_url(url, "race"), create=False)
        import optuna

        assert optuna.get_all_study_names(storage) == ["race"]


def start_worker(tmp, data, storage: str, study: str, trials: int, extra=(), text=SPACE) -> subprocess.Popen:
    space = tmp / "space.toml"
    space.write_text(text)
    args = [sys.executable, "-m", "mnistlab", "sweep", "--space", space, "--study", study, "--storage", storage]
    args += ["--trials", trials, "--dataset", "custom", "--data-dir", data, "--threads", "1", *extra]
    return subprocess.Popen(list(map(str, args)), cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load(storage: str, study: str):
    return sw.load_study(sw.open_storage(sw.storage_url(storage, study), create=False), study)


@pytest.mark.parametrize("kind", STORAGES)
def test_three_workers_start_together_on_a_fresh_storage(kind, tiny_data, tmp_path, request):
    storage = storage_for(kind, tmp_path, request, "fresh")
    # one optimizer step an epoch: the workers' start-up is the whole test
    procs = [start_worker(tmp_path, tiny_data, storage, "together", 3, ["--max-steps", "1"]) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and "Traceback" not in err, err
    trials = load(storage, "together").get_trials()
    assert sum(t.state.name in ("COMPLETE", "PRUNED") and not t.user_attrs.get("surplus") for t in trials) == 3


# Twenty epochs of six steps: ~1 s a trial, long enough to be killed mid-trial; no pruner, so each trial
# runs to its end.
SLOW = ["--epochs", "20", "--heartbeat", "1", "--stale-after", "2"]
NO_PRUNER = SPACE.replace('pruner = "median"', 'pruner = "none"')


@pytest.mark.parametrize("kind", STORAGES)
def test_a_killed_workers_trial_is_failed_and_run_again(kind, tiny_data, tmp_path, request):
    storage = storage_for(kind, tmp_path, request, "crash")
    victim = start_worker(tmp_path, tiny_data, storage, "crash", 3, SLOW, NO_PRUNER)
    tag, running, deadline = f"{socket.gethostname()}:{victim.pid}", None, time.monotonic() + 90
    while running is None and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.2)
        try:
            trials = load(storage, "crash").get_trials()
        except Exception:  # not created yet
            continue
        running = next((t for t in trials if t.state.name == "RUNNING" and t.user_attrs.get("worker") == tag), None)
    assert running is not None, victim.communicate()[1]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    # the survivor is given no --heartbeat/--stale-after: it adopts the study's
    survivor = start_worker(tmp_path, tiny_data, storage, "crash", 3, SLOW[:2], NO_PRUNER)
    out, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0 and "Traceback" not in err, err
    assert f"trial {running.number} of worker {tag} failed: its heartbeat stopped" in out
    trials = {t.number: t for t in load(storage, "crash").get_trials()}
    assert trials[running.number].state.name == "FAIL"
    states = [t.state.name for t in trials.values()]
    assert states.count("FAIL") == 1 and "RUNNING" not in states, states
    assert states.count("COMPLETE") == 3, states  # the total, reached without the dead worker
    last = max(trials)
    assert last > running.number and trials[last].user_attrs["worker"].endswith(f":{survivor.pid}")


def test_a_survivor_waits_for_a_running_trial_and_replaces_it(tiny_data, tmp_path):
    """A worker that ran out of new trials while another worker's trial runs stays: its total counted that
    trial, so should the other worker die, nothing else would run the replacement."""
    storage = str(tmp_path / "wait.journal")
    (tmp_path / "space.toml").write_text(NO_PRUNER)
    space = load_space(str(tmp_path / "space.toml"), {"epochs": 20, "dataset": "custom"})
    study = sw.join_study(storage, "wait", sw.Sweep(space, trials=2), heartbeat=1, stale_after=2)
    with warnings.catch_warnings():  # Optuna notes that ask() alone does not beat: this test beats by hand
        warnings.simplefilter("ignore")
        trial = study.ask()  # the other worker's trial 0
    dead = threading.Event()

    def beat():  # the other worker, alive until the survivor waits for it
        while not dead.wait(0.3):
            study._storage.record_heartbeat(trial._trial_id)

    beating = threading.Thread(target=beat)
    beating.start()
    survivor = start_worker(tmp_path, tiny_data, storage, "wait", 2, SLOW[:2], NO_PRUNER)
    lines = []
    try:
        for line in survivor.stdout:
            lines.append(line)
            if line.startswith("waiting for trial(s) 0 of other workers"):
                dead.set()
    finally:
        dead.set()
        beating.join()
    assert survivor.wait(timeout=60) == 0, survivor.stderr.read()
    out = "".join(lines)
    assert "waiting for trial(s) 0 of other workers" in out
    assert "trial 0 of worker ? failed: its heartbeat stopped" in out
    trials = sorted(load(storage, "wait").get_trials(), key=lambda t: t.number)
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"], out


BAD_FLAGS = [
    (["--heartbeat", "nan"], "argument --heartbeat: invalid int value: 'nan'"),
    (["--heartbeat", "inf"], "argument --heartbeat: invalid int value: 'inf'"),
    (["--stale-after", "1.5"], "argument --stale-after: invalid int value: '1.5'"),
    (["--heartbeat", "0"], "--heartbeat must be >= 1, got 0"),
    (["--heartbeat", "-5"], "--heartbeat: must be >= 0, got '-5'"),
    (["--stale-after", "1"], "--stale-after must be >= 2, got 1"),
    (["--heartbeat", "5", "--stale-after", "9"], "--stale-after must be at least twice --heartbeat (10), got 9"),
]


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[m for _, m in BAD_FLAGS])
def test_bad_heartbeat_flags_are_one_line(flags, message, tmp_path, capsys):
    storage = tmp_path / "s.journal"
    try:
        code = main(["sweep", "--study", "x", "--storage", str(storage), "--trials", "1", *flags])
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("mnistlab: error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and not storage.exists()


def test_a_joining_worker_must_agree_on_the_heartbeat(tmp_path, capsys):
    storage, path = str(tmp_path / "s.journal"), tmp_path / "space.toml"
    path.write_text(SPACE)
    space = load_space(str(path), {"epochs": None, "max_steps": None, "val_size": None, "dataset": "custom"})
    sw.join_study(storage, "x", sw.Sweep(space, trials=1), stale_after=30)  # stores 10 s / 30 s
    argv = ["sweep", "--space", str(path), "--study", "x", "--storage", storage, "--trials", "1", "--dataset", "custom"]
    assert main([*argv, "--heartbeat", "20"]) == 2
    err = capsys.readouterr().err
    assert "study 'x' runs with --heartbeat 10 --stale-after 30; pass those or leave both out" in err
    assert len(err.strip().splitlines()) == 1


def test_a_trial_failed_as_stale_under_a_live_worker_is_dropped(tiny_data, tmp_path, monkeypatch):
    """A live worker whose trial another worker failed as stale (it was stopped, or cut off from the storage,
    for longer than the limit) drops that trial and goes on, instead of stopping with a traceback."""
    space = parse_space(tomllib.loads(SPACE), "test", {"dataset": "custom"})
    job = sw.Sweep(space, trials=3, threads=1, data_dir=str(tiny_data))
    study = sw.join_study(str(tmp_path / "s.journal"), "live", job, heartbeat=1, stale_after=2)
    real, calls = sw.run_trial, []

    def run_trial(trial, sweep):
        calls.append(trial.number)
        if len(calls) == 1:  # what another worker's fail_stale_trials does
            study._storage.set_trial_state_values(trial._trial_id, sw.import_optuna().trial.TrialState.FAIL)
        return real(trial, sweep)

    monkeypatch.setattr(sw, "run_trial", run_trial)
    ran = sw.run_worker(study, job)
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states[0] == "FAIL" and sw.counted(study) == 3 and ran == [n for n in states if n != 0]
