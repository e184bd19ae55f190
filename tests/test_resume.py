"""Resumable training: a run stopped by a signal or killed with -9 resumes to bit-identical results."""

import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

from mnistlab.errors import MnistlabError
from mnistlab.training.checkpoint import load_checkpoint

ARGS = [
    "--model",
    "ref1",
    "--dataset",
    "custom",
    "--epochs",
    "12",
    "--batch-size",
    "32",
    "--threads",
    "1",
    "--set",
    "scheduler='onecycle'",
    "--set",
    "augment={rotation = 10.0, erase_p = 0.3}",
    "--lr",
    "0.05",
]


def start(tiny_data, out, *extra):
    cmd = [
        sys.executable,
        "-m",
        "mnistlab",
        "train",
        *ARGS,
        "--data-dir",
        str(tiny_data),
        "--out",
        str(out),
        "--no-report",
        *extra,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_epoch(out, epoch, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = out / "log.txt"
        if log.exists() and f"Epoch {epoch}:" in log.read_text():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("run did not reach the epoch in time")


def strip(path):
    lines = path.read_text().splitlines()
    return [",".join(line.split(",")[:-1]) for line in lines]  # drop the seconds column


@pytest.fixture(scope="module")
def reference(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    proc = start(tiny_data, out)
    assert proc.wait(120) == 0, proc.communicate()
    return out


def assert_identical(a, b):
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert (wa[k] == wb[k]).all(), k
    assert strip(a / "metrics.csv") == strip(b / "metrics.csv")


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_then_resume_is_bit_identical(tiny_data, tmp_path, reference, sig, code):
    out = tmp_path / "run"
    proc = start(tiny_data, out)
    wait_for_epoch(out, 2, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert f"mnistlab train --resume {out}" in stderr and "Traceback" not in stderr
    resumed = subprocess.run([sys.executable, "-m", "mnistlab", "train", "--resume", str(out), "--data-dir",
                              str(tiny_data), "--no-report"], capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "Resumed" in resumed.stdout
    assert_identical(reference, out)


def test_kill_9_resumes_from_last_epoch(tiny_data, tmp_path, reference):
    out = tmp_path / "run"
    proc = start(tiny_data, out)
    wait_for_epoch(out, 3, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = subprocess.run([sys.executable, "-m", "mnistlab", "train", "--resume", str(out), "--data-dir",
                              str(tiny_data), "--no-report"], capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert_identical(reference, out)


def test_resume_with_ema_is_bit_identical(tiny_data, tmp_path):
    """The EMA copy of the weights is part of the checkpoint: a resumed run saves the same EMA weights."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    proc = start(tiny_data, whole, "--set", "ema=0.95")
    assert proc.wait(120) == 0, proc.communicate()
    proc = start(tiny_data, cut, "--set", "ema=0.95")
    wait_for_epoch(cut, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr  # stopped mid-run, not after the end
    resumed = subprocess.run([sys.executable, "-m", "mnistlab", "train", "--resume", str(cut), "--data-dir",
                              str(tiny_data), "--no-report"], capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert_identical(whole, cut)


def test_bad_checkpoint_is_refused(tmp_path):
    (tmp_path / "checkpoint.safetensors").write_bytes(b"\x80\x04pickle? no thanks")
    with pytest.raises(MnistlabError, match="not a valid mnistlab checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(MnistlabError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing")


def test_diverging_loss_stops_and_names_the_step(tiny_data, tmp_path):
    out = tmp_path / "run"
    proc = start(tiny_data, out, "--lr", "1e12", "--set", "optimizer='sgd'")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr
    assert "loss became non-finite at step" in stderr and "Traceback" not in stderr


def test_resume_with_two_replicas_is_bit_identical(tiny_data, tmp_path):
    """Replica 1 holds no state of its own (weights copied, BN stats averaged, dropout reseeded per step)."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    proc = start(tiny_data, whole, "--set", "replicas=2")
    assert proc.wait(120) == 0, proc.communicate()
    assert "threads 1 x 2 replicas" in (whole / "log.txt").read_text()
    proc = start(tiny_data, cut, "--set", "replicas=2")
    wait_for_epoch(cut, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    resumed = subprocess.run([sys.executable, "-m", "mnistlab", "train", "--resume", str(cut), "--data-dir",
                              str(tiny_data), "--no-report"], capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert_identical(whole, cut)


def test_checkpoint_saves_and_restores_the_cuda_generator(tmp_path, monkeypatch):
    """Dropout on CUDA draws from the device's generator: a checkpoint of a model there carries its state.
    Without a GPU here, the device and torch.cuda's two RNG calls are stood in for. (A whole resumed CUDA run
    is not promised bit-identical: the trainer does not ask cuDNN for deterministic kernels.)"""
    import torch

    from mnistlab.models import create_model
    from mnistlab.training import checkpoint

    model = create_model("ref1")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    state, restored = torch.arange(16, dtype=torch.uint8), []
    monkeypatch.setattr(checkpoint, "_device_of", lambda m: torch.device("cuda", 0))
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: state.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: restored.append((s, device)))
    checkpoint.save_checkpoint(tmp_path, model, opt, None, torch.Generator(), {"epoch": 1, "step": 0}, {})
    tensors, meta = load_checkpoint(tmp_path)
    assert tensors["rng.cuda"].equal(state)
    checkpoint.restore(tensors, meta, model, opt, None, torch.Generator())
    assert len(restored) == 1 and restored[0][0].equal(state) and restored[0][1] == torch.device("cuda", 0)
