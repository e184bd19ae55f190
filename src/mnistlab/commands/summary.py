import json

from ..summary import load_target, summarize
from .common import print_table


def add(sub):
    p = sub.add_parser("summary", help="layer table of a model or a run: shapes, params, MACs, receptive fields")
    p.add_argument("target", metavar="MODEL|RUN_DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(ns):
    model, label, input_shape = load_target(ns.target)
    s = summarize(model, label, input_shape)
    if ns.json:
        print(json.dumps(s.to_dict(), indent=2))
        return
    rows = []
    for layer in s.to_dict()["layers"]:
        shape = "x".join(str(d) for d in layer["output_shape"][1:])
        rows.append(
            [
                layer["name"],
                layer["type"],
                shape,
                f"{layer['params']:,}",
                f"{layer['macs']:,}",
                _fmt(layer["rf"]),
                _fmt(layer["jump"]),
            ]
        )
    print(f"{label}: input {'x'.join(map(str, input_shape))}")
    print_table(rows, ["layer", "type", "output", "params", "MACs", "RF", "jump"])
    print(f"Parameters: {s.total_params:,} ({s.trainable_params:,} trainable)")
    print(
        f"MACs per image: {s.macs:,}; training FLOPs per epoch of {s.train_images:,} images: "
        f"{s.train_flops_per_epoch / 1e12:.2f} TFLOP (3 x 2 x MACs x images)"
    )
    print(
        f"Memory: parameters and buffers {human_bytes(s.param_bytes)}, "
        f"activations {human_bytes(s.activation_bytes)} per image (float32)"
    )


def _fmt(v) -> str:
    if v is None:
        return "?"
    return "x".join(map(str, v)) if isinstance(v, list) else str(v)


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
