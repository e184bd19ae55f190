"""fast_dropout: the same Bernoulli keep-mask as nn.Dropout, from cheaper draws; bernoulli_noise: nn.Dropout's
own masks to the bit, cheaper (dropout.py)."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from mnistlab.models import create_model
from mnistlab.training import dropout
from mnistlab.training.dropout import (
    FastDropout,
    bernoulli_noise,
    cheaper_bernoulli,
    fast_dropout,
    keep_mask,
    use_fast_dropout,
)
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


LAYOUTS = [
    ((16, 8, 13, 13), True),
    ((16, 8, 13, 13), False),
    ((6, 5, 3, 3), True),
    ((6, 5, 3, 3), False),
    ((33, 10), False),
    ((1000,), False),
]  # (shape, channels_last)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize(("shape", "channels_last"), LAYOUTS)
def test_one_pass_dropout_is_bit_for_bit_the_two_pass_one(dtype, shape, channels_last):
    """fast_dropout's addcmul (one pass each way) against torch.where(keep, x, 0).mul_(1 / (1 - p)), the form
    the shipped ref1 and ref3 seeds were trained with: the same bits forward and backward, +0 where dropped."""
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


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize(("shape", "channels_last"), LAYOUTS)
@pytest.mark.parametrize("keep", [0.9, 0.95, 0.5, 0.3])
def test_bernoulli_noise_is_bernoulli_to_the_bit(dtype, shape, channels_last, keep):
    """The same 0/1 noise as empty_like(x).bernoulli_(keep), in the same layout, and the generator left in
    the same state, so everything drawn after it is the same too."""
    x = torch.empty(shape, dtype=dtype)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    a, b = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    want, got = torch.empty_like(x).bernoulli_(keep, generator=a), bernoulli_noise(x, keep, b)
    assert torch.equal(want, got) and want.stride() == got.stride() and want.dtype == got.dtype
    assert torch.equal(a.get_state(), b.get_state())
    torch.manual_seed(3)  # the global generator, as nn.Dropout uses
    want = torch.empty_like(x).bernoulli_(keep)
    torch.manual_seed(3)
    assert torch.equal(bernoulli_noise(x, keep), want)


@pytest.mark.parametrize("view", ["transposed", "strided", "NHWC 3-d"])
def test_bernoulli_noise_on_other_layouts_is_bernoulli_too(view):
    """bernoulli_ fills memory in order: for a transposed or strided view the cheaper draw is not laid out
    like it, so bernoulli_ itself is used there."""
    x = {"transposed": torch.randn(5, 7, 3).transpose(0, 1), "strided": torch.randn(6, 8)[:, ::2],
         "NHWC 3-d": torch.randn(4, 3, 5, 5).contiguous(memory_format=torch.channels_last)[0]}[view]  # fmt: skip
    a, b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    want, got = torch.empty_like(x).bernoulli_(0.5, generator=a), bernoulli_noise(x, 0.5, b)
    assert torch.equal(want, got) and want.stride() == got.stride() and torch.equal(a.get_state(), b.get_state())


def test_cheaper_bernoulli_trains_the_same_bits_and_restores_the_modules():
    def run(cheaper: bool):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Dropout(0.1), nn.Flatten(), nn.Linear(8 * 26 * 26, 10),
                              nn.Dropout(0.2, inplace=True))  # fmt: skip
        model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        with cheaper_bernoulli(model, enabled=cheaper) as patched:
            for _ in range(5):
                x = torch.randn(16, 1, 28, 28).contiguous(memory_format=torch.channels_last)
                with torch.autocast("cpu", torch.bfloat16):
                    loss = F.cross_entropy(model(x), torch.randint(0, 10, (16,)))
                opt.zero_grad()
                loss.backward()
                opt.step()
        assert not any("forward" in vars(m) for m in model.modules())  # nn.Dropout's own forward again
        return patched, model.state_dict()

    (n_on, on), (n_off, off) = run(True), run(False)
    assert n_on == 1 and n_off == 0  # the in-place one is left as it is
    assert all(torch.equal(on[k], off[k]) for k in on)


@pytest.mark.parametrize("replicas", [1, 2])
def test_training_with_cheaper_bernoulli_is_the_same_run(tiny_data, tmp_path, replicas, monkeypatch):
    """ref2 (nn.Dropout, one model or two replicas) trains to the same weights with the cheaper draw as with
    bernoulli_ itself."""
    cfg = tiny(model="ref2", replicas=replicas, amp=True)
    a = train(cfg, out=tmp_path / "a", data_dir=tiny_data, quiet=True)
    monkeypatch.setattr(dropout, "bernoulli_is_reproduced", lambda: False)  # bernoulli_noise is bernoulli_ then
    b = train(cfg, out=tmp_path / "b", data_dir=tiny_data, quiet=True)
    wa, wb = (load_file(str(r.run_dir / "model.safetensors")) for r in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a.metrics == [{**r, "seconds": a.metrics[i]["seconds"]} for i, r in enumerate(b.metrics)]
