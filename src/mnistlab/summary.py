"""Layer-by-layer summary from one real forward pass: shapes, parameters, MACs, receptive fields.

Forward hooks record the leaf modules; a TorchFunctionMode records the torch functions called directly in
a container's `forward` (F.relu, F.max_pool2d, x.flatten, F.log_softmax), which hooks on modules alone
miss. Only tensors derived from the input become rows, so arithmetic on parameters never shows up. The
pass runs on a deep copy in eval mode under no_grad: the caller's BatchNorm statistics never move.

Receptive fields follow the standard recurrence per spatial dimension, for a window of size k
(dilated: d*(k-1)+1), stride s and padding p:
    rf_out = rf_in + (k - 1) * jump_in      jump_out = jump_in * s      start_out = start_in + ((k-1)/2 - p) * jump_in
where `start` is the input coordinate of unit (0, 0)'s centre; padding moves the window, never its size.
Global pooling and a Linear layer on a flattened map are windows as large as the map.
"""

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .errors import MnistlabError

TRAIN_IMAGES = 60000  # one MNIST epoch; the training-FLOPs estimate is per epoch of this size


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


@dataclass
class Layer:
    name: str  # module path (conv1.0) or the function's name in its owner (relu, relu_1)
    type: str  # module class (Conv2d) or function (F.relu, Tensor.flatten)
    in_shape: list[int]
    output_shape: list[int]
    params: int  # counted at a module's first call only, so shared weights count once
    macs: int  # multiply-accumulates per image: conv and linear, plus one per element for BatchNorm
    geometry: Geometry | None  # None: an op whose effect on positions is unknown
    out: torch.Tensor | None = None  # the real output, kept only when asked (tests)

    def to_dict(self) -> dict:
        g = self.geometry
        one = lambda t: None if g is None else (t[0] if t[0] == t[1] else list(t))  # noqa: E731
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": self.output_shape,
            "params": self.params,
            "macs": self.macs,
            "rf": one(g.rf) if g else None,
            "jump": one(g.jump) if g else None,
        }


@dataclass
class Summary:
    model: str
    input_shape: list[int]  # (C, H, W) of one image
    layers: list[Layer]
    total_params: int
    trainable_params: int
    macs: int  # per image, summed over layers
    param_bytes: int  # parameters and buffers (BatchNorm statistics) as stored
    activation_bytes: int  # every layer's output for one image: what a forward pass holds for backward
    train_images: int = TRAIN_IMAGES
    extras: dict = field(default_factory=dict)

    @property
    def train_flops_per_epoch(self) -> int:
        # forward + backward ~ 3 forwards, 2 FLOPs per MAC
        return 3 * 2 * self.macs * self.train_images

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "input_shape": self.input_shape,
            "layers": [layer.to_dict() for layer in self.layers],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "macs_per_image": self.macs,
            "train_flops_per_epoch": self.train_flops_per_epoch,
            "train_images_per_epoch": self.train_images,
            "param_bytes": self.param_bytes,
            "activation_bytes_per_image": self.activation_bytes,
        }


def _pair(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _op_spec(op, layer_args: dict):
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


_MODULE_OPS = {
    nn.Conv2d: "conv2d",
    nn.MaxPool2d: "max_pool2d",
    nn.AvgPool2d: "avg_pool2d",
    nn.AdaptiveAvgPool2d: "adaptive_avg_pool2d",
    nn.AdaptiveMaxPool2d: "adaptive_max_pool2d",
    nn.Linear: "linear",
}
_FUNC_ARGS = {  # positional parameter names of the functional forms
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


def _tensors(args) -> list[torch.Tensor]:
    """The tensors among a call's arguments, including inside lists (torch.cat([a, b], 1))."""
    flat = [b for a in args for b in (a if isinstance(a, (list, tuple)) else [a])]
    return [t for t in flat if isinstance(t, torch.Tensor)]


class _Tracer(TorchFunctionMode):
    """Turns one forward pass into Layer rows; see the module docstring."""

    def __init__(self, model: nn.Module, keep: bool):
        super().__init__()
        self.keep, self.rows, self.stack = keep, [], []
        self.geo: dict[int, Geometry | None] = {}  # id(activation) -> its geometry
        self.alive: list[torch.Tensor] = []  # keeps traced tensors alive so their ids stay unique
        self.seen_params: set[int] = set()
        self.counts: dict[str, int] = {}
        self.busy = False  # True while our own bookkeeping runs: its tensor calls are not the model's
        self.leaves = {n for n, m in model.named_modules() if not any(True for _ in m.children())}
        self.handles = []
        for name, m in model.named_modules():
            self.handles.append(m.register_forward_pre_hook(lambda mod, args, n=name: self.stack.append(n)))
            self.handles.append(m.register_forward_hook(lambda mod, a, o, n=name: self._module(n, mod, a, o)))

    def close(self):
        for h in self.handles:
            h.remove()

    def watch(self, x: torch.Tensor) -> None:
        self.geo[id(x)] = Geometry((1, 1), (1, 1), (0.0, 0.0), tuple(x.shape[-2:]))
        self.alive.append(x)

    def _module(self, name, mod, args, out):
        self.stack.pop()
        if name not in self.leaves or self.busy:
            return
        self.busy = True  # our own tensor calls below are not the model's
        new = [p for p in mod.parameters() if id(p) not in self.seen_params]
        self.seen_params.update(id(p) for p in new)
        op = next((v for k, v in _MODULE_OPS.items() if isinstance(mod, k)), type(mod).__name__)
        layer_args = {"weight": getattr(mod, "weight", None)} | {
            k: getattr(mod, k)
            for k in ("kernel_size", "stride", "padding", "dilation", "output_size")
            if hasattr(mod, k)
        }
        try:
            self._record(name, type(mod).__name__, op, layer_args, args, out, sum(p.numel() for p in new), mod)
        finally:
            self.busy = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)  # the mode is off while this runs: inner calls are not seen
        if self.busy or (self.stack and self.stack[-1] in self.leaves):
            return out  # inside a leaf module: its forward hook records the whole layer
        op = getattr(func, "__name__", str(func))
        if isinstance(out, torch.Tensor) and any(id(a) in self.geo for a in _tensors(args)):
            self.busy = True
            owner = self.stack[-1] if self.stack else ""
            base = f"{owner}.{op}" if owner else op
            n = self.counts.get(base, 0)
            self.counts[base] = n + 1
            module = getattr(func, "__module__", None) or ""
            prefix = "F." if module.startswith(("torch.nn.functional", "torch._C._nn")) else "torch."
            prefix = "Tensor." if getattr(func, "__qualname__", "").startswith("TensorBase") else prefix
            layer_args = dict(zip(_FUNC_ARGS.get(op, ()), args, strict=False)) | kwargs
            try:
                self._record(base + (f"_{n}" if n else ""), prefix + op, op, layer_args, args, out, 0, None)
            finally:
                self.busy = False
        return out

    def _record(self, name, type_, op, layer_args, args, out, params, mod):
        if not isinstance(out, torch.Tensor):
            return  # tuple outputs (max_pool with indices) are rare here; skip rather than guess
        known = [a for a in _tensors(args) if id(a) in self.geo]
        if not known:
            return  # not derived from the input: parameter arithmetic, constants
        geos = [self.geo[id(a)] for a in known]
        g_in = None if None in geos else max(geos, key=lambda g: g.rf)  # add/cat: the widest input
        x = known[0]
        spec = _op_spec(op, layer_args) if op in _FUNC_ARGS else None
        g = next_geometry(g_in, op, spec, list(x.shape), list(out.shape))
        per_image = out[0].numel() if out.dim() else 1
        weight = layer_args.get("weight")
        macs = 0
        if op in ("conv2d", "linear") and isinstance(weight, torch.Tensor):
            macs = per_image * (weight[0].numel())  # (Cin/groups * kh * kw) or in_features per output
        elif isinstance(mod, nn.modules.batchnorm._BatchNorm) or op == "batch_norm":
            macs = per_image  # folded scale and shift
        self.geo[id(out)] = g
        self.alive.append(out)
        self.rows.append(
            Layer(name, type_, list(x.shape), list(out.shape), params, macs, g, out if self.keep else None)
        )


def trace(model: nn.Module, x: torch.Tensor, keep_outputs: bool = False) -> list[Layer]:
    """Rows for one forward pass of `model` on `x` (B, C, H, W), run as given (no copy, no mode change)."""
    tracer = _Tracer(model, keep_outputs)
    tracer.watch(x)
    try:
        with tracer:
            model(x)
    except RuntimeError as e:
        msg = str(e).strip().splitlines()[0]
        raise MnistlabError(f"forward pass on input {list(x.shape[1:])} failed: {msg}") from None
    finally:
        tracer.close()
    return tracer.rows


def summarize(model: nn.Module, name: str = "", input_shape=(1, 28, 28), train_images: int = TRAIN_IMAGES) -> Summary:
    """Summary of one image's forward pass through a copy of `model` in eval mode; `model` is untouched."""
    work = copy.deepcopy(model).eval()  # the copy's BN statistics may move; the caller's never do
    device = next((p.device for p in work.parameters()), torch.device("cpu"))
    with torch.no_grad():
        layers = trace(work, torch.zeros(1, *input_shape, device=device))
    return Summary(
        model=name or type(model).__name__,
        input_shape=list(input_shape),
        layers=layers,
        total_params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        macs=sum(layer.macs for layer in layers),
        param_bytes=sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]),
        activation_bytes=sum(math.prod(layer.output_shape[1:]) * 4 for layer in layers),  # float32
        train_images=train_images,
    )


def load_target(target: str) -> tuple[nn.Module, str, list[int]]:
    """A run directory (its model.json and weights) or a registered model name -> (model, label, input shape)."""
    from .models import create_model, list_models
    from .rundir import load_model, read_json

    path = Path(target)
    if (path / "model.json").is_file():
        meta = read_json(path / "model.json")
        model = (
            load_model(path)
            if (path / "model.safetensors").is_file()
            else create_model(meta["name"], **meta.get("kwargs", {}))
        )
        return model, f"{meta.get('name', '?')} ({path})", list(meta.get("input_shape", [1, 28, 28]))
    if target in list_models():
        return create_model(target), target, [1, 28, 28]
    if path.exists():
        raise MnistlabError(f"{path}: not a run directory (no model.json)")
    raise MnistlabError(f"{target!r}: no such run directory or model; known models: {', '.join(list_models())}")
