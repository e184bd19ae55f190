"""The machine settings the trainer makes: glibc keeping freed blocks (system.keep_freed_memory)."""

import json
import platform
import subprocess
import sys

import pytest

# One process per side (mallopt is process-wide): three ref4 train steps at batch 64, minor page faults per step.
STEPS = """
import json, resource, sys, torch, torch.nn.functional as F
from mnistlab.models import create_model
from mnistlab.system import keep_freed_memory
torch.set_num_threads(1)
kept = keep_freed_memory() if sys.argv[1] == "1" else None
m = create_model("ref4").to(memory_format=torch.channels_last)
x = torch.randn(64, 1, 28, 28).contiguous(memory_format=torch.channels_last)
y = torch.zeros(64, dtype=torch.long)
def step():
    m.zero_grad(set_to_none=True)
    F.nll_loss(m(x), y).backward()
step(); step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
print(json.dumps({"kept": kept, "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 3}))
"""


def _side(keep: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", STEPS, str(int(keep))], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_kept_freed_blocks_spare_the_page_faults_of_each_step():
    default, kept = _side(False), _side(True)
    assert kept["kept"] is True
    # ref4's (64, 32, 28, 28) activations are 6.4 MB each: by default their pages come back zeroed every step.
    assert default["faults"] > 1000
    assert kept["faults"] < default["faults"] / 3


def test_train_keeps_freed_blocks(monkeypatch, tiny_data, tmp_path):
    from mnistlab import load_config
    from mnistlab.training import train as train_mod

    calls = []
    monkeypatch.setattr(train_mod, "keep_freed_memory", lambda: calls.append(True))
    cfg = load_config(None, {"model": "ref1", "dataset": "custom", "epochs": 1, "batch_size": 64, "threads": 1})
    train_mod.train(cfg, out=tmp_path / "run", data_dir=tiny_data, quiet=True)
    assert calls == [True]
