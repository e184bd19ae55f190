"""The set-up lines a run's log.txt begins with: enough to reproduce the run from the log alone."""

import platform

import torch

from .config import TrainConfig


def header_lines(cfg: TrainConfig, run_dir, *, device, threads, use_amp, n_params, sizes, spec, epochs,
                 steps_per_epoch, teacher_bf16) -> list[str]:  # fmt: skip
    """sizes = (train, val, test) image counts; spec = the dataset's DatasetSpec (mean, std)."""
    n, n_val, n_test = sizes
    kd = (f"teacher {cfg.teacher} (alpha {cfg.distill_alpha}, T {cfg.distill_temperature}, bf16 {teacher_bf16}), "
          if cfg.teacher else "")  # fmt: skip
    return [
        f"mnistlab run {run_dir}",
        f"Python {platform.python_version()}, torch {torch.__version__}, device {device}, threads {threads}"
        f"{' x 2 replicas' if cfg.replicas == 2 else ''}, "
        f"channels_last {cfg.channels_last}, compile {cfg.compile}, bf16 autocast {use_amp}"
        f"{', fast dropout masks' if cfg.fast_dropout else ''}",
        f"Data: {cfg.dataset} train {n} / val {n_val} / test {n_test}{' (held back)' if cfg.hold_test else ''}, "
        f"normalize mean {spec.mean} std {spec.std}, augmentation: {cfg.augment.describe()}",
        f"Model: {cfg.model} {cfg.model_kwargs or ''}, {n_params:,} parameters",
        f"Optimizer: {cfg.optimizer} lr {cfg.lr} momentum {cfg.momentum} nesterov {cfg.nesterov} "
        f"weight_decay {cfg.weight_decay}, label_smoothing {cfg.label_smoothing}, ema {cfg.ema}, {kd}"
        f"clean_epochs {cfg.clean_epochs}{' (every epoch)' if cfg.clean_epochs >= epochs else ''}; "
        f"scheduler {cfg.scheduler}; batch {cfg.batch_size}, {epochs} epochs x {steps_per_epoch} steps, "
        f"seed {cfg.seed}",
    ]
