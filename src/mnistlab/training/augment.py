"""Batched augmentation: pure functions of a batch that stay on the batch's device (airbench style).

Every sample gets its own random parameters, drawn from an explicit `torch.Generator` so a seed
reproduces them. Inputs are (B, 1, H, W) floats in [0, 1] *before* normalisation, so the zeros that
grid_sample pads with are the black background, as in torchvision's RandomRotation(fill=0).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import AugmentConfig


def _uniform(n: int, bound: float, gen: torch.Generator, device) -> torch.Tensor:
    """n values in [-bound, bound]; drawn on the CPU so CPU and GPU runs see the same numbers."""
    return ((torch.rand(n, generator=gen) * 2 - 1) * bound).to(device)


def affine_theta(b: int, cfg: AugmentConfig, gen: torch.Generator, device) -> torch.Tensor:
    """(B, 2, 3) per-sample output->input maps: rotation, translation, scale and shear."""
    angle = _uniform(b, math.radians(cfg.rotation), gen, device)
    shear = _uniform(b, math.radians(cfg.shear), gen, device)
    zoom = 1 + _uniform(b, cfg.scale, gen, device)
    tx, ty = _uniform(b, 2 * cfg.translate, gen, device), _uniform(b, 2 * cfg.translate, gen, device)
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
    return theta


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) resampled through (B, 2, 3) output->input affine maps in [-1, 1] coordinates: bilinear,
    zeros outside (the black background). Shared by training augmentation and test-time views (tta.py)."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def erase_boxes(b: int, h: int, w: int, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, H, W) bool: one random rectangle per sample with probability erase_p (RandomErasing's draw)."""
    area = torch.empty(b).uniform_(*cfg.erase_area, generator=gen) * h * w
    aspect = torch.exp(torch.empty(b).uniform_(math.log(0.3), math.log(3.3), generator=gen))
    eh = (area * aspect).sqrt().clamp(1, h).floor()
    ew = (area / aspect).sqrt().clamp(1, w).floor()
    top = (torch.rand(b, generator=gen) * (h - eh + 1)).floor()
    left = (torch.rand(b, generator=gen) * (w - ew + 1)).floor()
    on = torch.rand(b, generator=gen) < cfg.erase_p
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    return (
        (rows >= top.view(b, 1, 1))
        & (rows < (top + eh).view(b, 1, 1))
        & (cols >= left.view(b, 1, 1))
        & (cols < (left + ew).view(b, 1, 1))
        & on.view(b, 1, 1)
    )  # (B, H, W)


@dataclass
class AugPlan:
    """A batch's random draws, made once in a fixed order; `apply` may then run on any rows of the batch
    (parallel.py augments each half in its own thread) with the same result as on the whole batch."""

    theta: torch.Tensor | None = None  # (B, 2, 3) affine maps
    flip: torch.Tensor | None = None  # (B, 1, 1, 1) bool
    erase: torch.Tensor | None = None  # (B, H, W) bool

    def apply(self, x: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """x: (b, C, H, W), the batch's rows `rows`."""
        if self.theta is not None:
            x = warp(x, self.theta[rows])
        if self.flip is not None:
            x = torch.where(self.flip[rows], x.flip(-1), x)
        if self.erase is not None:
            x = x.masked_fill(self.erase[rows].unsqueeze(1).to(x.device), 0.0)
        return x


def plan_batch(b: int, h: int, w: int, cfg: AugmentConfig, gen: torch.Generator, device) -> AugPlan:
    """The draws of augment_batch for a batch of b, in its order (so a seed gives the same images)."""
    plan = AugPlan()
    if cfg.affine:
        plan.theta = affine_theta(b, cfg, gen, device)
    if cfg.flip > 0:
        plan.flip = (torch.rand(b, generator=gen) < cfg.flip).to(device).view(-1, 1, 1, 1)
    if cfg.erase_p > 0:
        plan.erase = erase_boxes(b, h, w, cfg, gen)
    return plan


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    b, _, h, w = x.shape
    return plan_batch(b, h, w, cfg, gen, x.device).apply(x)
