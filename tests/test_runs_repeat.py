import json

import pytest
from safetensors.torch import load_file

from mnistlab.cli.app import main
from mnistlab.errors import MnistlabError
from mnistlab.inspection.runs import list_runs
from mnistlab.training.repeat import parse_seeds, stats
from mnistlab.training.rundir import read_metrics, write_json, write_metrics


def fake_run(folder, accs, model="ref3", params=7776):
    folder.mkdir(parents=True)
    write_json(folder / "model.json", {"name": model, "params": params})
    write_metrics(folder, [{"epoch": i + 1, "test_acc": a, "seconds": 2.0} for i, a in enumerate(accs)])


def test_runs_table_sorts_and_skips_broken_runs(tmp_path, capsys):
    fake_run(tmp_path / "a", [98.0, 99.1, 99.3, 99.2])
    fake_run(tmp_path / "b", [99.0, 99.5], model="ref1", params=14320)
    fake_run(tmp_path / "rep" / "seed0", [97.0, 98.0, 99.4])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.json").write_text("{not json")
    (tmp_path / "broken" / "metrics.csv").write_text("epoch,test_acc\n1,50\n")
    rows, skipped = list_runs(tmp_path, sort="final")
    assert [r["name"] for r in rows] == ["b", "rep/seed0", "a"] and len(skipped) == 1
    a = rows[-1]
    assert (a["best"], a["final"], a["last3"], a["epochs"], a["seconds"]) == (99.3, 99.2, 99.1, 4, 8.0)
    assert rows[0]["last3"] is None  # two epochs: no minimum over three
    assert [r["name"] for r in list_runs(tmp_path, sort="last3")[0]] == ["a", "rep/seed0", "b"]  # None last
    assert main(["runs", str(tmp_path), "--sort", "params", "--json"]) == 0
    out = capsys.readouterr()
    assert [r["params"] for r in json.loads(out.out)] == [7776, 7776, 14320] and "skipped" in out.err
    assert main(["runs", str(tmp_path)]) == 0
    assert "min last 3" in capsys.readouterr().out
    with pytest.raises(MnistlabError, match="no such folder"):
        list_runs(tmp_path / "missing")


def test_seed_lists_and_statistics():
    assert parse_seeds("5") == [0, 1, 2, 3, 4] and parse_seeds("3,1") == [3, 1]
    for bad in ("0", "x", "1,1", "-1,2"):
        with pytest.raises(MnistlabError):
            parse_seeds(bad)
    s = stats([99.0, 99.2, 99.4])
    assert (s["mean"], s["std"], s["min"], s["max"], s["n"]) == (99.2, 0.2, 99.0, 99.4, 3)  # sample std
    assert stats([98.5])["std"] == 0.0


def test_repeat_trains_each_seed_and_reports_final_epochs(tiny_data, tmp_path, capsys):
    out = tmp_path / "rep"
    args = ["repeat", "--model", "ref3", "--dataset", "custom", "--data-dir", str(tiny_data), "--threads", "1"]
    args += ["--epochs", "2", "--max-steps", "10", "--seeds", "0,1", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    r = json.loads((out / "repeat.json").read_text())
    finals = [read_metrics(out / f"seed{s}")[-1]["test_acc"] for s in (0, 1)]
    assert [s["final_test_acc"] for s in r["seeds"]] == finals and [s["epochs"] for s in r["seeds"]] == [2, 2]
    assert r["final_test_acc"] == stats(finals) and r["wall_seconds"] > 0
    assert r["command"].startswith("mnistlab repeat --model ref3 --epochs 2 --max-steps 10")
    assert "--seeds 0,1" in r["command"] and r["machine"]["torch"] and "seed" not in r["config"]
    assert f"± {stats(finals)['std']:.2f}" in text and "min" in text
    w0, w1 = (load_file(str(out / f"seed{s}" / "model.safetensors")) for s in (0, 1))
    assert any(not w0[k].equal(w1[k]) for k in w0)  # different seeds, different networks
    assert main(args) == 2  # refuses to write over a repeat
    assert "already holds a repeat" in capsys.readouterr().err


def test_repeat_resume_reads_back_finished_seeds_and_trains_missing_ones(tiny_data, tmp_path, capsys):
    out = tmp_path / "rep"
    args = ["repeat", "--model", "ref3", "--dataset", "custom", "--data-dir", str(tiny_data), "--threads", "1"]
    args += ["--epochs", "2", "--max-steps", "10", "--seeds", "0,1,2", "--out", str(out)]
    assert main(args) == 0
    whole = json.loads((out / "repeat.json").read_text())
    metrics0, log0 = ((out / "seed0" / f).read_text() for f in ("metrics.csv", "log.txt"))
    weights2 = load_file(str(out / "seed2" / "model.safetensors"))
    # seed 1 is trained apart (another process, another eval batch); seed 2 never started; no repeat.json.
    (out / "repeat.json").unlink()
    for seed in (1, 2):
        for f in (out / f"seed{seed}").iterdir():
            f.unlink()
        (out / f"seed{seed}").rmdir()
    apart = ["train", *args[1:-4], "--seed", "1", "--out", str(out / "seed1"), "--set", "eval_batch_size=64"]
    assert main(apart) == 0
    assert main([*args, "--resume"]) == 0
    again = json.loads((out / "repeat.json").read_text())
    assert again["seeds"] == whole["seeds"][:1] + again["seeds"][1:]  # seed 0 read back as it was
    assert [s["final_test_acc"] for s in again["seeds"]] == [s["final_test_acc"] for s in whole["seeds"]]
    assert again["command"] == whole["command"]  # the command that rebuilds it whole: no --resume
    assert again["resumed_seeds"] == [0, 1] and whole["resumed_seeds"] == []
    assert (out / "seed0" / "metrics.csv").read_text() == metrics0
    assert (out / "seed0" / "log.txt").read_text() == log0  # read back, not appended to
    w2 = load_file(str(out / "seed2" / "model.safetensors"))
    assert all(w2[k].equal(weights2[k]) for k in w2)  # retrained bit for bit
    capsys.readouterr()
    # another recipe in the same folder is refused, not counted
    lr_args = [*args, "--lr", "0.5", "--resume"]
    assert main(lr_args) == 2
    assert "seed0: was trained with another lr" in capsys.readouterr().err
    assert main([*args, "--resume", "--overwrite"]) == 2


def test_resume_rebuilds_the_run_s_network_after_a_registered_default_changes(tiny_data, tmp_path, monkeypatch):
    """config.json keeps only the kwargs given; a resumed or counted run rebuilds model.json's resolved ones."""
    from mnistlab.models import count_params, create_model, registry
    from mnistlab.training.repeat import _same_recipe
    from mnistlab.training.train import resume_config

    run = tmp_path / "seed0"
    args = ["train", "--model", "mnist-5k", "--dataset", "custom", "--data-dir", str(tiny_data), "--threads", "1"]
    args += ["--epochs", "1", "--set", "clean_epochs=0", "--max-steps", "3", "--no-report", "--out", str(run)]
    assert main(args) == 0
    meta = json.loads((run / "model.json").read_text())
    given = json.loads((run / "config.json").read_text())["model_kwargs"]
    assert "trans" not in given  # config.json keeps only the kwargs given (here the preset's)
    cfg = resume_config(run)
    _same_recipe(cfg, run)  # its own config, spelt out in full: the same recipe
    cfg.model_kwargs = given
    _same_recipe(cfg, run)  # as given, over the registered defaults it was built with: the same recipe
    old = registry._REGISTRY["mnist-5k"]
    changed = registry.ModelEntry(old.name, lambda **kw: old.builder(**({"trans": 8} | kw)), "", old.config)
    monkeypatch.setitem(registry._REGISTRY, "mnist-5k", changed)
    assert count_params(create_model("mnist-5k")) != meta["params"]  # the default did change
    rebuilt = create_model("mnist-5k", **resume_config(run).model_kwargs)
    assert count_params(rebuilt) == meta["params"]
    rebuilt.load_state_dict(load_file(str(run / "model.safetensors")))
    with pytest.raises(MnistlabError, match="another model_kwargs"):
        _same_recipe(cfg, run)  # the same kwargs now build another network: not this run's recipe
