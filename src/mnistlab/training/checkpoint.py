"""Resumable checkpoints in safetensors + JSON: no pickle, so loading one never runs code.

checkpoint.safetensors holds tensors (model.*, the optimizer's per-parameter state opt.<i>.<key>, the
RNG states — the CPU's, the batch-order generator's and, for a model on CUDA, the device's — and mid-epoch
the batch order and running sums) and one metadata entry "mnistlab" with JSON for everything else (epoch,
step, metrics so far, the optimizer's hyper-parameters, the scheduler).
"""

import json
from pathlib import Path

import torch
from safetensors import safe_open

from ..errors import MnistlabError
from .rundir import atomic_save_tensors

NAME = "checkpoint.safetensors"


def save_checkpoint(run_dir: Path, model, opt, sched, gen: torch.Generator, meta: dict, extra: dict, ema=None) -> Path:
    """Atomically write the whole training state; `extra` holds mid-epoch tensors (may be empty)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if ema is not None:  # the EMA copy of the weights (optim.EMA.model)
        tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()}
    opt_state = opt.state_dict()
    scalars = {}
    for idx, state in opt_state["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"opt.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.gen"] = gen.get_state()
    device = _device_of(model)
    if device.type == "cuda":  # dropout on the GPU draws from the device's own generator
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    tensors |= {f"extra.{k}": v.detach().cpu().contiguous() for k, v in extra.items()}
    meta = meta | {
        "opt_groups": opt_state["param_groups"],
        "opt_scalars": scalars,
        "sched": sched.state_dict() if sched is not None else None,
    }
    path = Path(run_dir) / NAME
    atomic_save_tensors(tensors, path, metadata={"mnistlab": json.dumps(meta)})
    return path


def load_checkpoint(run_dir: Path) -> tuple[dict, dict]:
    """-> (tensors, meta). A file that is not an mnistlab checkpoint is refused with one line."""
    path = Path(run_dir) / NAME
    if not path.is_file():
        raise MnistlabError(f"{path}: no checkpoint to resume from")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["mnistlab"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no items()
    except Exception as e:  # noqa: BLE001 - a damaged file raises many types; all mean the same to a user
        raise MnistlabError(f"{path}: not a valid mnistlab checkpoint ({type(e).__name__}: {e})") from None
    return tensors, meta


def restore(tensors: dict, meta: dict, model, opt, sched, gen: torch.Generator, ema=None) -> dict:
    """Put the saved state back into freshly built objects; returns the mid-epoch tensors."""
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if ema is not None:
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for key, value in meta["opt_scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["opt_groups"]})
    if sched is not None and meta.get("sched"):
        sched.load_state_dict(meta["sched"])
    torch.set_rng_state(tensors["rng.torch"])
    gen.set_state(tensors["rng.gen"])
    device = _device_of(model)
    if "rng.cuda" in tensors and device.type == "cuda":  # a CPU checkpoint resumed on CUDA has none to restore
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    return {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}


def _device_of(model) -> torch.device:
    """The device the model's weights live on (the CPU for a model without parameters)."""
    return next(model.parameters(), torch.empty(0)).device
