"""Optimizer and learning-rate schedule from a TrainConfig."""

import copy

import torch

from .config import TrainConfig


def without_dynamo(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """A subclass of `cls` whose methods skip the wrappers that import torch._dynamo on first use.

    Why: in eager mode those wrappers only mark the methods as not to be traced, yet their first call imports
    torch._dynamo: 1.4 s of a one-epoch run of ref3 (benchmarks/results/2026-12-05-xeon-amx-epoch/
    phases-ref3.txt, "optimizer: build"). The update is the same function on the same tensors, so
    the weights are bit for bit those of `cls` (tests/test_optim.py). step() runs under no_grad, as the
    wrapper does (differentiable=False). Not used with `compile = true`, where dynamo is loaded anyway.
    """
    ns = {}
    for name in ("add_param_group", "zero_grad", "state_dict", "load_state_dict"):
        method = getattr(torch.optim.Optimizer, name)
        ns[name] = getattr(method, "__wrapped__", method)  # the undecorated method (functools.wraps)
    raw_step = getattr(cls.step, "__wrapped__", None)
    if raw_step is None:  # another torch whose step is not wrapped this way: nothing to skip
        return cls

    def step(self, closure=None):
        with torch.no_grad():
            return raw_step(self, closure)

    ns["step"] = step
    return type(cls.__name__, (cls,), {**ns, "__module__": __name__, "__doc__": cls.__doc__})


# cfg.optimizer -> (torch.optim's class, the same class without the dynamo import)
OPTIMIZERS = {
    name: (cls, without_dynamo(cls))
    for name, cls in (("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW))
}


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    cls = OPTIMIZERS[cfg.optimizer][0 if cfg.compile else 1]  # compile loads dynamo anyway
    if cfg.optimizer == "sgd":
        return cls(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                   weight_decay=cfg.weight_decay)  # fmt: skip
    return cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(cfg: TrainConfig, opt, total_steps: int):
    """-> (scheduler or None, stepped per batch?). StepLR counts epochs; the others count batches."""
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, cfg.step_size, cfg.gamma), False
    if cfg.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=cfg.lr,
            total_steps=total_steps,
            pct_start=cfg.pct_start,
            div_factor=cfg.div_factor,
            final_div_factor=cfg.final_div_factor,
            cycle_momentum=cfg.optimizer != "sgd" or cfg.momentum > 0,
        ), True
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps), True
    return None, False


class EMA:
    """An exponential moving average of the weights and BatchNorm buffers (timm's ModelEmaV2 idea).

    decay_t = min(decay, (1 + t) / (10 + t)) at step t, so the random initial weights fade within the
    first steps; integer buffers (num_batches_tracked) are copied. The trainer evaluates and saves this copy.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        pairs = list(zip(self.model.state_dict().values(), model.state_dict().values(), strict=True))
        self._float = [(a, b) for a, b in pairs if a.is_floating_point()]
        self._other = [(a, b) for a, b in pairs if not a.is_floating_point()]

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_([a for a, _ in self._float], [b for _, b in self._float], 1 - d)
        for a, b in self._other:
            a.copy_(b)
