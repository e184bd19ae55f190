import json
import subprocess
import sys

import pytest

from mnistlab.cli.app import main


def run_cli(*args, env=None):
    """The real console entry point in a subprocess: exit code, stdout, stderr."""
    r = subprocess.run([sys.executable, "-m", "mnistlab", *map(str, args)], capture_output=True, text=True, env=env)
    return r.returncode, r.stdout, r.stderr


def tiny_train(data, out, *extra):
    """`mnistlab train` of ref3 on the tiny synthetic set, one thread, into `out`."""
    run = ["train", "--model", "ref3", "--dataset", "custom", "--data-dir", data]
    return [*run, "--threads", "1", "--out", out, *extra]


def test_train_then_eval_end_to_end(tiny_data, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(*tiny_train(tiny_data, out, "--epochs", "2", "--batch-size", "64"))
    assert code == 0, stderr
    assert "Epoch 2: train loss" in stdout and f"Run saved in {out}" in stdout
    code, stdout, stderr = run_cli("eval", out, "--data-dir", tiny_data, "--json")
    assert code == 0, stderr
    r = json.loads(stdout)
    assert r["total"] == 256 and r["correct"] == round(r["accuracy"] * 256)
    last = (out / "metrics.csv").read_text().splitlines()[-1].split(",")
    assert float(last[4]) == pytest.approx(100 * r["accuracy"], abs=1e-3)


def test_models_json(capsys):
    assert main(["models", "--json"]) == 0
    names = [m["name"] for m in json.loads(capsys.readouterr().out)]
    assert {"ref0", "ref1", "ref2", "ref3", "ref4", "mnist-8k"} <= set(names)


BAD = [
    (["train", "--model", "nope"], "unknown model 'nope'"),
    (["train", "--lr", "0"], "lr must be > 0"),
    (["train", "--epochs", "0"], "epochs must be >= 1"),
    (["train", "--batch-size", "0"], "batch_size must be >= 1"),
    (["train", "--epochs", "3", "--set", "clean_epochs=-1"], "clean_epochs must be >= 0"),
    (["train", "--config", "no-such-preset"], "no such file or preset"),
    (["train", "--epochs", "many"], "invalid int value"),
    (["eval", "/nonexistent/run"], "model.json: not found"),
    (["data", "fetch", "--dataset", "cifar"], "unknown dataset 'cifar'"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_gets_one_line(args, message, tiny_data):
    code, stdout, stderr = run_cli(*args, "--data-dir", tiny_data) if args[0] == "train" else run_cli(*args)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


def test_bad_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "ref1"\nlearning_rate = 0.1\n')
    assert main(["train", "--config", str(bad)]) == 2
    assert "unknown key 'learning_rate'" in capsys.readouterr().err
    bad.write_text('model = "ref1"\nepochs = "ten"\n')
    assert main(["train", "--config", str(bad)]) == 2
    assert "epochs must be int" in capsys.readouterr().err


def test_corrupt_data_file_exit_2(tiny_data, tmp_path):
    import shutil

    folder = tmp_path / "data"
    shutil.copytree(tiny_data, folder)
    p = folder / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    code, _, stderr = run_cli(
        "train", "--model", "ref1", "--dataset", "custom", "--data-dir", folder, "--out", tmp_path / "r"
    )
    assert code == 2 and "train-images-idx3-ubyte: checksum mismatch" in stderr
    assert not (tmp_path / "r").exists()  # nothing created before the data is known good


def test_existing_run_is_not_overwritten(tiny_data, tmp_path):
    out = tmp_path / "run"
    args = tiny_train(tiny_data, out, "--max-steps", "2", "--no-report")
    assert run_cli(*args)[0] == 0
    before = (out / "model.safetensors").read_bytes()
    code, _, stderr = run_cli(*args)
    assert code == 2 and "already holds a run" in stderr
    assert (out / "model.safetensors").read_bytes() == before
    assert run_cli(*args, "--overwrite")[0] == 0


def test_run_exits_with_mains_code_and_freezes_the_collector(monkeypatch):
    """run() is the command's own process (console script, python -m mnistlab): main()'s exit code, with the
    import-time objects frozen out of the collector's walks (cli/__init__.py)."""
    import gc

    import mnistlab.cli as cli

    seen = []
    monkeypatch.setattr(cli, "main", lambda: seen.append(gc.get_freeze_count()) or 3)
    try:
        with pytest.raises(SystemExit) as e:
            cli.run()
        assert e.value.code == 3 and seen[0] > 0
    finally:
        gc.unfreeze()
