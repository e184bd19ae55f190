"""Optimizer and learning-rate schedule from a TrainConfig."""

import copy

import torch

from .config import TrainConfig


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


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
