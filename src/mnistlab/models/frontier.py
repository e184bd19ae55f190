"""mnistlab's own small models: one private builder, one tiny registered function per size (timm style).

CompactNet spends its few full-resolution FLOPs on a two-conv stem, pools once, squeezes with a 1x1
transition and finishes with valid 3x3 convs, GAP and a 1x1 head:

    (B,1,28,28) -stem 3x3-> (B,s0,26,26) -3x3, BN-> (B,s1,24,24) -pool, ReLU-> (B,s1,12,12) -1x1-> (B,t,12,12)
    -3x3-> (B,b0,10,10) -3x3-> (B,b1,8,8) -3x3-> (B,b2,6,6) -GAP-> (B,b2) -1x1-> (B,10)

Receptive field 2 + 2 + 1 (pool) then +4 per body conv: 5, 6, then 14, 18, 22 px with three body convs.
With `padded=k` the first k body convs keep 12x12 (padding 1): same parameters, more FLOPs per parameter,
a larger final map (e.g. k=2: 12 -> 12 -> 12 -> 10 before GAP). With `shared=True` every body conv after
the first applies one and the same 3x3 weight (each with its own BatchNorm), a recurrent-conv trade of
FLOPs and depth for parameters: a wider body fits the same budget.
"""

from torch import nn

from .family import SweepNet
from .registry import register


def _block(cin: int, cout: int, k: int, dropout: float, pad: int = 0, sep=False, stride=1) -> list[nn.Module]:
    if sep:  # Xception-style separable conv: depthwise kxk (k*k*cin params) then pointwise 1x1 (cin*cout)
        conv = [nn.Conv2d(cin, cin, k, stride, pad, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False)]
    else:
        conv = [nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False)]
    layers = [*conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return layers + ([nn.Dropout(dropout)] if dropout else [])


class _Tied(nn.Module):
    """Applies a conv registered elsewhere in the net: its weight is counted and saved once."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self._conv = [conv]  # a plain list, so the module is not registered (and saved) twice

    def forward(self, x):
        return self._conv[0](x)


class CompactNet(nn.Module):
    def __init__(
        self, stem=(8, 16), trans=8, body=(16, 16, 16), dropout=0.05, padded: int = 0, sep=False, shared=False,
        stem_kernel: int = 3, stem_stride: int | list[int] = 1, pool: bool = True, pool_after: int = -1,
        num_classes=10,
    ):  # fmt: skip
        """padded: how many body convs (from the first) keep 12x12 with padding 1, for more FLOPs per parameter.
        sep: separable body convs (~6x fewer parameters per layer at these widths, so a wider body fits).
        shared: body convs 2.. reuse one w x w weight (needs equal widths after the first).
        stem_kernel: the first stem conv's kernel. stem_stride: the first stem conv's stride, or one per stem conv.
        pool: a 2x2 max-pool in the stem, after stem conv `pool_after` (-1: the last).
        E.g. stem=(16,), stem_kernel=4, stem_stride=2, pool=False downsamples at once: (B,16,13,13);
        stem=(8, 16), stem_stride=[1, 2], pool=False: (B,8,26,26) -> (B,16,12,12), no max-pool."""
        super().__init__()
        # Every constructor argument, resolved: model.json stores these, so a run folder still loads after
        # a registered size changes its defaults (registry.resolved_kwargs).
        self.init_kwargs = {"stem": list(stem), "trans": trans, "body": list(body), "dropout": dropout,
                            "padded": padded, "sep": sep, "shared": shared, "stem_kernel": stem_kernel,
                            "stem_stride": stem_stride, "pool": pool, "pool_after": pool_after,
                            "num_classes": num_classes}  # fmt: skip
        strides = list(stem_stride) if isinstance(stem_stride, list | tuple) else [stem_stride] + [1] * (len(stem) - 1)
        if len(strides) != len(stem) or not -len(stem) <= pool_after < len(stem):
            raise ValueError(
                f"stem_stride needs one stride per stem conv and pool_after an index into stem {list(stem)}"
            )
        layers, c = [], 1
        for i, w in enumerate(stem):  # no dropout at full resolution: its mask cost ~25% of a training step here
            layers += _block(c, w, stem_kernel if i == 0 else 3, 0.0, stride=strides[i])
            if pool and i == pool_after % len(stem):
                # max-pool before the ReLU: max and ReLU commute exactly (same outputs, same gradients, bit
                # for bit), and the ReLU then runs on a quarter of the map: mnist-8k's step 1.07-1.10x faster.
                layers.insert(len(layers) - 1, nn.MaxPool2d(2))
            c = w
        layers += _block(c, trans, 1, 0.0)
        c = trans
        if shared and (sep or len(set(body[1:])) != 1 or body[1] != body[0]):
            raise ValueError("shared=True needs a dense body of at least two equal widths, e.g. body=(22, 22, 22)")
        for i, w in enumerate(body):
            block = _block(c, w, 3, dropout if i < len(body) - 1 else 0.0, pad=int(i < padded), sep=sep)
            if shared and i == 1:
                tied = block[0]  # the first w x w conv is registered; the later ones apply it again
            elif shared and i > 1:
                block[0] = _Tied(tied)
            layers += block
            c = w
        self.features = nn.Sequential(*layers)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Conv2d(c, num_classes, 1, bias=False)

    def forward(self, x):
        x = self.gap(self.features(x))  # (B, C, 1, 1)
        return self.head(x).flatten(1)  # (B, 10) logits


# mnist-8k spends its body on width: four separable convs 24-32-40-48 (7,688 params) where the dense
# 16-16-16 body (7,432) sat on a plateau; 99.48% vs 99.34% mean validation accuracy, lower validation loss
# in every seed (research/mnist-8k/separable-body, 2026-12-02). Final map 4x4, receptive field 22 px.
@register("mnist-8k", "CompactNet 8-16 | 1x1 16 | separable 24-32-40-48, GAP: under 8,000 params, 15 epochs")
def mnist_8k(**kw):
    return CompactNet(**({"stem": (8, 16), "trans": 16, "body": (24, 32, 40, 48), "sep": True} | kw))


# mnist-5k takes mnist-8k's separable four-conv body, narrower (4,910 params): 99.36% vs 99.16% mean
# validation accuracy over seeds 0-4 against the dense 12-12-12 body (4,498), validation loss 0.055-0.056
# vs 0.067-0.077 in every seed (research/mnist-5k/separable-body, 2026-12-03).
@register("mnist-5k", "CompactNet 6-12 | 1x1 12 | separable 16-24-32-40, GAP: under 5,000 params, 15 epochs")
def mnist_5k(**kw):
    return CompactNet(**({"stem": (6, 12), "trans": 12, "body": (16, 24, 32, 40), "sep": True} | kw))


# mnist-2k: mnist-5k's design shrunk under 2,000 params (1,954): a 4-8 stem, an 8-channel transition and
# four separable convs 12-14-16-18, the first padded so the map stays 12x12 one conv longer. 99.24% mean
# validation accuracy over seeds 0-2 against 98.8% for a wider three-conv body 16-20-20 (1,984 params), by a
# rule written before the runs (research/mnist-2k/architecture, 2026-12-05).
@register("mnist-2k", "CompactNet 4-8 | 1x1 8 | separable 12-14-16-18, GAP: under 2,000 params, 15 epochs")
def mnist_2k(**kw):
    return CompactNet(
        **({"stem": (4, 8), "trans": 8, "body": (12, 14, 16, 18), "sep": True, "padded": 1, "dropout": 0.0} | kw)
    )


# The 20k classes keep mnist-8k's full-resolution stem (61% of its MACs) and spend the extra parameters in
# the body, where a 3x3 conv costs 6-9x less per parameter: ~1.4x mnist-8k's step instead of ~3x for a
# (16, 24) stem.
@register("mnist-20k", "CompactNet 8-16 | 1x1 16 | 24-28-28, GAP: under 20,000 params, 19 epochs")
def mnist_20k(**kw):
    return CompactNet(**({"stem": (8, 16), "trans": 16, "body": (24, 28, 28)} | kw))


# mnist-speedrun is mnist-20k without dropout, trained 5 epochs in bf16 on two replicas: of three networks
# given ~48 s of training each, it tied on validation accuracy (99.43% mean, seeds 0-2) with a stride-2 stem
# and trained fastest (research/mnist-speedrun/architecture, 2026-12-05).
@register("mnist-speedrun", "CompactNet 8-16 | 1x1 16 | 24-28-28, GAP, no dropout: 99.4% in under a minute on 2 cores")
def mnist_speedrun(**kw):
    return CompactNet(**({"stem": (8, 16), "trans": 16, "body": (24, 28, 28), "dropout": 0.0} | kw))


# fashion-20k is a padded sweepnet: 3x3 convs that keep the frame (Fashion items reach its border), 16 at
# 28x28, pool, 20-20 at 14x14, pool, 28-28 at 7x7, GAP (receptive field 30 px), distilled in its preset.
# 92.58% mean val over seeds 0-4 against 92.36% for the CompactNet it replaced, distilled alike
# (research/fashion-20k/distilled-sweepnet, 2026-12-04).
@register(
    "fashion-20k",
    "padded sweepnet 16 | 20-20 | 28-28, GAP, no dropout, for Fashion-MNIST: under 20,000 params",
    config="fashion-20k",
)
def fashion_20k(**kw):
    return SweepNet(**({"widths": [16, 20, 28], "depths": [1, 2, 2], "padding": 1, "dropout": 0.0} | kw))


# The fashion-20k of 2026-12-02 to 2026-12-04 (the earlier fashion research runs name it).
@register("fashion-20k-compact", "CompactNet 8-16 | 1x1 16 | 24-28-28, no dropout: fashion-20k until 2026-12-04")
def fashion_20k_compact(**kw):  # no dropout: it underfits Fashion-MNIST (research/fashion-20k/recipe-regularisation)
    return CompactNet(**({"stem": (8, 16), "trans": 16, "body": (24, 28, 28), "dropout": 0.0} | kw))
