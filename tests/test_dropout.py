"""fast_dropout: the same Bernoulli keep-mask as nn.Dropout, from cheaper draws (dropout.py)."""

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from mnistlab.models import create_model
from mnistlab.training.dropout import FastDropout, fast_dropout, keep_mask, use_fast_dropout
from mnistlab.training.train import train

from .test_parallel import tiny


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_every_int16_lane_keeps_one_minus_p(p):
    """Each int64 draw feeds four mask entries: all four positions must keep 1 - p (random_() alone, which
    never sets the top bit, made the fourth keep 0.90 at p = 0.05)."""
    g = torch.Generator().manual_seed(0)
    keep = keep_mask(torch.empty(400_000), p, g).view(-1, 4).float().mean(0)  # (4,) one rate per lane
    assert torch.allclose(keep, torch.full((4,), 1 - p), atol=0.004), keep


def test_mask_follows_the_layout_and_scales_what_it_keeps():
    x = torch.randn(8, 16, 12, 12).contiguous(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(1)
    y = fast_dropout(x.requires_grad_(), 0.2, g)
    assert y.is_contiguous(memory_format=torch.channels_last)  # NHWC stays NHWC: no layout conversions
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / 0.8)
    y.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.8)  # the gradient flows through kept entries only
    assert 0.75 < kept.float().mean() < 0.85
    assert torch.equal(fast_dropout(x, 1.0), torch.zeros_like(x))  # p = 1 drops all, as F.dropout


def test_use_fast_dropout_swaps_every_dropout_and_keeps_the_weights():
    model = create_model("ref1")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    n = sum(type(m) is nn.Dropout for m in model.modules())
    assert n > 0 and use_fast_dropout(model) == n
    assert not any(type(m) is nn.Dropout for m in model.modules())
    assert all(isinstance(m, FastDropout) for m in model.modules() if isinstance(m, nn.Dropout))
    assert model.state_dict().keys() == before.keys()
    x = torch.randn(4, 1, 28, 28)
    model.eval()
    out = model(x)
    model.train()
    assert torch.equal(out, model.eval()(x))  # eval: dropout is the identity


@pytest.mark.parametrize("replicas", [1, 2])
def test_training_with_fast_dropout_is_reproducible_and_another_stream(tiny_data, tmp_path, replicas):
    w = lambda r: load_file(str(r.run_dir / "model.safetensors"))  # noqa: E731
    a = train(
        tiny(model="ref1", replicas=replicas, fast_dropout=True), out=tmp_path / "a", data_dir=tiny_data, quiet=True
    )
    b = train(
        tiny(model="ref1", replicas=replicas, fast_dropout=True), out=tmp_path / "b", data_dir=tiny_data, quiet=True
    )
    assert all(torch.equal(v, w(b)[k]) for k, v in w(a).items())
    plain = train(tiny(model="ref1", replicas=replicas, fast_dropout=False), out=tmp_path / "plain", data_dir=tiny_data,
                  quiet=True)  # fmt: skip
    assert any(not torch.equal(v, w(plain)[k]) for k, v in w(a).items() if v.is_floating_point())
    assert "fast dropout masks" in (a.run_dir / "log.txt").read_text()
    assert a.metrics[-1]["train_acc"] > 30  # it learns (10 classes: chance is 10%)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("shape", [(16, 8, 13, 13), (6, 5, 3, 3), (33, 10)])
@pytest.mark.parametrize("channels_last", [True, False])
def test_one_pass_dropout_is_bit_for_bit_the_two_pass_one(dtype, shape, channels_last):
    """fast_dropout's addcmul (one pass each way) against torch.where(keep, x, 0).mul_(1 / (1 - p)), the form
    the shipped ref1 and ref3 seeds were trained with: the same bits forward and backward, +0 where dropped."""
    if channels_last and len(shape) != 4:
        pytest.skip("channels_last is 4-d only")
    x0 = torch.randn(*shape).to(dtype)
    x0 = x0.contiguous(memory_format=torch.channels_last) if channels_last else x0
    grad = torch.randn(*shape).to(dtype)
    bits = {torch.bfloat16: torch.int16, torch.float32: torch.int32}[dtype]
    runs = []
    for f in (
        lambda x, g: torch.where(keep_mask(x, 0.1, g), x, 0.0).mul_(1 / 0.9),
        lambda x, g: fast_dropout(x, 0.1, g),
    ):
        x = x0.clone().requires_grad_()
        with torch.autocast("cpu", torch.bfloat16, enabled=dtype == torch.bfloat16):
            y = f(x, torch.Generator().manual_seed(3))
        y.backward(grad)
        runs.append((y.detach().view(bits), x.grad.view(bits), y.stride()))
    (y_ref, g_ref, s_ref), (y, g, s) = runs
    assert torch.equal(y, y_ref) and torch.equal(g, g_ref) and s == s_ref
    assert (y_ref == 0).any()  # dropped entries are +0 in both (the bit patterns compared above)
