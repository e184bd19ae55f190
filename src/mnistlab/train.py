"""The trainer: the whole split on the device, randperm batches, batched augmentation, one run folder.

An epoch is: for each batch: slice, augment, normalise, forward, backward, step (and the per-batch lr)
-> evaluate -> metrics row, weights, resumable checkpoint, the epoch line. Nothing inside the step
syncs with the host: loss, correct counts and the first non-finite step accumulate on the device and are
read every 50 steps (and for the progress bar). Ctrl-C / SIGTERM finish the current step, save a
mid-epoch checkpoint and exit 130 / 143; `--resume` continues bit-identically on the CPU. On CUDA the
checkpoint carries the device's generator too (dropout draws there), but cuDNN's kernels are not asked to be
deterministic, so a resumed GPU run is not promised bit for bit.
"""

import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import checkpoint as ckpt
from . import data as data_mod
from .augment import plan_batch
from .config import RUN_ONLY_KEYS, TrainConfig, from_dict
from .distill import distill_loss, load_teacher
from .dropout import use_fast_dropout
from .errors import MnistlabError
from .evaluate import evaluate
from .models import count_params, create_model, resolved_kwargs
from .optim import EMA, make_optimizer, make_scheduler
from .parallel import ReplicaPair
from .rundir import RunLog, git_commit, new_run_dir, read_json, save_weights, write_json, write_metrics
from .stops import StopFlag, check_finite, interrupted
from .system import library_versions, native_bf16, resolve_device, set_threads

SYNC_EVERY = 50  # steps between host reads of the non-finite-loss flag


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict]
    model: torch.nn.Module


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


def train(
    cfg: TrainConfig, out=None, data_dir=None, overwrite=False, progress=None, quiet=False, resume=False, on_epoch=None
) -> TrainResult:
    """Train `cfg` end to end and write the run directory; `on_epoch(row)` is called after each epoch."""
    spec = data_mod.get_spec(cfg.dataset)
    # Data first: a missing or corrupt file must fail before any folder is created.
    train_split = data_mod.load_split(cfg.dataset, True, data_dir)
    test_split = data_mod.load_split(cfg.dataset, False, data_dir)
    device = resolve_device(cfg.device)
    threads = set_threads(1 if cfg.replicas == 2 else cfg.threads)  # two replicas: one thread each
    if cfg.val_size >= len(train_split):  # these two fail before any folder is created
        raise MnistlabError(f"val_size {cfg.val_size} leaves no training images (the set holds {len(train_split)})")
    create_model(cfg.model, **cfg.model_kwargs)  # unknown model or bad model_kwargs: one line, no empty run folder
    teacher = None
    if cfg.teacher:  # a missing or unfit teacher fails before any folder is created too
        teacher = load_teacher(
            cfg.teacher.replace("{seed}", str(cfg.seed)), cfg.dataset, cfg.val_size, spec.mean, spec.std, device
        )
    if resume:
        run_dir = Path(out)
        saved, meta = ckpt.load_checkpoint(run_dir)  # refuse early, before any file is touched
    else:
        run_dir = new_run_dir(out, cfg.model, overwrite)
        (run_dir / ckpt.NAME).unlink(missing_ok=True)
    log = RunLog(run_dir / "log.txt", quiet)
    progress = sys.stderr.isatty() and not quiet if progress is None else progress

    torch.manual_seed(cfg.seed)  # model init and dropout
    gen = torch.Generator().manual_seed(cfg.seed)  # batch order and augmentation, drawn on the CPU
    train_split, val_split = data_mod.carve_validation(train_split, cfg.val_size)
    train_split, val_split, test_split = train_split.to(device), val_split.to(device), test_split.to(device)
    model = create_model(cfg.model, **cfg.model_kwargs).to(device)
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
        mid = ckpt.restore(saved, meta, model, opt, sched, gen, ema and ema.model)
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
        })  # fmt: skip
        log(f"mnistlab run {run_dir}")
        log(
            f"Python {platform.python_version()}, torch {torch.__version__}, device {device}, threads {threads}"
            f"{' x 2 replicas' if cfg.replicas == 2 else ''}, "
            f"channels_last {cfg.channels_last}, compile {cfg.compile}, bf16 autocast {use_amp}"
            f"{', fast dropout masks' if cfg.fast_dropout else ''}"
        )
        log(f"Data: {cfg.dataset} train {n} / val {len(val_split)} / test {len(test_split)}"
            f"{' (held back)' if cfg.hold_test else ''}, "
            f"normalize mean {mean} std {std}, augmentation: {cfg.augment.describe()}")  # fmt: skip
        log(f"Model: {cfg.model} {cfg.model_kwargs or ''}, {n_params:,} parameters")
        kd = (
            f"teacher {cfg.teacher} (alpha {cfg.distill_alpha}, T {cfg.distill_temperature}, bf16 {teacher_bf16}), "
            if teacher
            else ""
        )
        log(f"Optimizer: {cfg.optimizer} lr {cfg.lr} momentum {cfg.momentum} nesterov {cfg.nesterov} "
            f"weight_decay {cfg.weight_decay}, label_smoothing {cfg.label_smoothing}, ema {cfg.ema}, {kd}"
            f"clean_epochs {cfg.clean_epochs}{' (every epoch)' if cfg.clean_epochs >= epochs else ''}; "
            f"scheduler {cfg.scheduler}; batch {bs}, {epochs} epochs x {steps_per_epoch} steps, "
            f"seed {cfg.seed}")  # fmt: skip

    # Built after a resume restored the weights: replica 1 is a copy of them (parallel.py).
    pair = ReplicaPair(model, cfg.seed) if cfg.replicas == 2 else None

    def amp_ctx():
        return torch.autocast(device.type, torch.bfloat16, enabled=use_amp)

    def save(epoch, extra):
        meta = {"epoch": epoch, "step": step, "metrics": metrics}
        ckpt.save_checkpoint(run_dir, model, opt, sched, gen, meta, extra, ema and ema.model)

    with StopFlag() as stop:
        for epoch in range(first_epoch, epochs + 1):
            t0 = time.perf_counter()
            model.train()
            if mid:  # resuming inside this epoch: its batch order and running sums were saved
                perm, start = mid["perm"].to(device), int(mid["i"])
                loss_sum, correct = mid["loss_sum"].to(device), mid["correct"].to(device)
                lr, t0, mid = float(mid["lr"]), t0 - float(mid["elapsed"]), {}
            else:
                perm, start = torch.randperm(n, generator=gen).to(device), 0
                loss_sum = torch.zeros((), device=device)
                correct = torch.zeros((), device=device, dtype=torch.long)
                lr = opt.param_groups[0]["lr"]
            bad_step = torch.zeros((), device=device, dtype=torch.long)  # 1-based first non-finite step
            steps = min(steps_per_epoch, total_steps - (epoch - 1) * steps_per_epoch)
            bar = _bar(steps, epoch, start) if progress else None
            for i in range(start, steps):
                if stop.signum:
                    extra = {"perm": perm, "i": torch.tensor(i), "loss_sum": loss_sum, "correct": correct,
                             "lr": torch.tensor(lr, dtype=torch.float64),
                             "elapsed": torch.tensor(time.perf_counter() - t0, dtype=torch.float64)}  # fmt: skip
                    save(epoch, extra)
                    interrupted(stop.signum, run_dir, epoch, step)
                idx = perm[i * bs : (i + 1) * bs]
                y = train_split.labels[idx]
                augmenting = epoch <= epochs - cfg.clean_epochs
                plan = (
                    plan_batch(len(idx), *train_split.images.shape[1:], cfg.augment, gen, device)
                    if augmenting
                    else None
                )
                prepare = _inputs(train_split.images[idx], plan, mean, std, cfg.channels_last)
                x = prepare() if pair is None or teacher is not None else None  # (B, 1, 28, 28) normalised
                soft = None
                if teacher is not None:
                    # not inference_mode: the logits are saved for backward. The frozen teacher runs under bf16
                    # autocast where native (a soft target needs no fp32): ~2x cheaper for a 195k-param teacher.
                    with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=teacher_bf16):
                        soft = teacher(x).float()  # (B, 10), the same augmented batch
                    prepare = x.__getitem__  # the halves of the batch the teacher saw

                def loss_of(out, rows, y=y, soft=soft):  # mean loss of batch rows `rows`; out (b, 10) fp32
                    if soft is None:
                        return F.cross_entropy(out, y[rows], label_smoothing=cfg.label_smoothing)
                    return distill_loss(out, soft[rows], y[rows], cfg.distill_alpha, cfg.distill_temperature,
                                        cfg.label_smoothing)  # fmt: skip

                if pair is None:
                    with amp_ctx():
                        out = forward(x)  # (B, 10)
                    loss = loss_of(out.float(), slice(None))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                else:  # each half prepared, run forward and backward in its own thread
                    out, loss = pair.forward_backward(prepare, len(y), loss_of, step, amp_ctx)
                opt.step()
                if pair is not None:
                    pair.sync()
                if ema is not None:
                    ema.update(step)
                if sched is not None and per_batch:
                    sched.step()
                step += 1
                loss = loss.detach()
                bad_step = torch.where((bad_step == 0) & ~torch.isfinite(loss), step, bad_step)
                loss_sum += loss * len(y)
                correct += (out.detach().argmax(1) == y).sum()
                if (i + 1) % SYNC_EVERY == 0 or i == steps - 1:
                    check_finite(int(bad_step), run_dir, epoch, metrics)
                if bar is not None:
                    bar.update(1)
                    if i % 25 == 0 or i == steps - 1:
                        seen = min((i + 1) * bs, n)
                        bar.set_postfix_str(f"loss={loss.item():.4f} acc={100 * correct.item() / seen:.2f}")
            if bar is not None:
                bar.close()
            if sched is not None and not per_batch:
                sched.step()
            seen = min(steps * bs, n)
            train_loss, train_acc = loss_sum.item() / seen, 100 * correct.item() / seen
            row = {"epoch": epoch, "train_loss": round(train_loss, 6), "train_acc": round(train_acc, 4)}
            if pair is not None:  # the replica thread idles during evaluation: `threads` serve the ops
                set_threads(cfg.threads)
            if cfg.val_size:
                v = evaluate(net, val_split, mean, std, cfg.eval_batch_size)
                row |= {"val_loss": round(v.loss, 6), "val_acc": round(100 * v.accuracy, 4)}
            t = None if cfg.hold_test else evaluate(net, test_split, mean, std, cfg.eval_batch_size)
            if pair is not None:
                torch.set_num_threads(1)
            seconds = time.perf_counter() - t0
            if t is not None:  # held back (hold_test): the rows have no test columns at all
                row |= {"test_loss": round(t.loss, 6), "test_acc": round(100 * t.accuracy, 4)}
            row |= {"lr": lr, "seconds": round(seconds, 3)}
            metrics.append(row)
            write_metrics(run_dir, metrics)
            save_weights(net, run_dir / "model.safetensors")
            save(epoch + 1, {})
            val = f" | val acc {row['val_acc']:.2f}%" if cfg.val_size else ""
            test = (f" | test loss {t.loss:.4f}, Accuracy: {t.correct}/{t.total} ({100 * t.accuracy:.2f}%)"
                    if t is not None else " | test held back")  # fmt: skip
            log(f"Epoch {epoch}: train loss {train_loss:.4f} acc {train_acc:.2f}%{val}{test} | {seconds:.1f}s")
            if on_epoch is not None:
                on_epoch(row)
            if stop.signum and epoch < epochs:
                interrupted(stop.signum, run_dir, epoch + 1, step)
    if pair is not None:
        pair.close()
    total = sum(r["seconds"] for r in metrics)
    final = (f"test accuracy {metrics[-1]['test_acc']:.2f}%" if not cfg.hold_test
             else f"val accuracy {metrics[-1]['val_acc']:.2f}% (test held back)")  # fmt: skip
    log(f"Final: {final} after {len(metrics)} epochs ({step} steps) in {total:.1f}s; run saved in {run_dir}")
    if cfg.budget is not None:  # the assignment's verdict, the same rows as `mnistlab check`
        from .budget import check, verdict_lines

        for line in verdict_lines(check(str(run_dir), cfg.budget)):
            log(line)
    return TrainResult(run_dir, metrics, net.eval())


def _inputs(images: torch.Tensor, plan, mean: float, std: float, channels_last: bool):
    """prepare(rows) -> (b, 1, H, W): the batch's rows scaled to [0, 1], augmented by `plan` (drawn for the
    whole batch) and standardised. Rows of the batch give exactly the rows of the whole (augment.AugPlan)."""

    def prepare(rows: slice = slice(None)) -> torch.Tensor:
        x = images[rows].unsqueeze(1).float().div_(255)  # (b, 1, H, W) in [0, 1]
        if plan is not None:
            x = plan.apply(x, rows)
        x = (x - mean) / std
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    return prepare


def _bar(total: int, epoch: int, start: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc=f"Epoch {epoch}", leave=False, dynamic_ncols=True, file=sys.stderr)
