"""What one training step computes, as small pieces the trainer's loop composes:

inputs(images, plan)      -> prepare(rows): the batch's rows scaled, augmented, standardised
CrossEntropy / Distiller  -> bind(prepare, y): the loss of any rows of the batch (and the inputs to use)
SingleStep / ReplicaPair  -> forward_backward(prepare, n, loss_of, step, autocast): outputs, loss, .grad set
Tally                     -> the epoch's running loss, correct count and first non-finite step, on the device

Each piece keeps to itself what it needs, so the loop in train.py reads the same with or without
distillation or replicas, and each is tested on its own.
"""

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .distill import distill_loss


def inputs(images: torch.Tensor, plan, mean: float, std: float, channels_last: bool):
    """prepare(rows) -> (b, 1, H, W): the batch's rows scaled to [0, 1], augmented by `plan` (drawn for the
    whole batch) and standardised. Rows of the batch give exactly the rows of the whole (augment.AugPlan)."""

    def prepare(rows: slice = slice(None)) -> torch.Tensor:
        x = images[rows].unsqueeze(1).float().div_(255)  # (b, 1, H, W) in [0, 1]
        if plan is not None:
            x = plan.apply(x, rows)
        x = (x - mean) / std
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    return prepare


class CrossEntropy:
    def __init__(self, label_smoothing: float = 0.0):
        self.label_smoothing = label_smoothing

    def bind(self, prepare, y: torch.Tensor):
        """-> (loss_of(out, rows), prepare): the mean loss of batch rows `rows`; out (b, 10) fp32."""

        def loss_of(out, rows):
            return F.cross_entropy(out, y[rows], label_smoothing=self.label_smoothing)

        loss_of.labels = y  # what replica_process.ReplicaProcess sends its worker (it computes the same loss)
        return loss_of, prepare


class Distiller:
    """The teacher's soft targets for the very batch the student sees (after augmentation).

    Not inference_mode: the inputs are saved for the student's backward. The frozen teacher runs under bf16
    autocast where native (a soft target needs no fp32): ~2x cheaper for a 195k-parameter teacher."""

    def __init__(self, teacher: nn.Module, alpha: float, temperature: float, label_smoothing: float, bf16: bool):
        self.teacher, self.alpha, self.temperature = teacher, alpha, temperature
        self.label_smoothing, self.bf16 = label_smoothing, bf16

    def bind(self, prepare, y: torch.Tensor):
        x = prepare(slice(None))  # (B, 1, 28, 28): prepared once, so the halves of two replicas are rows of what it saw
        device = x.device.type
        with torch.no_grad(), torch.autocast(device, torch.bfloat16, enabled=self.bf16):
            soft = self.teacher(x).float()  # (B, 10)

        def loss_of(out, rows):
            return distill_loss(out, soft[rows], y[rows], self.alpha, self.temperature, self.label_smoothing)

        return loss_of, x.__getitem__


class SingleStep:
    """One model, the whole batch: the default. The same call as parallel.ReplicaPair's."""

    def __init__(self, forward):
        self.forward = forward  # the model, or its torch.compile'd wrapper

    def forward_backward(self, prepare, n: int, loss_of, step: int, autocast):
        x = prepare(slice(None))
        with autocast():
            out = self.forward(x)  # (B, 10)
        loss = loss_of(out.float(), slice(None))
        loss.backward()
        return out.detach(), loss.detach()

    def sync(self) -> None:  # one model: nothing to copy after the optimizer step
        pass

    def idle(self, threads: int):  # one model: it already runs on `threads` threads
        return contextlib.nullcontext()

    def close(self) -> None:
        pass


class Tally:
    """An epoch's running sums, kept on the device so no step waits for the host (read every SYNC_EVERY)."""

    def __init__(self, device, loss_sum=None, correct=None):
        self.loss_sum = torch.zeros((), device=device) if loss_sum is None else loss_sum.to(device)
        self.correct = torch.zeros((), device=device, dtype=torch.long) if correct is None else correct.to(device)
        self.bad_step = torch.zeros((), device=device, dtype=torch.long)  # 1-based first non-finite step

    def add(self, loss: torch.Tensor, out: torch.Tensor, y: torch.Tensor, step: int) -> None:
        self.bad_step = torch.where((self.bad_step == 0) & ~torch.isfinite(loss), step, self.bad_step)
        self.loss_sum += loss * len(y)
        self.correct += (out.argmax(1) == y).sum()
