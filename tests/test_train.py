import json
import os
import stat

import pytest
import torch
from safetensors.torch import load_file

from mnistlab import load_config, load_model
from mnistlab.data.verified import load_split
from mnistlab.training.evaluate import evaluate
from mnistlab.training.train import train


def tiny_config(**kw):
    base = {"model": "ref1", "dataset": "custom", "epochs": 2, "batch_size": 64, "lr": 0.05, "threads": 1}
    return load_config(None, base | kw)


def test_overfits_one_batch(tiny_data):
    # One batch of 32: the rest of the 512 training images is held out as "validation".
    cfg = tiny_config(
        optimizer="adam", lr=0.01, epochs=60, batch_size=32, val_size=512 - 32, model_kwargs={"dropout": 0.0}
    )
    result = train(cfg, out=tiny_data.parent / "overfit", data_dir=tiny_data, quiet=True)
    assert result.metrics[-1]["train_acc"] == 100.0


def test_same_seed_is_bit_identical(tiny_data, tmp_path):
    cfg = tiny_config(augment={"rotation": 10.0, "erase_p": 0.3})
    a = train(cfg, out=tmp_path / "a", data_dir=tiny_data, quiet=True)
    b = train(cfg, out=tmp_path / "b", data_dir=tiny_data, quiet=True)
    wa, wb = load_file(str(a.run_dir / "model.safetensors")), load_file(str(b.run_dir / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(a.metrics) == strip(b.metrics)
    c = train(load_config(None, {**cfg.to_dict(), "seed": 1}), out=tmp_path / "c", data_dir=tiny_data, quiet=True)
    assert not torch.equal(wa["block0.0.weight"], load_file(str(c.run_dir / "model.safetensors"))["block0.0.weight"])


def test_run_directory_and_checkpoint_round_trip(tiny_data, tmp_path):
    cfg = tiny_config(scheduler="onecycle", label_smoothing=0.1)
    result = train(cfg, out=tmp_path / "run", data_dir=tiny_data, quiet=True)
    run = result.run_dir
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint.safetensors",
        "config.json",
        "log.txt",
        "metrics.csv",
        "model.json",
        "model.safetensors",
    ]
    umask = os.umask(0)
    os.umask(umask)
    for p in run.iterdir():  # safetensors creates 0600 files; a run folder is as readable as any other file
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p.name
    meta = json.loads((run / "model.json").read_text())
    assert meta["name"] == "ref1" and meta["params"] == 14320 and set(meta["normalize"]) == {"mean", "std"}
    assert json.loads((run / "config.json").read_text())["library"]["torch"] == torch.__version__
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert header == "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds"
    log = (run / "log.txt").read_text()
    assert "14,320 parameters" in log and "Epoch 2: train loss" in log and "Accuracy:" in log
    model = load_model(run)
    assert not model.training
    test = load_split("custom", False, tiny_data)
    r = evaluate(model, test, meta["normalize"]["mean"], meta["normalize"]["std"])
    assert r.correct == round(result.metrics[-1]["test_acc"] * r.total / 100)
    x = torch.randn(3, 1, 28, 28)
    assert torch.allclose(model(x), result.model(x), atol=1e-5)  # the trained copy is channels_last


def test_max_steps_writes_one_row(tiny_data, tmp_path):
    result = train(tiny_config(max_steps=3), out=tmp_path / "r", data_dir=tiny_data, quiet=True)
    assert len(result.metrics) == 1


def test_validation_split_is_carved_from_training(tiny_data, tmp_path):
    result = train(tiny_config(val_size=100, epochs=1), out=tmp_path / "r", data_dir=tiny_data, quiet=True)
    assert {"val_loss", "val_acc"} <= set(result.metrics[0])
    assert "train 412 / val 100 / test 256" in (result.run_dir / "log.txt").read_text()


@pytest.mark.slow
def test_real_data_reaches_sane_accuracy(mnist_dir, tmp_path):
    # ref3 with its notebook recipe, 300 steps (0.64 epoch): observed 97.21% test accuracy (threads 1).
    cfg = load_config("ref3", {"max_steps": 300, "threads": 1})
    result = train(cfg, out=tmp_path / "real", quiet=True)
    assert result.metrics[-1]["test_acc"] > 96.0


def test_ema_is_what_is_evaluated_and_saved(tiny_data, tmp_path):
    from mnistlab.training.optim import EMA

    # The update rule on a toy module: ema <- d * ema + (1 - d) * w, d = min(decay, (1 + t) / (10 + t)).
    lin = torch.nn.Linear(2, 1)
    ema = EMA(lin, 0.9)
    start = ema.model.weight.clone()
    with torch.no_grad():
        lin.weight.add_(1.0)
    ema.update(step=100)
    assert torch.allclose(ema.model.weight, 0.9 * start + 0.1 * lin.weight)
    ema.update(step=0)  # warm-up: d = 0.1
    assert torch.allclose(ema.model.weight, 0.1 * (0.9 * start + 0.1 * lin.weight) + 0.9 * lin.weight)

    raw = train(tiny_config(epochs=2), out=tmp_path / "raw", data_dir=tiny_data, quiet=True)
    avg = train(tiny_config(epochs=2, ema=0.99), out=tmp_path / "ema", data_dir=tiny_data, quiet=True)
    saved = load_file(str(avg.run_dir / "model.safetensors"))
    assert all(saved[k].equal(v.cpu()) for k, v in avg.model.state_dict().items())  # the EMA copy is saved
    raw_w = load_file(str(raw.run_dir / "model.safetensors"))
    assert any(not saved[k].equal(raw_w[k]) for k in saved if saved[k].is_floating_point())
    test = load_split("custom", False, tiny_data)
    norm = json.loads((avg.run_dir / "model.json").read_text())["normalize"]
    r = evaluate(load_model(avg.run_dir), test, norm["mean"], norm["std"])
    assert r.correct == round(avg.metrics[-1]["test_acc"] * r.total / 100)  # metrics come from the EMA copy
    assert "ema 0.99" in (avg.run_dir / "log.txt").read_text()


def test_clean_epochs_train_the_last_epochs_without_augmentation(tiny_data, tmp_path):
    # The batch order comes from the same generator as the augmentation, so: all epochs clean == no
    # augmentation at all (bit for bit), and one clean epoch differs from none only in its last epoch.
    weights = lambda r: load_file(str(r.run_dir / "model.safetensors"))  # noqa: E731
    aug = {"rotation": 10.0, "translate": 0.1}
    plain = train(tiny_config(), out=tmp_path / "plain", data_dir=tiny_data, quiet=True)
    all_clean = train(tiny_config(augment=aug, clean_epochs=2), out=tmp_path / "c2", data_dir=tiny_data, quiet=True)
    assert all(torch.equal(v, weights(all_clean)[k]) for k, v in weights(plain).items())
    # More clean epochs than epochs (a preset's 2 under --epochs 1) means every epoch clean, and says so.
    over = train(tiny_config(augment=aug, clean_epochs=5), out=tmp_path / "c5", data_dir=tiny_data, quiet=True)
    assert all(torch.equal(v, weights(over)[k]) for k, v in weights(plain).items())
    assert "clean_epochs 5 (every epoch)" in (over.run_dir / "log.txt").read_text()
    none = train(tiny_config(augment=aug), out=tmp_path / "c0", data_dir=tiny_data, quiet=True)
    last = train(tiny_config(augment=aug, clean_epochs=1), out=tmp_path / "c1", data_dir=tiny_data, quiet=True)
    assert none.metrics[0]["train_loss"] == last.metrics[0]["train_loss"]
    assert none.metrics[1]["train_loss"] != last.metrics[1]["train_loss"]


def test_a_run_still_loads_after_its_model_changes_a_default(tiny_data, tmp_path, monkeypatch):
    # model.json records every constructor argument: if mnist-5k's default dropout later became 0 (which
    # removes Dropout modules and renumbers the Sequential), the saved run must rebuild its own network.
    from mnistlab.models import registry
    from mnistlab.models.frontier import CompactNet

    cfg = tiny_config(model="mnist-5k", epochs=1, clean_epochs=0, model_kwargs={})  # the registered defaults
    result = train(cfg, out=tmp_path / "r", data_dir=tiny_data, quiet=True)
    assert json.loads((result.run_dir / "model.json").read_text())["kwargs"]["dropout"] == 0.05
    entry = registry.model_entry("mnist-5k")
    changed = lambda **kw: CompactNet(**({"stem": (6, 12), "body": (12, 12, 12), "dropout": 0.0} | kw))  # noqa: E731
    monkeypatch.setitem(registry._REGISTRY, "mnist-5k", registry.ModelEntry("mnist-5k", changed, "", entry.config))
    model = load_model(result.run_dir)
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(model(x), result.model(x), atol=1e-5)


def test_hold_test_never_evaluates_the_test_set(tiny_data, tmp_path, capsys, monkeypatch):
    from mnistlab.cli.app import main
    from mnistlab.errors import MnistlabError
    from mnistlab.inspection.budget import check
    from mnistlab.training import evaluate as evaluate_mod
    from mnistlab.training import train as train_mod
    from mnistlab.training.repeat import repeat

    seen = []  # the size of every set the trainer evaluates: val (100) only, never the test set (256)
    monkeypatch.setattr(
        train_mod,
        "evaluate",
        lambda net, split, *a, **k: seen.append(len(split)) or evaluate_mod.evaluate(net, split, *a, **k),
    )
    run = tmp_path / "held"
    args = ["train", "--model", "ref1", "--dataset", "custom", "--data-dir", str(tiny_data), "--epochs", "2",
            "--batch-size", "64", "--threads", "1", "--val-size", "100", "--hold-test", "--quiet",
            "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    assert seen == [100, 100]
    assert "No report: the test set was held back" in capsys.readouterr().out
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert "val_acc" in header and "test" not in header
    log = (run / "log.txt").read_text()
    assert "test 256 (held back)" in log and "Accuracy:" not in log and "val accuracy" in log
    verdict = {r.rule: r.status for r in check(str(run)).rules}
    assert verdict["final test accuracy"] == verdict["consistency"] == "n/a"
    assert main(["eval", str(run), "--data-dir", str(tiny_data)]) == 0  # measured later, deliberately
    with pytest.raises(MnistlabError, match="hold_test needs a validation split"):
        tiny_config(hold_test=True)
    with pytest.raises(MnistlabError, match="drop hold_test"):
        repeat(tiny_config(val_size=100, hold_test=True), [0], tmp_path / "rep", data_dir=tiny_data)


@pytest.mark.parametrize(("every", "evaluated"), [(1, [1, 2, 3, 4, 5]), (2, [2, 4, 5]), (0, [5])])
def test_eval_every_evaluates_every_kth_epoch_and_the_last(tiny_data, tmp_path, monkeypatch, every, evaluated):
    from mnistlab.inspection.budget import BudgetConfig, check
    from mnistlab.inspection.report import write_report
    from mnistlab.training import evaluate as evaluate_mod
    from mnistlab.training import train as train_mod
    from mnistlab.training.rundir import read_metrics

    calls = []
    monkeypatch.setattr(
        train_mod,
        "evaluate",
        lambda net, split, *a, **k: calls.append(len(split)) or evaluate_mod.evaluate(net, split, *a, **k),
    )
    run = tmp_path / "r"
    result = train(tiny_config(epochs=5, val_size=100, eval_every=every), out=run, data_dir=tiny_data, quiet=True)
    assert calls == [100, 256] * len(evaluated)  # val then test, on the due epochs only
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]  # every epoch keeps its training row
    assert [r["epoch"] for r in rows if "test_acc" in r] == evaluated
    assert [r["epoch"] for r in rows if "val_acc" in r] == evaluated
    assert result.metrics[-1]["test_acc"] == rows[-1]["test_acc"]
    rules = {r.rule: r for r in check(str(run), BudgetConfig(last_k=2, min_acc=0.0)).rules}
    if len(evaluated) >= 2:  # consistency over the last two *evaluated* epochs
        assert rules["consistency"].status == "PASS" and f"{evaluated[-2]}-5" in rules["consistency"].detail
    else:
        assert rules["consistency"].status == "FAIL" and "only 1 evaluated epochs" in rules["consistency"].detail
    write_report(run, data_dir=tiny_data)  # curves and tables take rows without test figures
    assert "Final test accuracy" in (run / "report.md").read_text()
    with pytest.raises(Exception, match="eval_every must be >= 0"):
        tiny_config(eval_every=-1)
