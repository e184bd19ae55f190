"""Receptive field and jump (cumulative stride) of every layer, by the standard recurrence.

Per spatial dimension, for a window of size k (dilated: d*(k-1)+1), stride s and padding p:
    rf_out = rf_in + (k - 1) * jump_in      jump_out = jump_in * s      start_out = start_in + ((k-1)/2 - p) * jump_in
where `start` is the input coordinate of unit (0, 0)'s centre; padding moves the window, never its size.
Global pooling and a Linear layer on a flattened map are windows as large as the map.
"""

import math
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class Geometry:
    """Where one output unit looks in the input image, per spatial dimension (h, w)."""

    rf: tuple[int, int]  # receptive field size, input pixels
    jump: tuple[int, int]  # input pixels between neighbouring units: the cumulative stride
    start: tuple[float, float]  # input coordinate of the centre of unit (0, 0)
    grid: tuple[int, int]  # spatial size of the map the units sit on; (1, 1) once mixed globally

    def window(self, k, s, p, grid) -> "Geometry":
        rf = tuple(r + (kk - 1) * j for r, kk, j in zip(self.rf, k, self.jump, strict=True))
        start = tuple(st + ((kk - 1) / 2 - pp) * j for st, kk, pp, j in zip(self.start, k, p, self.jump, strict=True))
        return Geometry(rf, tuple(j * ss for j, ss in zip(self.jump, s, strict=True)), start, tuple(grid))

    def mix_all(self) -> "Geometry":
        """Every unit of the map feeds every output (global pooling, Linear on a flattened map)."""
        return self.window(self.grid, (1, 1), (0, 0), (1, 1))


def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def op_spec(op, layer_args: dict):
    """Module or function name -> ('window', k, s, p) | ('adaptive', out) | ('linear',) | None."""
    if op == "conv2d":
        k = tuple(layer_args["weight"].shape[-2:])
        d = _pair(layer_args.get("dilation", 1))
        k = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d, strict=True))
        pad = layer_args.get("padding", 0)
        if isinstance(pad, str):  # 'valid' or 'same'; 'same' centres the window
            pad = tuple((ki - 1) / 2 for ki in k) if pad == "same" else (0, 0)
        return ("window", k, _pair(layer_args.get("stride", 1)), _pair(pad))
    if op in ("max_pool2d", "avg_pool2d"):
        k, d = _pair(layer_args["kernel_size"]), _pair(layer_args.get("dilation", 1))
        s = layer_args.get("stride") or k  # stride None or () means stride = kernel
        k = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d, strict=True))
        return ("window", k, _pair(s), _pair(layer_args.get("padding", 0)))
    if op in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
        return ("adaptive", _pair(layer_args["output_size"]))
    if op == "linear":
        return ("linear",)
    return None


MODULE_OPS = {
    nn.Conv2d: "conv2d",
    nn.MaxPool2d: "max_pool2d",
    nn.AvgPool2d: "avg_pool2d",
    nn.AdaptiveAvgPool2d: "adaptive_avg_pool2d",
    nn.AdaptiveMaxPool2d: "adaptive_max_pool2d",
    nn.Linear: "linear",
}
FUNC_ARGS = {  # positional parameter names of the functional forms
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding"),
    "adaptive_avg_pool2d": ("input", "output_size"),
    "adaptive_max_pool2d": ("input", "output_size"),
    "linear": ("input", "weight", "bias"),
}
_RESHAPES = {"flatten", "view", "reshape", "squeeze", "Flatten"}


def next_geometry(g: Geometry | None, op: str, spec, in_shape, out_shape) -> Geometry | None:
    """The geometry of an op's output from its input's, by the recurrence in the module docstring."""
    if g is None:
        return None
    spatial_in = len(in_shape) == 4
    out_grid = tuple(out_shape[-2:]) if len(out_shape) == 4 else None
    if spec and spec[0] == "window" and spatial_in and out_grid:
        return g.window(spec[1], spec[2], spec[3], out_grid)
    if spec and spec[0] == "adaptive" and spatial_in and out_grid:
        if out_grid == (1, 1):
            return g.mix_all()
        # non-divisible sizes get windows of varying size; ceil/floor is the widest one
        k = tuple(math.ceil(i / o) for i, o in zip(in_shape[-2:], out_grid, strict=True))
        s = tuple(i // o for i, o in zip(in_shape[-2:], out_grid, strict=True))
        return g.window(k, s, (0, 0), out_grid)
    if spec and spec[0] == "linear":
        return g.mix_all() if len(in_shape) == 2 else None
    if op in _RESHAPES and len(out_shape) == 2:
        return g  # (B, C*H*W): each unit still sees one position's window; grid says which positions
    if out_grid == g.grid or (len(out_shape) == 2 and len(in_shape) == 2):
        return g  # elementwise or channel-wise: BN, ReLU, dropout, add, log_softmax
    if spatial_in and (out_grid == (1, 1) or len(out_shape) == 2):
        return g.mix_all()  # x.mean((2, 3)), x.amax((2, 3)): a global reduction
    return None
