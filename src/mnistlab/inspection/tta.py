"""Test-time augmentation: average the softmax over a fixed, deterministic set of views of each image.

A view is (dx, dy, degrees[, flip]): a shift by whole pixels and a rotation about the centre, applied to
the [0, 1] image before normalisation, zeros (black background) filling in — the same geometry as training
augmentation, but fixed, so a TTA figure is reproducible; flip=True mirrors the image left-right first
(for Fashion-MNIST, whose training flips it; a mirrored digit is another shape). Which set to use is
chosen on a validation split (`mnistlab eval RUN --split val --tta NAME`), never on the test set; a TTA
figure is always reported beside the plain one, never instead of it.
"""

import math

import torch
import torch.nn.functional as F

from ..data.verified import Split
from ..training.augment import warp
from ..training.evaluate import EVAL_BATCH, EvalResult, evaluate

ID = (0, 0, 0.0)
SHIFTS = [(1, 0, 0.0), (-1, 0, 0.0), (0, 1, 0.0), (0, -1, 0.0)]
VIEWS = {
    "none": [ID],
    "shift": [ID, *SHIFTS],  # identity + four 1-pixel shifts
    "rot": [ID, (0, 0, 6.0), (0, 0, -6.0)],  # identity + +-6 degrees
    "shift-rot": [ID, *SHIFTS, (0, 0, 6.0), (0, 0, -6.0)],
    "flip": [ID, (0, 0, 0.0, True)],  # identity + its mirror image
    "shift-flip": [ID, *SHIFTS, *[(*v, True) for v in (ID, *SHIFTS)]],  # the five shift views and their mirrors
}


def view(x: torch.Tensor, dx: int, dy: int, degrees: float, flip: bool = False) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1] -> the same images (mirrored if `flip`) moved dx px right, dy px down and
    rotated by `degrees`."""
    if flip:
        x = x.flip(-1)
    if (dx, dy, degrees) == ID:
        return x
    b, _, h, w = x.shape
    a = math.radians(degrees)
    # affine_grid maps output to input coordinates in [-1, 1]: the inverse rotation, and a shift of
    # -dx pixels is -2*dx/W in those units; integer shifts with align_corners=False land on pixel centres.
    theta = torch.tensor([[math.cos(a), -math.sin(a), -2 * dx / w], [math.sin(a), math.cos(a), -2 * dy / h]])
    return warp(x, theta.expand(b, 2, 3).to(x.device))


@torch.inference_mode()
def tta_probs(model, images: torch.Tensor, mean: float, std: float, views, batch_size: int = EVAL_BATCH):
    """(N, H, W) uint8 -> (N, 10) softmax averaged over `views` (a list of (dx, dy, degrees[, flip]))."""
    model.eval()
    outs = []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].unsqueeze(1).float().div_(255)  # (B, 1, 28, 28) in [0, 1]
        p = sum(torch.softmax(model((view(x, *v) - mean) / std).float(), 1) for v in views)
        outs.append(p / len(views))
    return torch.cat(outs) if outs else torch.empty(0, 10)


def evaluate_tta(model, split: Split, mean: float, std: float, views) -> EvalResult:
    """Accuracy with TTA; the loss is the NLL of the averaged probabilities."""
    if len(split) == 0:
        return EvalResult(float("nan"), 0, 0)
    if list(views) == [ID]:  # plain evaluation, bit for bit
        return evaluate(model, split, mean, std)
    p = tta_probs(model, split.images, mean, std, views)
    loss = F.nll_loss(p.clamp_min(1e-12).log(), split.labels, reduction="sum").item() / len(split)
    return EvalResult(loss, int((p.argmax(1) == split.labels).sum()), len(split))
