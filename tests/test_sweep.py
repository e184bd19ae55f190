"""mnistlab sweep: two worker processes share one study (journal file, then a real PostgreSQL server),
--show/--json list the trials with a command that reruns them, --export-best round-trips, bad input fails
in one line."""

import csv
import glob
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib
import warnings
from pathlib import Path

import pytest

from mnistlab.cli.app import main
from mnistlab.training.config import load_config

# Random sampling (no TPE start-up wait) over 2 x 2 x 3 architectures and a log lr range: ~0.3 s a trial
# on the 512-image fixture; the median pruner sees per-epoch validation accuracy after two trials.
SPACE = """
[study]
sampler = "random"
pruner = "median"
startup_trials = 2
warmup_epochs = 0

[base]
model = "sweepnet"
epochs = 2
batch_size = 64
lr = 0.05
momentum = 0.9
val_size = 128

[base.model_kwargs]
widths = [4, 8]
depths = [1, 2]

[params]
"model.widths.0" = { choices = [4, 6] }
"model.widths.1" = { choices = [8, 12] }
"model.depths.1" = { low = 1, high = 3 }
lr = { low = 0.02, high = 0.3, log = true }
"""


def start_workers(tmp: Path, data: Path, storage: str, study: str, trials: int, extra=()) -> list:
    """Two `mnistlab sweep` processes started together, one torch thread each (2 cores)."""
    space = tmp / "space.toml"
    space.write_text(SPACE)
    args = [sys.executable, "-m", "mnistlab", "sweep", "--space", space, "--study", study, "--storage", storage]
    args += ["--trials", trials, "--dataset", "custom", "--data-dir", data, "--threads", "1", *extra]
    procs = [subprocess.Popen(list(map(str, args)), cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]  # fmt: skip
    return [(p.wait(timeout=120), *p.communicate()) for p in procs]


def check_shared(results, trials: int, listing: dict) -> None:
    """Each of the N trial numbers was run by exactly one worker, and the study holds exactly those N."""
    ran = []
    for code, stdout, stderr in results:
        assert code == 0, stderr
        assert "Traceback" not in stderr
        ran.append({int(n) for n in re.findall(r"^trial (\d+):", stdout, re.M)})
    assert not ran[0] & ran[1], f"trials run twice: {ran[0] & ran[1]}"
    assert ran[0] | ran[1] == set(range(trials))
    assert all(ran), f"one worker ran nothing ({ran}): the study was not shared"
    numbers = [t["number"] for t in listing["trials"]]
    assert sorted(numbers) == list(range(trials))
    assert {t["state"] for t in listing["trials"]} <= {"COMPLETE", "PRUNED"}
    assert len({t["worker"] for t in listing["trials"]}) == 2


def show_json(capsys, study: str, storage: str) -> dict:
    capsys.readouterr()
    assert main(["sweep", "--study", study, "--storage", storage, "--show", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def journal_sweep(tiny_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    storage = str(tmp / "shared.journal")
    return storage, start_workers(tmp, tiny_data, storage, "tiny", 8)


def test_two_workers_share_a_journal_file(journal_sweep, capsys):
    storage, results = journal_sweep
    listing = show_json(capsys, "tiny", storage)
    check_shared(results, 8, listing)
    done = [t for t in listing["trials"] if t["state"] == "COMPLETE"]
    assert done and listing["best"] == done[0]["number"]
    for t in done:  # the objective: mean final validation accuracy, one value per epoch for the pruner
        assert t["value"] == pytest.approx(sum(t["seed_values"]) / len(t["seed_values"]))
        assert list(t["intermediate_values"]) == ["1", "2"] and t["param_count"] <= 8000


def test_show_lists_commands_that_rerun_the_trial(journal_sweep, tiny_data, tmp_path, capsys):
    storage, _ = journal_sweep
    best = show_json(capsys, "tiny", storage)["trials"][0]
    assert main(["sweep", "--study", "tiny", "--storage", storage, "--show", "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert f"#1 trial {best['number']}: val acc {best['value']:.2f}%" in text and best["command"] in text
    argv = shlex.split(best["command"])
    assert argv[:2] == ["mnistlab", "train"]
    out = tmp_path / "rerun"
    assert main([*argv[1:], "--data-dir", str(tiny_data), "--threads", "1", "--out", str(out), "--quiet"]) == 0
    last = list(csv.DictReader((out / "metrics.csv").open()))[-1]
    assert float(last["val_acc"]) == best["seed_values"][0]  # same bits: same config, seed, split, 1 thread


def test_export_best_round_trip(journal_sweep, tmp_path, capsys):
    storage, _ = journal_sweep
    best = show_json(capsys, "tiny", storage)["trials"][0]
    path = tmp_path / "best.toml"
    assert main(["sweep", "--study", "tiny", "--storage", storage, "--export-best", str(path)]) == 0
    assert f"trial {best['number']}" in capsys.readouterr().out
    loaded = json.loads(json.dumps(load_config(str(path)).to_dict()))
    for key in ("threads", "device", "notes"):
        loaded.pop(key)
        best["config"].pop(key, None)
    assert loaded == best["config"]


def _postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which("initdb")
    return Path(path).parent if path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server: initdb into a temporary folder, a free port, stopped afterwards."""
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server (initdb) here; `make sysdeps` installs Debian's postgresql as root")
    as_user = []
    folder = Path(tempfile.mkdtemp(prefix="mnistlab-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    r = subprocess.run([*as_user, bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-locale",
                        "-E", "UTF8", "--no-sync"], capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_user, bindir / "pg_ctl", "-D", data, "-l", folder / "log", "-w", "-t", "30"]
    r = subprocess.run([*pg_ctl, "-o", opts, "start"], capture_output=True, text=True)
    try:
        if r.returncode != 0:
            log = (folder / "log").read_text() if (folder / "log").exists() else r.stderr
            pytest.skip(f"PostgreSQL did not start: {(log.strip().splitlines() or ['?'])[-1]}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_postgresql(postgres_url, tiny_data, tmp_path, capsys):
    results = start_workers(tmp_path, tiny_data, postgres_url, "tiny-pg", 6)
    check_shared(results, 6, show_json(capsys, "tiny-pg", postgres_url))
    assert not list(tmp_path.glob("studies")), "a PostgreSQL sweep wrote a local storage file"


def test_budget_and_infeasible_shapes_are_pruned_untrained(tiny_data, tmp_path, capsys):
    space = tmp_path / "space.toml"
    # depths.1 = 9 would shrink the 12x12 map below 1x1; with depths.1 = 1, widths.1 = 12 gives 620 or 858
    # parameters, over a 600 budget, and widths.1 = 8 gives 428 or 594, under it.
    space.write_text(SPACE.replace("{ low = 1, high = 3 }", "{ choices = [1, 9] }"))
    storage = str(tmp_path / "s.journal")
    argv = ["sweep", "--space", str(space), "--study", "b", "--storage", storage, "--trials", "6", "--threads", "1"]
    assert main([*argv, "--max-params", "600", "--dataset", "custom", "--data-dir", str(tiny_data)]) == 0
    trials = show_json(capsys, "b", storage)["trials"]
    assert len(trials) == 6
    for t in trials:
        if t["params"]["model.depths.1"] == 9:
            assert t["state"] == "PRUNED" and "infeasible: sweepnet: the feature map vanishes" in t["pruned_reason"]
        elif t["param_count"] > 600:
            assert t["state"] == "PRUNED" and "parameters > budget 600" in t["pruned_reason"]
        if "budget" in (t["pruned_reason"] or "") or "infeasible" in (t["pruned_reason"] or ""):
            assert t["intermediate_values"] == {}  # pruned before a single epoch ran


BAD_SPACES = [
    ('"model.nope" = { choices = [1] }', "model 'sweepnet' takes no 'nope'"),
    ("weight_decay = { low = -0.1, high = 0.1 }", "params.weight_decay = -0.1: bad config: weight_decay must be >= 0"),
    ("momentum = { low = 0.1, high = 0.1 }", "needs low < high"),
    ("dropout = { choices = [0.1] }", "unknown key 'dropout'"),
    ('"model.widths.5" = { choices = [4] }', "model_kwargs.widths has 2 entries, no index '5'"),
]


@pytest.mark.parametrize("line,message", BAD_SPACES, ids=[m for _, m in BAD_SPACES])
def test_bad_space_is_one_line(line, message, tmp_path, capsys):
    space = tmp_path / "space.toml"
    space.write_text(SPACE + line + "\n")
    assert main(["sweep", "--space", str(space), "--study", "x", "--storage", str(tmp_path / "s.journal")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_misuse_is_one_line(journal_sweep, tmp_path, capsys):
    storage, _ = journal_sweep
    cases = [
        (["--study", "nope", "--storage", storage, "--show"], "no study 'nope' in this storage; it holds: tiny"),
        (["--study", "tiny", "--storage", storage, "--json"], "--json goes with --show"),
        (["--study", "x", "--storage", str(tmp_path / "none.journal"), "--show"], "no such journal file"),
        (["--study", "tiny", "--storage", storage, "--epochs", "3"], "searches a different space or objective"),
        (["--study", "tiny", "--storage", storage, "--export-best", str(storage) + "/b.toml"], "cannot write"),
        (["--study", "tiny", "--storage", storage, "--export-best", "b.toml", "--trial", "99"], "not a completed"),
        (["--study", "x", "--storage", "postgresql://u:secret@127.0.0.1:1/db", "--trials", "1"], "cannot open"),
    ]
    for args, message in cases:
        assert main(["sweep", *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "secret" not in err and len(err.strip().splitlines()) == 1, err


def test_train_set_flag_takes_toml_values(tmp_path, capsys):
    from mnistlab.cli.app import build_parser
    from mnistlab.cli.train import config_from_flags

    ns = build_parser().parse_args(
        ["train", "--model", "sweepnet", "--set", "scheduler=onecycle", "--set", "model_kwargs={widths = [6, 12]}",
         "--set", "augment={rotation = 5.0}", "--set", "weight_decay=1e-4"]
    )  # fmt: skip
    cfg = config_from_flags(ns)
    assert (cfg.scheduler, cfg.model_kwargs, cfg.augment.rotation, cfg.weight_decay) == (
        "onecycle",
        {"widths": [6, 12]},
        5.0,
        1e-4,
    )
    assert main(["train", "--set", "lr"]) == 2 and "expected KEY=VALUE" in capsys.readouterr().err


def test_a_worker_that_loses_the_race_for_the_last_trial_gives_it_up(tiny_data, tmp_path, monkeypatch):
    from mnistlab.sweep import study as sw
    from mnistlab.sweep.results import list_trials
    from mnistlab.sweep.space import parse_space

    space = parse_space(tomllib.loads(SPACE), "test", {"dataset": "custom"})
    job = sw.Sweep(space, trials=1, threads=1, data_dir=str(tiny_data))
    study = sw.open_study(sw.open_storage(str(tmp_path / "s.journal")), "race", job)
    with warnings.catch_warnings():  # Optuna notes that ask() alone sends no heartbeat; none is needed here
        warnings.simplefilter("ignore")
        study.ask()  # another worker's trial 0, created after this worker counted 0 trials
    real, calls = sw.counted, []

    def counted(s, before=None):  # the first count, before asking, misses trial 0: the race
        calls.append(before)
        return 0 if len(calls) == 1 else real(s, before)

    monkeypatch.setattr(sw, "counted", counted)
    waited = []

    def other_worker_finishes(numbers):  # the worker stays until trial 0, which its total counts, is over
        waited.append(numbers)
        study.tell(0, 90.0)

    assert sw.run_worker(study, job, on_wait=other_worker_finishes) == []  # it trained nothing
    assert waited == [[0]]
    (surplus,) = [t for t in study.get_trials() if t.number == 1]
    assert surplus.state.name == "PRUNED" and surplus.user_attrs["surplus"] and not surplus.params
    assert [t["number"] for t in list_trials(study)] == [0]
