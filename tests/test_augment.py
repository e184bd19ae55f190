import torch

from mnistlab.training.augment import augment_batch
from mnistlab.training.config import AugmentConfig

FULL = AugmentConfig(rotation=15, translate=0.1, scale=0.1, shear=10, erase_p=0.5)


def batch():
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0  # a "1"
    return x


def test_shape_range_and_reproducible():
    a = augment_batch(batch(), FULL, torch.Generator().manual_seed(0))
    b = augment_batch(batch(), FULL, torch.Generator().manual_seed(0))
    c = augment_batch(batch(), FULL, torch.Generator().manual_seed(1))
    assert a.shape == (64, 1, 28, 28)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_per_sample_parameters_differ():
    a = augment_batch(batch(), AugmentConfig(rotation=20), torch.Generator().manual_seed(0))
    assert len({tuple(a[i].flatten().tolist()) for i in range(8)}) == 8


def test_no_augmentation_is_identity():
    x = batch()
    assert torch.equal(augment_batch(x, AugmentConfig(), torch.Generator()), x)


def test_rotation_keeps_mass_roughly():
    x = batch()
    a = augment_batch(x, AugmentConfig(rotation=7), torch.Generator().manual_seed(0))
    ratio = a.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert ((ratio > 0.9) & (ratio < 1.1)).all()


def test_erasing_removes_pixels():
    x = torch.ones(32, 1, 28, 28)
    a = augment_batch(x, AugmentConfig(erase_p=1.0), torch.Generator().manual_seed(0))
    erased = (a == 0).sum((1, 2, 3))
    assert (erased > 0).all() and (erased < 28 * 28 * 0.5).all()
