"""The trainer's optimizers skip torch._dynamo's import and update the weights exactly as torch.optim's."""

import subprocess
import sys

import pytest
import torch

from mnistlab.training.config import TrainConfig
from mnistlab.training.optim import make_optimizer, make_scheduler


def _pair(seed: int = 0):
    torch.manual_seed(seed)
    a = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    b = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize(
    "kind,cls,kw",
    [
        ("sgd", torch.optim.SGD, {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
        ("sgd", torch.optim.SGD, {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0}),
        ("adam", torch.optim.Adam, {"weight_decay": 1e-4}),
        ("adamw", torch.optim.AdamW, {"weight_decay": 5e-2}),
    ],
)
def test_the_same_weights_bit_for_bit_as_torch_optim(kind, cls, kw):
    a, b = _pair()
    cfg = TrainConfig(optimizer=kind, lr=0.05, scheduler="onecycle", **kw)
    ours = make_optimizer(cfg, a)
    assert isinstance(ours, cls) and type(ours) is not cls  # a subclass: schedulers and checks accept it
    theirs = cls(b.parameters(), lr=0.05, **kw)
    sched_ours, _ = make_scheduler(cfg, ours, 20)
    sched_theirs = torch.optim.lr_scheduler.OneCycleLR(
        theirs, max_lr=0.05, total_steps=20, pct_start=cfg.pct_start, div_factor=cfg.div_factor,
        final_div_factor=cfg.final_div_factor, cycle_momentum=kind != "sgd" or cfg.momentum > 0,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(1)
    for _ in range(12):
        x, y = torch.randn(8, 6, generator=gen), torch.randint(0, 3, (8,), generator=gen)
        for model, opt, sched in ((a, ours, sched_ours), (b, theirs, sched_theirs)):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert all(p.requires_grad and p.grad_fn is None for p in a.parameters())  # updated under no_grad


def test_state_dict_moves_between_ours_and_torch_optim():
    a, b = _pair()
    cfg = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True)
    ours = make_optimizer(cfg, a)
    a(torch.randn(4, 6)).sum().backward()
    ours.step()
    theirs = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    theirs.load_state_dict(ours.state_dict())  # a checkpoint written by either resumes in the other
    buf = ours.state_dict()["state"][0]["momentum_buffer"]
    assert torch.equal(theirs.state_dict()["state"][0]["momentum_buffer"], buf)
    fresh = make_optimizer(cfg, b)
    fresh.load_state_dict(theirs.state_dict())
    assert torch.equal(fresh.state_dict()["state"][0]["momentum_buffer"], buf)


def test_building_and_stepping_does_not_import_dynamo():
    code = (
        "import sys, torch\n"
        "from mnistlab.training.config import TrainConfig\n"
        "from mnistlab.training.optim import make_optimizer, make_scheduler\n"
        "m = torch.nn.Linear(3, 2)\n"
        "for kind in ('sgd', 'adam', 'adamw'):\n"
        "    cfg = TrainConfig(optimizer=kind, scheduler='step')\n"
        "    opt = make_optimizer(cfg, m); sched, _ = make_scheduler(cfg, opt, 5)\n"
        "    m(torch.randn(2, 3)).sum().backward(); opt.step(); sched.step(); opt.zero_grad()\n"
        "    opt.load_state_dict(opt.state_dict())\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
