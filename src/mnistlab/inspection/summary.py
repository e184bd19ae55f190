"""Layer-by-layer summary from one real forward pass: shapes, parameters, MACs, receptive fields.

Forward hooks record the leaf modules; a TorchFunctionMode records the torch functions called directly in
a container's `forward` (F.relu, F.max_pool2d, x.flatten, F.log_softmax), which hooks on modules alone
miss. Only tensors derived from the input become rows, so arithmetic on parameters never shows up. The
pass runs on a deep copy in eval mode under no_grad: the caller's BatchNorm statistics never move.

Receptive fields and jumps come from mnistlab.inspection.receptive's recurrence.
"""

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import MnistlabError
from .receptive import FUNC_ARGS, MODULE_OPS, Geometry, next_geometry, op_spec

TRAIN_IMAGES = 60000  # one MNIST epoch; the training-FLOPs estimate is per epoch of this size


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

    @property
    def train_flops_per_epoch(self) -> int:
        # forward + backward ~ 3 forwards, 2 FLOPs per MAC
        return 3 * 2 * self.macs * self.train_images

    def rows(self) -> tuple[list[list[str]], list[str]]:
        """The layer table as `mnistlab summary` prints it: (rows, header)."""
        rows = []
        for layer in self.to_dict()["layers"]:
            shape = "x".join(str(d) for d in layer["output_shape"][1:])
            rf, jump = _fmt(layer["rf"]), _fmt(layer["jump"])
            rows.append([layer["name"], layer["type"], shape, f"{layer['params']:,}", f"{layer['macs']:,}", rf, jump])
        return rows, ["layer", "type", "output", "params", "MACs", "RF", "jump"]

    def footer(self) -> list[str]:
        return [
            f"Parameters: {self.total_params:,} ({self.trainable_params:,} trainable)",
            f"MACs per image: {self.macs:,}; training FLOPs per epoch of {self.train_images:,} images: "
            f"{self.train_flops_per_epoch / 1e12:.2f} TFLOP (3 x 2 x MACs x images)",
            f"Memory: parameters and buffers {human_bytes(self.param_bytes)}, "
            f"activations {human_bytes(self.activation_bytes)} per image (float32)",
        ]

    def __str__(self) -> str:
        from .display import text_table

        title = f"{self.model}: input {'x'.join(map(str, self.input_shape))}"
        return "\n".join([title, text_table(*self.rows()), *self.footer()])

    __repr__ = __str__  # in a notebook's text view and in a REPL: the table, not the dataclass fields

    def _repr_html_(self) -> str:
        from .display import html_lines, html_table

        title = f"{self.model}: input {'x'.join(map(str, self.input_shape))}"
        return html_table(*self.rows(), caption=title) + html_lines(self.footer())

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
        op = next((v for k, v in MODULE_OPS.items() if isinstance(mod, k)), type(mod).__name__)
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
            layer_args = dict(zip(FUNC_ARGS.get(op, ()), args, strict=False)) | kwargs
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
        spec = op_spec(op, layer_args) if op in FUNC_ARGS else None
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


def _fmt(v) -> str:
    if v is None:
        return "?"
    return "x".join(map(str, v)) if isinstance(v, list) else str(v)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def load_target(target: str, trust_code: bool = False) -> tuple[nn.Module, str, list[int]]:
    """A run directory (its model.json and weights), a registered name, or the user's FILE.py:Name /
    package.module:Name -> (model, label, input shape). A run of user code needs `trust_code`."""
    from ..models import create_model, list_models, names_a_model
    from ..models.provenance import build_from_meta
    from ..training.rundir import load_model, read_json

    path = Path(target)
    if (path / "model.json").is_file():
        meta = read_json(path / "model.json")
        model = (
            load_model(path, trust_code=trust_code)
            if (path / "model.safetensors").is_file()
            else build_from_meta(path, meta, trust_code)
        )
        return model, f"{meta.get('name', '?')} ({path})", list(meta.get("input_shape", [1, 28, 28]))
    if names_a_model(target):
        return create_model(target), target, [1, 28, 28]
    if path.exists():
        raise MnistlabError(f"{path}: not a run directory (no model.json)")
    raise MnistlabError(
        f"{target!r}: no such run directory or model (a registered name, FILE.py:Name or package.module:Name); "
        f"known models: {', '.join(list_models())}"
    )
