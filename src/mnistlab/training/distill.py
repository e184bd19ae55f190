"""Knowledge distillation (Hinton et al. 2015): a trained run's softened outputs as extra targets.

The teacher is another run directory, trained on the same training set. It sees the very batch the
student sees (after augmentation), under no_grad, so distillation costs one teacher forward per step
(~25% of an mnist-8k step for an mnist-20k teacher on one CPU thread). Honesty rules checked here:
the teacher must never have trained on images this run holds out for validation (its own held-out split
must contain this run's, i.e. its val_size is at least as large: both come from `carve_validation`'s
fixed permutation), and it must use the same dataset and normalisation.
"""

from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import MnistlabError
from .rundir import load_model, read_json

# The checkout this package runs from (src/mnistlab/ -> the repository root). A preset names its teacher
# relative to the root (results/...), so `--config fashion-20k` also works from another directory.
_CHECKOUT = Path(__file__).resolve().parents[3]  # src/mnistlab/training/ -> the root


def resolve_teacher(run_dir: str | Path) -> Path:
    """`run_dir` as given (relative to the working directory); a relative path not found there is read
    against the mnistlab checkout, where the presets' teachers live."""
    run_dir = Path(run_dir)
    if not run_dir.is_absolute() and not run_dir.exists() and (_CHECKOUT / run_dir).exists():
        return _CHECKOUT / run_dir
    return run_dir


def load_teacher(run_dir: str | Path, dataset: str, val_size: int, mean: float, std: float, device) -> torch.nn.Module:
    """The teacher network of `run_dir`, frozen, in eval mode; refuses one that saw this run's val images."""
    given, run_dir = run_dir, resolve_teacher(run_dir)
    if not (run_dir / "config.json").is_file() or not (run_dir / "model.json").is_file():
        raise MnistlabError(
            f"teacher {given}: not a run folder (config.json and model.json are needed; a relative path is read "
            f"from the working directory, then from the mnistlab checkout {_CHECKOUT})"
        )
    cfg, meta = read_json(run_dir / "config.json"), read_json(run_dir / "model.json")
    if cfg.get("dataset") != dataset:
        raise MnistlabError(f"teacher {run_dir} was trained on {cfg.get('dataset')!r}, this run uses {dataset!r}")
    if int(cfg.get("val_size", 0)) < val_size:
        raise MnistlabError(
            f"teacher {run_dir} held out {cfg.get('val_size', 0)} validation images, this run holds out {val_size}: "
            "it trained on this run's validation images; use a teacher trained with --val-size "
            f"{val_size} or more"
        )
    norm = meta.get("normalize", {})
    if (norm.get("mean"), norm.get("std")) != (mean, std):
        raise MnistlabError(f"teacher {run_dir} normalises with {norm}, this run with mean {mean} std {std}")
    teacher = load_model(run_dir, device="cpu").to(device).to(memory_format=torch.channels_last)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()


def distill_loss(
    student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, alpha: float, temperature: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:  # fmt: skip
    """(1 - alpha) * CE(student, labels) + alpha * T^2 * KL(teacher_T || student_T); logits are (B, 10).

    T^2 keeps the soft term's gradient on the hard term's scale as T changes (Hinton et al., sec. 2).
    Teachers that end in log_softmax (the refs) work too: softmax(log p / T) == softmax(logits / T).
    """
    hard = F.cross_entropy(student, labels, label_smoothing=label_smoothing)
    soft = F.kl_div(
        F.log_softmax(student / temperature, 1), F.log_softmax(teacher / temperature, 1), reduction="batchmean",
        log_target=True,
    )  # fmt: skip
    return (1 - alpha) * hard + alpha * temperature**2 * soft
