"""Two model replicas, one per core: each batch's two halves go forward and backward in two threads.

Why: for these small convolutions PyTorch's intra-op threading gains only ~1.3x from a second core
(benchmarks/README.md), while two independent one-thread streams keep both cores busy (ops release the
GIL). The price is BatchNorm over each half ("ghost batch norm", Hoffer et al. 2017): batch statistics of
B/2 images, not B, so a run with `replicas = 2` is a different recipe from `replicas = 1`, checked on
validation before use (research/speed/replicas).

Bit-for-bit reproducibility is kept: the gradients of the two halves are summed in a fixed order into
replica 0 (the model the optimizer, EMA, checkpoints and evaluation see); replica 1 copies its weights
after every step and both hold the average of their BatchNorm running statistics, so it carries no state
of its own and `--resume` rebuilds it exactly. Dropout cannot draw from the shared global generator
(two threads would interleave their draws), so each replica's Dropout modules draw from a generator
seeded from (seed, step, replica) at every step.

The trainer runs replica 1 in a forked process instead of a thread where it can (replica_process.py: the
same numbers without the GIL's hand-offs); this thread pair serves distillation and platforms without fork.
"""

import contextlib
import copy
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn

from ..system import set_threads
from .dropout import FastDropout, bernoulli_noise, fast_dropout


def _seeded_dropout(module: nn.Dropout, gen: torch.Generator):
    def forward(x):  # the same as F.dropout, but from this replica's generator
        if not module.training or module.p == 0:
            return x
        if isinstance(module, FastDropout):  # fast_dropout = true: its cheaper mask, from this generator
            return fast_dropout(x, module.p, gen)
        keep = bernoulli_noise(x, 1 - module.p, gen)  # empty_like(x).bernoulli_(1 - p), as ATen's dropout
        return x * keep.div_(1 - module.p)

    return forward


class ReplicaPair:
    """Replica 0 is `model` itself; `forward_backward` leaves the whole batch's gradient in its .grad."""

    def __init__(self, model: nn.Module, seed: int):
        self.models = [model, copy.deepcopy(model)]
        self.seed = seed
        self.gens = [torch.Generator(), torch.Generator()]
        for m, g in zip(self.models, self.gens, strict=True):
            for mod in m.modules():
                if isinstance(mod, nn.Dropout):
                    mod.forward = _seeded_dropout(mod, g)
        self.params = [[p for p in m.parameters() if p.requires_grad] for m in self.models]
        self.stats = [[b for n, b in m.named_buffers() if n.endswith(("running_mean", "running_var"))]
                      for m in self.models]  # fmt: skip
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="mnistlab-replica")

    def forward_backward(self, prepare, n: int, loss_of, step: int, autocast) -> tuple[torch.Tensor, torch.Tensor]:
        """prepare(rows) -> (b, 1, 28, 28) inputs of a batch of n; loss_of(out, rows) -> their mean loss.
        Returns (n, 10) outputs and the batch's mean loss, both detached; replica 0's .grad then holds the
        batch's mean-loss gradient. Each thread prepares (augments) its own half."""
        halves = [slice(0, n - n // 2), slice(n - n // 2, n)]  # (n+1)//2 and n//2 rows

        def run(i: int):
            rows = halves[i]
            loss_fn = lambda out: loss_of(out, rows)  # noqa: E731
            return self.half_step(i, prepare(rows), loss_fn, (rows.stop - rows.start) / n, step, autocast)

        other = self.pool.submit(run, 1)
        out0, loss0 = run(0)
        out1, loss1 = other.result()  # re-raises the worker's exception here
        torch._foreach_add_([p.grad for p in self.params[0]], [p.grad for p in self.params[1]])
        k = halves[0].stop
        return torch.cat([out0, out1]), (loss0 * k + loss1 * (n - k)) / n

    def half_step(self, i: int, x: torch.Tensor, loss_fn, weight: float, step: int, autocast):
        """Replica i's forward and backward on its half x: loss_fn(fp32 outputs) -> the half's mean loss, scaled
        by `weight` (the half's share of the batch) before backward, so the two halves' gradients sum to the
        batch mean's. Returns the detached outputs and mean loss. Shared by the threads here and by
        replica_process (the parent's half and the worker's)."""
        self.gens[i].manual_seed((self.seed * 1_000_003 + step) * 2 + i)  # no state to checkpoint
        for p in self.params[i]:
            p.grad = None
        with autocast():  # autocast state is per thread: each thread enters its own
            out = self.models[i](x)
        loss = loss_fn(out.float())
        (loss * weight).backward()
        return out.detach(), loss.detach()

    @torch.no_grad()
    def sync(self) -> None:
        """After the optimizer step: replica 1 takes replica 0's weights; both get the mean running stats."""
        torch._foreach_copy_(self.params[1], self.params[0])
        torch._foreach_add_(self.stats[0], self.stats[1])
        torch._foreach_mul_(self.stats[0], 0.5)
        torch._foreach_copy_(self.stats[1], self.stats[0])

    @contextlib.contextmanager
    def idle(self, threads: int):
        """While the replicas wait (evaluation between epochs), the parent's ops get `threads` intra-op threads
        instead of the one each replica steps with."""
        set_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(1)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.restore_dropout()

    def restore_dropout(self) -> None:
        """Replica 0 is the caller's model: its Dropout modules draw from the global generator again (a model
        trained in a notebook cell and trained again there with one replica must not keep this pair's draws)."""
        for mod in self.models[0].modules():
            if isinstance(mod, nn.Dropout):
                vars(mod).pop("forward", None)
