"""Batched augmentation: pure functions of a batch that stay on the batch's device (airbench style).

Every sample gets its own random parameters, drawn from an explicit `torch.Generator` so a seed
reproduces them. Inputs are (B, 1, H, W) floats in [0, 1] *before* normalisation, so the zeros that
grid_sample pads with are the black background, as in torchvision's RandomRotation(fill=0).
"""

import math

import torch
import torch.nn.functional as F

from .config import AugmentConfig


def _uniform(n: int, bound: float, gen: torch.Generator, device) -> torch.Tensor:
    """n values in [-bound, bound]; drawn on the CPU so CPU and GPU runs see the same numbers."""
    return ((torch.rand(n, generator=gen) * 2 - 1) * bound).to(device)


def random_affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W): per-sample rotation, translation, scale and shear, bilinear."""
    b = x.shape[0]
    angle = _uniform(b, math.radians(cfg.rotation), gen, x.device)
    shear = _uniform(b, math.radians(cfg.shear), gen, x.device)
    zoom = 1 + _uniform(b, cfg.scale, gen, x.device)
    tx, ty = _uniform(b, 2 * cfg.translate, gen, x.device), _uniform(b, 2 * cfg.translate, gen, x.device)
    # theta maps output coordinates to input coordinates ([-1, 1] grid): the inverse of the forward
    # transform, i.e. rotate by -angle and divide by the zoom; the ranges are symmetric, so only the
    # zoom's inversion matters for the distribution.
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    theta = torch.stack(
        [
            torch.stack([cos, -sin + cos * tan, tx], 1),
            torch.stack([sin, cos + sin * tan, ty], 1),
        ],
        1,
    ) / torch.stack([zoom, zoom, torch.ones_like(zoom)], 1).unsqueeze(1)  # (B, 2, 3)
    theta[:, :, 2] = torch.stack([tx, ty], 1)
    return warp(x, theta)


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) resampled through (B, 2, 3) output->input affine maps in [-1, 1] coordinates: bilinear,
    zeros outside (the black background). Shared by training augmentation and test-time views (tta.py)."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_erase(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Zero one random rectangle per sample with probability erase_p, via a mask (no Python loop)."""
    b, _, h, w = x.shape
    area = torch.empty(b).uniform_(*cfg.erase_area, generator=gen) * h * w
    aspect = torch.exp(torch.empty(b).uniform_(math.log(0.3), math.log(3.3), generator=gen))
    eh = (area * aspect).sqrt().clamp(1, h).floor()
    ew = (area / aspect).sqrt().clamp(1, w).floor()
    top = (torch.rand(b, generator=gen) * (h - eh + 1)).floor()
    left = (torch.rand(b, generator=gen) * (w - ew + 1)).floor()
    on = torch.rand(b, generator=gen) < cfg.erase_p
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    box = (
        (rows >= top.view(b, 1, 1))
        & (rows < (top + eh).view(b, 1, 1))
        & (cols >= left.view(b, 1, 1))
        & (cols < (left + ew).view(b, 1, 1))
        & on.view(b, 1, 1)
    )  # (B, H, W)
    return x.masked_fill(box.unsqueeze(1).to(x.device), 0.0)


def random_flip(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Mirror each sample left-right with probability p."""
    on = (torch.rand(x.shape[0], generator=gen) < p).to(x.device).view(-1, 1, 1, 1)
    return torch.where(on, x.flip(-1), x)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    if cfg.affine:
        x = random_affine(x, cfg, gen)
    if cfg.flip > 0:
        x = random_flip(x, cfg.flip, gen)
    if cfg.erase_p > 0:
        x = random_erase(x, cfg, gen)
    return x
