"""The trainer: the whole split on the device, randperm batches, batched augmentation, one run folder.

`train_model(model, cfg)` trains any nn.Module (or a function that builds one, called after seeding);
`train(cfg)` builds cfg's network first: a registered name or the user's FILE.py:Name. The loop reads top
to bottom — per step: batch, augment, forward, loss, backward, optimizer step; per epoch: evaluate, write —
and the optional features are pieces chosen once before it (steps.py: the objective with or without a
teacher, one model or two replicas; the weights' EMA; a per-batch schedule). Nothing inside a step syncs
with the host: loss, correct counts and the first non-finite step accumulate on the device and are read
every 50 steps (and for the progress bar). Ctrl-C / SIGTERM finish the current step, save a mid-epoch
checkpoint and stop (exit 130 / 143); a resumed run continues bit-identically on the CPU. On CUDA the
checkpoint carries the device's generator too, but cuDNN's kernels are not asked to be deterministic, so a
resumed GPU run is not promised bit for bit.
"""

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data import verified as data_mod
from ..errors import MnistlabError
from ..models import count_params, create_model, resolved_kwargs
from ..models.provenance import build_from_meta, record_source
from ..models.source import parse_ref, probe
from ..system import keep_freed_memory, library_versions, native_bf16, resolve_device, set_threads
from . import checkpoint as ckpt
from . import replica_process
from .augment import plan_batch
from .config import RUN_ONLY_KEYS, TrainConfig, from_dict
from .distill import load_teacher
from .dropout import cheaper_bernoulli, use_fast_dropout
from .evaluate import evaluate
from .header import header_lines
from .optim import EMA, make_optimizer, make_scheduler
from .parallel import ReplicaPair
from .rundir import RunLog, git_commit, new_run_dir, read_json, save_weights, write_json, write_metrics
from .steps import CrossEntropy, Distiller, SingleStep, Tally, inputs
from .stops import StopFlag, check_finite, interrupted

SYNC_EVERY = 50  # steps between host reads of the non-finite-loss flag


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict]
    model: torch.nn.Module
    test_outputs: torch.Tensor | None = None  # (N, 10) of the last test pass, for the report (not re-predicted)


def resume_config(run_dir: str | Path) -> TrainConfig:
    """The config a run was started with (config.json), for `--resume`; its model_kwargs are model.json's
    resolved constructor kwargs, so a registered default changed since the run started cannot change the
    network a resumed run rebuilds (config.json holds only the kwargs given on the command line)."""
    run_dir = Path(run_dir)
    data = read_json(run_dir / "config.json")
    data = {k: v for k, v in data.items() if k not in RUN_ONLY_KEYS}
    if (run_dir / "model.json").is_file():
        kwargs = read_json(run_dir / "model.json").get("kwargs")
        if isinstance(kwargs, dict):
            data["model_kwargs"] = kwargs
    return from_dict(TrainConfig, data).validate()


def train(cfg: TrainConfig, out=None, data_dir=None, overwrite=False, progress=None, quiet=False, resume=False,
          on_epoch=None, trust_code=False, on_end=None) -> TrainResult:  # fmt: skip
    """Build cfg's network and train it (train_model). A resumed run rebuilds its network from model.json,
    which runs the run folder's copy of user code only with `trust_code`."""
    if resume:
        if not (Path(out) / ckpt.NAME).is_file():
            raise MnistlabError(f"{Path(out) / ckpt.NAME}: no checkpoint to resume from")
        meta = read_json(Path(out) / "model.json")
        return train_model(lambda: build_from_meta(Path(out), meta, trust_code), cfg, out, data_dir, overwrite,
                           progress, quiet, resume, on_epoch, on_end)  # fmt: skip
    return train_model(lambda: create_model(cfg.model, **cfg.model_kwargs), cfg, out, data_dir, overwrite, progress,
                       quiet, resume, on_epoch, on_end)  # fmt: skip


def train_model(
    model: nn.Module | Callable[[], nn.Module], cfg: TrainConfig, out=None, data_dir=None, overwrite=False,
    progress=None, quiet=False, resume=False, on_epoch=None, on_end=None,
) -> TrainResult:  # fmt: skip
    """Train `model` by `cfg` end to end and write the run directory; `on_epoch(row)` after each epoch and
    `on_end(run_dir, model, log)` after the last (log(line) prints and appends to log.txt).

    `model` is an instance (trained in place; its initial weights are the caller's) or a zero-argument
    builder, called after seeding so the initial weights follow cfg.seed. Everything that can be refused
    is refused before a folder is created or a file touched."""
    spec = data_mod.get_spec(cfg.dataset)
    train_split = data_mod.load_split(cfg.dataset, True, data_dir)
    test_split = data_mod.load_split(cfg.dataset, False, data_dir)
    device = resolve_device(cfg.device)
    threads = set_threads(1 if cfg.replicas == 2 else cfg.threads)  # two replicas: one thread each
    keep_freed_memory()  # each step reuses the last step's blocks instead of faulting fresh pages in
    if cfg.val_size >= len(train_split):
        raise MnistlabError(f"val_size {cfg.val_size} leaves no training images (the set holds {len(train_split)})")
    instance = model if isinstance(model, nn.Module) else None
    if instance is not None:
        probe(instance, cfg.model)
    else:
        model()  # an unknown model, bad model_kwargs or a network that cannot train: one line, no folder
    teacher = None
    if cfg.teacher:
        teacher = load_teacher(
            cfg.teacher.replace("{seed}", str(cfg.seed)), cfg.dataset, cfg.val_size, spec.mean, spec.std, device
        )
    if resume:
        run_dir = Path(out)
        saved, meta = ckpt.load_checkpoint(run_dir)
    else:
        run_dir = new_run_dir(out, parse_ref(cfg.model).label, overwrite)
        (run_dir / ckpt.NAME).unlink(missing_ok=True)
    log = RunLog(run_dir / "log.txt", quiet)
    progress = sys.stderr.isatty() and not quiet if progress is None else progress

    # Set-up: seeds, data on the device, the network, the optimizer and the optional pieces.
    torch.manual_seed(cfg.seed)  # model init (a builder) and dropout
    gen = torch.Generator().manual_seed(cfg.seed)  # batch order and augmentation, drawn on the CPU
    train_split, val_split = data_mod.carve_validation(train_split, cfg.val_size)
    train_split, val_split, test_split = train_split.to(device), val_split.to(device), test_split.to(device)
    model = (instance if instance is not None else model()).to(device)
    if cfg.fast_dropout:
        use_fast_dropout(model)  # no parameters change: the weights and model.json are the same
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if cfg.compile else model  # eval uses the eager model: no recompiles
    n_params = count_params(model)
    use_amp = cfg.amp and native_bf16(device)  # training only: evaluation stays fp32
    teacher_bf16 = teacher is not None and native_bf16(device)
    opt = make_optimizer(cfg, model)
    ema = EMA(model, cfg.ema) if cfg.ema else None
    net = ema.model if ema else model  # what is evaluated, saved and returned
    n, bs = len(train_split), cfg.batch_size
    steps_per_epoch = math.ceil(n / bs)
    total_steps = min(cfg.epochs * steps_per_epoch, cfg.max_steps or 10**12)
    epochs = math.ceil(total_steps / steps_per_epoch)
    sched, per_batch = make_scheduler(cfg, opt, total_steps)
    mean, std = spec.mean, spec.std

    metrics, step, first_epoch, mid = [], 0, 1, {}
    if resume:
        mid = _restore(saved, meta, model, opt, sched, gen, ema, run_dir)
        metrics, step, first_epoch = meta["metrics"], meta["step"], meta["epoch"]
        if first_epoch > epochs:  # a finished run, read back (repeat --resume): its log.txt stays as it was
            log = RunLog(None, quiet)
        else:
            log(f"Resumed {run_dir} at epoch {first_epoch}, step {step}")
    else:
        write_json(
            run_dir / "config.json", {**cfg.to_dict(), "library": library_versions(), "git_commit": git_commit()}
        )
        write_json(run_dir / "model.json", {
            "name": cfg.model, "kwargs": resolved_kwargs(model, cfg.model_kwargs), "params": n_params,
            "dataset": cfg.dataset,
            "normalize": {"mean": mean, "std": std}, "classes": list(spec.classes), "input_shape": [1, 28, 28],
            **record_source(cfg.model, run_dir, instance),
        })  # fmt: skip
        for line in header_lines(cfg, run_dir, device=device, threads=threads, use_amp=use_amp, n_params=n_params,
                                 sizes=(n, len(val_split), len(test_split)), spec=spec, epochs=epochs,
                                 steps_per_epoch=steps_per_epoch, teacher_bf16=teacher_bf16):  # fmt: skip
            log(line)

    # The optional pieces, chosen once. Replicas are built after a resume restored the weights: replica 1 is
    # a copy of them (parallel.py).
    stepper = SingleStep(forward)
    if cfg.replicas == 2:  # replica 1 in a process of its own where it can be (the same numbers, no GIL)
        own_process = teacher is None and replica_process.available(device)
        stepper = (replica_process.ReplicaProcess(model, cfg.seed, bs, cfg.label_smoothing) if own_process
                   else ReplicaPair(model, cfg.seed))  # fmt: skip
    objective = (Distiller(teacher, cfg.distill_alpha, cfg.distill_temperature, cfg.label_smoothing, teacher_bf16)
                 if teacher is not None else CrossEntropy(cfg.label_smoothing))  # fmt: skip
    after_step = [lambda step: stepper.sync()]  # replica 1 takes replica 0's new weights
    if ema is not None:
        after_step.append(ema.update)
    if sched is not None and per_batch:
        after_step.append(lambda step: sched.step())

    def amp_ctx():
        return torch.autocast(device.type, torch.bfloat16, enabled=use_amp)

    def save(epoch, extra):
        meta = {"epoch": epoch, "step": step, "metrics": metrics}
        ckpt.save_checkpoint(run_dir, model, opt, sched, gen, meta, extra, ema and ema.model)

    final_outputs = None  # the last epoch's test outputs, kept for the report
    with StopFlag() as stop, cheaper_bernoulli(model, enabled=not cfg.compile):  # the same masks, cheaper
        for epoch in range(first_epoch, epochs + 1):
            t0 = time.perf_counter()
            model.train()
            if mid:  # resuming inside this epoch: its batch order and running sums were saved
                perm, start = mid["perm"].to(device), int(mid["i"])
                tally = Tally(device, mid["loss_sum"], mid["correct"])
                lr, t0, mid = float(mid["lr"]), t0 - float(mid["elapsed"]), {}
            else:
                perm, start, tally = torch.randperm(n, generator=gen).to(device), 0, Tally(device)
                lr = opt.param_groups[0]["lr"]
            steps = min(steps_per_epoch, total_steps - (epoch - 1) * steps_per_epoch)
            augmenting = epoch <= epochs - cfg.clean_epochs
            bar = _bar(steps, epoch, start) if progress else None
            for i in range(start, steps):
                if stop.signum:
                    extra = {"perm": perm, "i": torch.tensor(i), "loss_sum": tally.loss_sum, "correct": tally.correct,
                             "lr": torch.tensor(lr, dtype=torch.float64),
                             "elapsed": torch.tensor(time.perf_counter() - t0, dtype=torch.float64)}  # fmt: skip
                    save(epoch, extra)
                    interrupted(stop.signum, run_dir, epoch, step)
                idx = perm[i * bs : (i + 1) * bs]
                y = train_split.labels[idx]
                plan = (
                    plan_batch(len(idx), *train_split.images.shape[1:], cfg.augment, gen, device)
                    if augmenting
                    else None
                )
                prepare = inputs(train_split.images[idx], plan, mean, std, cfg.channels_last)
                loss_of, prepare = objective.bind(prepare, y)
                opt.zero_grad(set_to_none=True)
                out, loss = stepper.forward_backward(prepare, len(y), loss_of, step, amp_ctx)
                opt.step()
                for hook in after_step:
                    hook(step)
                step += 1
                tally.add(loss, out, y, step)
                if (i + 1) % SYNC_EVERY == 0 or i == steps - 1:
                    check_finite(int(tally.bad_step), run_dir, epoch, metrics)
                if bar is not None:
                    bar.update(1)
                    if i % 25 == 0 or i == steps - 1:
                        seen = min((i + 1) * bs, n)
                        bar.set_postfix_str(f"loss={loss.item():.4f} acc={100 * tally.correct.item() / seen:.2f}")
            if bar is not None:
                bar.close()
            if sched is not None and not per_batch:
                sched.step()

            # Per epoch: evaluate, write the row, the weights and a checkpoint.
            seen = min(steps * bs, n)
            train_loss, train_acc = tally.loss_sum.item() / seen, 100 * tally.correct.item() / seen
            row = {"epoch": epoch, "train_loss": round(train_loss, 6), "train_acc": round(train_acc, 4)}
            due = epoch == epochs or (cfg.eval_every > 0 and epoch % cfg.eval_every == 0)
            with stepper.idle(cfg.threads):  # two replicas idle meanwhile: evaluation gets `threads` threads
                v = evaluate(net, val_split, mean, std, cfg.eval_batch_size) if cfg.val_size and due else None
                t = (evaluate(net, test_split, mean, std, cfg.eval_batch_size, keep_outputs=epoch == epochs)
                     if due and not cfg.hold_test else None)  # fmt: skip
            if v is not None:
                row |= {"val_loss": round(v.loss, 6), "val_acc": round(100 * v.accuracy, 4)}
            seconds = time.perf_counter() - t0
            if t is not None:  # held back (hold_test): the rows have no test columns at all
                final_outputs = t.outputs
                row |= {"test_loss": round(t.loss, 6), "test_acc": round(100 * t.accuracy, 4)}
            row |= {"lr": lr, "seconds": round(seconds, 3)}
            metrics.append(row)
            write_metrics(run_dir, metrics)
            save_weights(net, run_dir / "model.safetensors")
            save(epoch + 1, {})
            val = f" | val acc {row['val_acc']:.2f}%" if v is not None else ""
            test = (f" | test loss {t.loss:.4f}, Accuracy: {t.correct}/{t.total} ({100 * t.accuracy:.2f}%)"
                    if t is not None else " | test held back" if cfg.hold_test else "")  # fmt: skip
            log(f"Epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.2f}%{val}{test} | {seconds:.1f}s")
            if on_epoch is not None:
                on_epoch(row)
            if stop.signum and epoch < epochs:
                interrupted(stop.signum, run_dir, epoch + 1, step)
    stepper.close()
    set_threads(cfg.threads)  # after two replicas' one thread each: what runs next (a report, a cell) gets them all
    total = sum(r["seconds"] for r in metrics)
    final = (f"test accuracy {metrics[-1]['test_acc']:.2f}%" if not cfg.hold_test
             else f"val accuracy {metrics[-1]['val_acc']:.2f}% (test held back)")  # fmt: skip
    log(f"Final: {final} after {len(metrics)} epochs ({step} steps) in {total:.1f}s; run saved in {run_dir}")
    if on_end is not None:  # e.g. the budget verdict (inspection.budget.verdict_hook), into log.txt too
        on_end(run_dir, net, log)
    return TrainResult(run_dir, metrics, net.eval(), final_outputs)


def _restore(saved, meta, model, opt, sched, gen, ema, run_dir) -> dict:
    try:
        return ckpt.restore(saved, meta, model, opt, sched, gen, ema and ema.model)
    except (RuntimeError, ValueError, KeyError) as e:  # another network than the one the checkpoint holds
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MnistlabError(f"{run_dir}: the checkpoint does not fit this network: {first}") from None


def _bar(total: int, epoch: int, start: int):
    from tqdm.auto import tqdm  # a widget in Jupyter, text in a terminal

    return tqdm(total=total, initial=start, desc=f"Epoch {epoch}", leave=False, dynamic_ncols=True, file=sys.stderr)
