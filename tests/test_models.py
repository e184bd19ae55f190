import math

import pytest
import torch
import torch.nn.functional as F

from mnistlab import count_params, create_model, list_models
from mnistlab.errors import MnistlabError

# Written by hand from the notebooks' torchsummary totals (ref0: computed, the notebook gives none).
EXPECTED_PARAMS = {
    "ref0": 98_922,
    "ref1": 14_320,
    "ref2": 19_378,
    "ref3": 7_776,
    "ref4": 17_466,
    "mnist-2k": 1_954,  # stem 4-8, 1x1 8, separable 12-14-16-18 (the first padded), head 190
    "mnist-5k": 4_910,  # mnist-8k's layout, narrower: stem 6-12, 1x1 12, separable 16-24-32-40, head 400
    "mnist-8k": 7_688,  # 1,560 stem + 1x1; separable 576 + 1,048 + 1,648 + 2,376; head 480
    "mnist-20k": 18_560,
    "mnist-speedrun": 18_560,  # mnist-20k without dropout
    "fashion-20k": 19_224,  # padded sweepnet 16 | 20-20 | 28-28: 176 + 2,920 + 3,640 + 5,096 + 7,112 + head 280
    "fashion-20k-compact": 18_560,  # mnist-20k's layout: fashion-20k until 2026-12-04
    "sweepnet": 6_696,  # default kwargs: 8x2 | pool | 16x3 + GAP; sweeps sample the rest
}


def test_every_model_has_an_expected_count():
    assert set(list_models()) == set(EXPECTED_PARAMS)


@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name):
    torch.manual_seed(0)
    model = create_model(name)
    assert count_params(model) == EXPECTED_PARAMS[name]
    x = torch.randn(4, 1, 28, 28)
    out = model(x)
    assert out.shape == (4, 10)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, torch.arange(4)).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}.{pname} gets no gradient"


@pytest.mark.parametrize("name", list_models())
def test_loss_at_init_is_about_ln10(name):
    torch.manual_seed(0)
    model = create_model(name).train()
    x = torch.randn(256, 1, 28, 28)
    loss = F.cross_entropy(model(x), torch.randint(0, 10, (256,))).item()
    assert abs(loss - math.log(10)) < 0.7, loss


def test_unknown_model_lists_known_names():
    with pytest.raises(MnistlabError, match="known models: .*ref0"):
        create_model("resnet9000")


@pytest.mark.parametrize("padded, side", [(0, 6), (1, 8), (2, 10), (3, 12)])
def test_compactnet_padded_keeps_params_and_grows_the_final_map(padded, side):
    # padded body convs keep 12x12; each valid one takes 2 px: (B, C, side, side) reaches the GAP.
    from mnistlab.models.frontier import CompactNet

    net = CompactNet(padded=padded)
    assert count_params(net) == count_params(CompactNet())
    assert net.features(torch.zeros(2, 1, 28, 28)).shape == (2, 16, side, side)


def test_compactnet_separable_body_costs_depthwise_plus_pointwise():
    # Each separable body conv: 9*cin (depthwise) + cin*cout (pointwise) instead of 9*cin*cout.
    from mnistlab.models.frontier import CompactNet

    dense, sep = CompactNet(), CompactNet(sep=True)
    saved = sum(9 * a * b - (9 * a + a * b) for a, b in [(8, 16), (16, 16), (16, 16)])
    assert count_params(dense) - count_params(sep) == saved
    assert sep(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_compactnet_shared_body_applies_one_weight_again():
    # body 8->22, then one 22->22 3x3 weight applied three times (own BatchNorms): 7,752 params, where
    # four distinct convs would take 16,464; the weight is stored once and gets the gradient of all three.
    from mnistlab.models.frontier import CompactNet

    net = CompactNet(body=(22, 22, 22, 22), shared=True)
    assert count_params(net) == 7_752 and count_params(CompactNet(body=(22, 22, 22, 22))) == 16_464
    convs = [k for k, v in net.state_dict().items() if v.dim() == 4 and v.shape[:2] == (22, 22)]
    assert len(convs) == 1
    out = net(torch.randn(4, 1, 28, 28))
    assert out.shape == (4, 10)
    F.cross_entropy(out, torch.arange(4)).backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(MnistlabError, match="shared=True needs"):
        create_model("mnist-8k", body=[16, 24], shared=True)


@pytest.mark.parametrize("name", list_models())
def test_resolved_kwargs_rebuild_the_same_network(name):
    # model.json stores resolved_kwargs: the network they rebuild has the same tensors, so a run folder
    # keeps loading if a registered size later changes a default.
    from mnistlab.models import resolved_kwargs

    model = create_model(name)
    again = create_model(name, **resolved_kwargs(model, {}))
    shapes = lambda m: {k: v.shape for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(again) == shapes(model)


def test_compactnet_patch_stem_downsamples_at_once():
    # stem_kernel=4, stem_stride=2, pool=False: (B,1,28,28) -> (B,16,13,13), no full-resolution map; the
    # separable body then takes 13 -> 11 -> 9 -> 7 -> 5. The first conv holds 16*4*4 weights.
    from mnistlab.models.frontier import CompactNet

    net = CompactNet(stem=(16,), trans=16, body=(24, 32, 40, 48), sep=True, stem_kernel=4, stem_stride=2, pool=False)
    assert count_params(net) == 6_704 and net.features[0].weight.shape == (16, 1, 4, 4)
    assert net.features[:3](torch.zeros(2, 1, 28, 28)).shape == (2, 16, 13, 13)
    assert net.features(torch.zeros(2, 1, 28, 28)).shape == (2, 48, 5, 5)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())
    # the defaults are the old stem (two 3x3 convs, then the max-pool): older model.json files load unchanged
    assert count_params(CompactNet(stem_kernel=3, stem_stride=1, pool=True)) == count_params(CompactNet())


@pytest.mark.parametrize(
    "kwargs, side",
    [({"stem_stride": [1, 2], "pool": False}, 12), ({"pool_after": 0}, 11), ({"pool_after": -1}, 12)],
)
def test_compactnet_stem_downsamples_where_asked(kwargs, side):
    # stem 8-16 keeps its 7,688 params wherever it downsamples: a stride-2 second conv (26 -> 12, no pool) or
    # the max-pool after the first conv (26 -> 13 -> 11); the 1x1 then sees (B, 16, side, side).
    net = create_model("mnist-8k", **kwargs)
    assert count_params(net) == 7_688
    trans = [i for i, m in enumerate(net.features) if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1)][0]
    assert net.features[:trans](torch.zeros(2, 1, 28, 28)).shape == (2, 16, side, side)


@pytest.mark.parametrize("kwargs", [{"stem_stride": [1, 2, 2]}, {"pool_after": 2}])
def test_compactnet_refuses_a_stem_it_cannot_build(kwargs):
    with pytest.raises(MnistlabError, match="stem_stride needs one stride per stem conv"):
        create_model("mnist-8k", **kwargs)


@pytest.mark.parametrize("name", ["mnist-8k", "mnist-5k", "mnist-20k"])
def test_compactnet_pool_before_relu_trains_bit_for_bit_as_relu_then_pool(name):
    # The stem max-pools before its ReLU (they commute: max(relu(a), relu(b)) = relu(max(a, b)), and the
    # gradient reaches the same input either way), so the ReLU touches a quarter of the map. The runs shipped
    # before that order must reproduce: twenty SGD steps give the very same weights as ReLU -> pool.
    import copy

    torch.manual_seed(0)
    new = create_model(name, dropout=0.0)
    old = copy.deepcopy(new)
    mods = list(old.features)
    i = next(k for k, m in enumerate(mods) if isinstance(m, torch.nn.MaxPool2d))
    assert isinstance(mods[i + 1], torch.nn.ReLU)  # the new order: BN -> pool -> ReLU
    mods[i], mods[i + 1] = mods[i + 1], mods[i]
    old.features = torch.nn.Sequential(*mods)  # the shipped order: BN -> ReLU -> pool (same state_dict keys)
    assert old.state_dict().keys() == new.state_dict().keys()
    gen = torch.Generator().manual_seed(1)
    opts = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in (new, old)]
    for _ in range(20):
        x, y = torch.randn(32, 1, 28, 28, generator=gen), torch.randint(0, 10, (32,), generator=gen)
        for m, opt in zip((new, old), opts, strict=True):
            opt.zero_grad()
            F.cross_entropy(m(x), y).backward()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(new.state_dict().values(), old.state_dict().values(), strict=True))
