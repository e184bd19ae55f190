"""The trainer: the whole split on the device, randperm batches, batched augmentation, one run folder.

One epoch is: set lr -> for each batch: slice, augment, normalise, forward, backward, step -> evaluate
-> write metrics, weights and the epoch line. No `.item()` inside the step: loss and correct counts
accumulate on the device and are read once per epoch (and every few steps for the progress bar).
"""

import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import data as data_mod
from .augment import augment_batch
from .config import TrainConfig
from .evaluate import evaluate
from .models import count_params, create_model
from .rundir import git_commit, new_run_dir, save_weights, write_json, write_metrics


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from .errors import MnistlabError

        raise MnistlabError("--device cuda: no CUDA device is available here")
    return torch.device(name)


def set_threads(n: int) -> int:
    """0 -> one thread per core (os.sched_getaffinity), never more: oversubscription is far worse."""
    if not n:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(n)
    return n


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_scheduler(cfg: TrainConfig, opt, steps_per_epoch: int, total_steps: int):
    """-> (scheduler or None, stepped per batch?). StepLR counts epochs; the others count batches."""
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, cfg.step_size, cfg.gamma), False
    if cfg.scheduler == "onecycle":
        cycle = cfg.optimizer != "sgd" or cfg.momentum > 0
        return torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=cfg.lr,
            total_steps=total_steps,
            pct_start=cfg.pct_start,
            div_factor=cfg.div_factor,
            final_div_factor=cfg.final_div_factor,
            cycle_momentum=cycle,
        ), True
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps), True
    return None, False


class RunLog:
    """Prints a line and appends it to log.txt."""

    def __init__(self, path: Path, quiet: bool = False):
        self.path, self.quiet = path, quiet

    def __call__(self, line: str = "") -> None:
        if not self.quiet:
            print(line, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")


def carve_validation(split: data_mod.Split, n: int, seed: int = 12345):
    """A fixed random subset of the training set held out for tuning: (train, val)."""
    if n == 0:
        return split, data_mod.Split(split.images[:0], split.labels[:0])
    perm = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))
    val, train = perm[:n], perm[n:]
    return data_mod.Split(split.images[train], split.labels[train]), data_mod.Split(
        split.images[val], split.labels[val]
    )


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict]
    model: torch.nn.Module


def train(
    cfg: TrainConfig,
    out: str | Path | None = None,
    data_dir: str | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    quiet: bool = False,
    on_epoch=None,
) -> TrainResult:
    """Train `cfg` end to end and write the run directory; returns it with the metrics.

    `on_epoch(row)` is called with each epoch's metrics row; an exception it raises (a sweep's pruner
    stopping the trial) ends the run there.
    """
    spec = data_mod.get_spec(cfg.dataset)
    # Data first: a missing or corrupt file must fail before any folder is created.
    train_split = data_mod.load_split(cfg.dataset, True, data_dir)
    test_split = data_mod.load_split(cfg.dataset, False, data_dir)
    device = resolve_device(cfg.device)
    threads = set_threads(cfg.threads)
    run_dir = new_run_dir(out, cfg.model, overwrite)
    log = RunLog(run_dir / "log.txt", quiet)
    progress = sys.stderr.isatty() and not quiet if progress is None else progress

    torch.manual_seed(cfg.seed)  # model init and dropout
    gen = torch.Generator().manual_seed(cfg.seed)  # batch order and augmentation
    train_split, val_split = carve_validation(train_split, cfg.val_size)
    train_split, val_split, test_split = train_split.to(device), val_split.to(device), test_split.to(device)
    model = create_model(cfg.model, **cfg.model_kwargs).to(device)
    n_params = count_params(model)
    opt = make_optimizer(cfg, model)
    n = len(train_split)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total_steps = min(cfg.epochs * steps_per_epoch, cfg.max_steps or 10**12)
    epochs = math.ceil(total_steps / steps_per_epoch)
    sched, per_batch = make_scheduler(cfg, opt, steps_per_epoch, total_steps)
    mean, std = spec.mean, spec.std

    write_json(run_dir / "config.json", {**cfg.to_dict(), "library": library_versions(), "git_commit": git_commit()})
    write_json(
        run_dir / "model.json",
        {
            "name": cfg.model,
            "kwargs": cfg.model_kwargs,
            "params": n_params,
            "dataset": cfg.dataset,
            "normalize": {"mean": mean, "std": std},
            "classes": list(spec.classes),
            "input_shape": [1, 28, 28],
        },
    )
    log(f"mnistlab run {run_dir}")
    log(f"Python {platform.python_version()}, torch {torch.__version__}, device {device}, threads {threads}")
    log(
        f"Data: {cfg.dataset} train {n} / val {len(val_split)} / test {len(test_split)}, "
        f"normalize mean {mean} std {std}, augmentation: {cfg.augment.describe()}"
    )
    log(f"Model: {cfg.model} {cfg.model_kwargs or ''}, {n_params:,} parameters")
    log(
        f"Optimizer: {cfg.optimizer} lr {cfg.lr} momentum {cfg.momentum} nesterov {cfg.nesterov} "
        f"weight_decay {cfg.weight_decay}, label_smoothing {cfg.label_smoothing}; scheduler {cfg.scheduler}; "
        f"batch {cfg.batch_size}, {epochs} epochs x {steps_per_epoch} steps, seed {cfg.seed}"
    )

    metrics, step = [], 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        lr = opt.param_groups[0]["lr"]
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        steps = min(steps_per_epoch, total_steps - step)
        bar = _bar(steps, epoch) if progress else None
        for i in range(steps):
            idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = train_split.images[idx].unsqueeze(1).float().div_(255)  # (B, 1, 28, 28) in [0, 1]
            y = train_split.labels[idx]
            x = (augment_batch(x, cfg.augment, gen) - mean) / std
            out = model(x)  # (B, 10)
            loss = F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None and per_batch:
                sched.step()
            loss_sum += loss.detach() * len(y)
            correct += (out.detach().argmax(1) == y).sum()
            seen += len(y)
            step += 1
            if bar is not None:
                bar.update(1)
                if i % 25 == 0 or i == steps - 1:
                    bar.set_postfix_str(f"loss={loss.item():.4f} acc={100 * correct.item() / seen:.2f}")
        if bar is not None:
            bar.close()
        if sched is not None and not per_batch:
            sched.step()
        train_loss, train_acc = loss_sum.item() / seen, 100 * correct.item() / seen
        if not math.isfinite(train_loss):
            from .errors import MnistlabError

            raise MnistlabError(
                f"training diverged: loss is {train_loss} in epoch {epoch} (step {step}); lower the lr", exit_code=3
            )
        row = {"epoch": epoch, "train_loss": round(train_loss, 6), "train_acc": round(train_acc, 4)}
        if cfg.val_size:
            v = evaluate(model, val_split, mean, std, cfg.eval_batch_size)
            row |= {"val_loss": round(v.loss, 6), "val_acc": round(100 * v.accuracy, 4)}
        t = evaluate(model, test_split, mean, std, cfg.eval_batch_size)
        seconds = time.perf_counter() - t0
        row |= {
            "test_loss": round(t.loss, 6),
            "test_acc": round(100 * t.accuracy, 4),
            "lr": lr,
            "seconds": round(seconds, 3),
        }
        metrics.append(row)
        write_metrics(run_dir, metrics)
        save_weights(model, run_dir / "model.safetensors")
        val = f" | val acc {row['val_acc']:.2f}%" if cfg.val_size else ""
        log(
            f"Epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.2f}%{val} | test loss {t.loss:.4f}, "
            f"Accuracy: {t.correct}/{t.total} ({100 * t.accuracy:.2f}%) | {seconds:.1f}s"
        )
        if on_epoch is not None:
            on_epoch(row)
    total = sum(r["seconds"] for r in metrics)
    log(
        f"Final: test accuracy {metrics[-1]['test_acc']:.2f}% after {len(metrics)} epochs ({step} steps) "
        f"in {total:.1f}s; run saved in {run_dir}"
    )
    if cfg.budget is not None:  # the assignment's verdict, the same rows as `mnistlab check`
        from .budget import check, verdict_lines

        for line in verdict_lines(check(str(run_dir), cfg.budget)):
            log(line)
    return TrainResult(run_dir, metrics, model.eval())


def _bar(total: int, epoch: int):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"Epoch {epoch}", leave=False, dynamic_ncols=True, file=sys.stderr)


def library_versions() -> dict:
    import numpy

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "processor": _cpu_name(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
