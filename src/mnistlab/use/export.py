"""Export a run's model to ONNX or TorchScript, and prove the file computes what the eager model computes.

The exported graph takes exactly what `load_model` takes: (N, 1, 28, 28) float32 normalised with
model.json's mean/std, N free; it returns the same (N, 10) outputs. Parity is measured on real test
images, never on random noise alone: max |difference| over the outputs and argmax agreement.
"""

import contextlib
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import verified as data
from ..errors import MnistlabError
from ..training.evaluate import normalize
from ..training.rundir import load_model, read_json

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4  # max |delta output| allowed; float32 kernels differ by ~1e-6 here


@dataclass
class Parity:
    images: int  # test images compared
    max_abs_diff: float  # max |exported - eager| over all (images, 10) outputs
    argmax_agree: int  # images whose predicted class is the same
    batch1_max_abs_diff: float  # the first image alone: proves the batch axis is really dynamic

    @property
    def ok(self) -> bool:
        worst = max(self.max_abs_diff, self.batch1_max_abs_diff)
        return bool(worst <= TOLERANCE and self.argmax_agree == self.images)

    def describe(self) -> str:
        return (
            f"max |delta output| {self.max_abs_diff:.2e} (batch of 1: {self.batch1_max_abs_diff:.2e}, "
            f"tolerance {TOLERANCE:.0e}), same argmax on {self.argmax_agree}/{self.images} test images"
        )


@contextlib.contextmanager
def _quiet():
    """The ONNX exporter logs warnings about optional torchvision ops and deprecations; not the user's concern."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _to_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path):
    """Write the ONNX file, check it with onnx.checker; returns a function (N,1,28,28) array -> (N,10) array."""
    import onnx
    import onnxruntime as ort

    with _quiet():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=True,
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),  # (N, 1, 28, 28): N free
            external_data=False,  # one self-contained file; the weights are tiny
            verbose=False,  # no progress lines on stdout
        )
    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    except onnx.checker.ValidationError as e:
        raise MnistlabError(f"{path}: onnx.checker refused the exported model: {str(e).splitlines()[0]}") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"input": x})[0]


def _to_torchscript(model: torch.nn.Module, example: torch.Tensor, path: Path):
    """Trace and save; returns a function running the *reloaded* file, so the saved bytes are what is checked."""
    with _quiet(), torch.no_grad():  # torch 2.13 marks TorchScript deprecated; it still works and is asked for
        traced = torch.jit.trace(model, example)
        traced.save(str(path))
        loaded = torch.jit.load(str(path)).eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return loaded(torch.from_numpy(x)).numpy()

    return run


def check_parity(run_exported, model: torch.nn.Module, inputs: torch.Tensor) -> Parity:
    """inputs (N, 1, 28, 28) normalised -> Parity of the exported function against the eager model."""
    with torch.inference_mode():
        eager = model(inputs).numpy()  # (N, 10)
    exported = np.asarray(run_exported(inputs.numpy()))
    one = np.asarray(run_exported(inputs[:1].numpy()))  # (1, 10)
    return Parity(
        images=len(inputs),
        max_abs_diff=float(np.abs(exported - eager).max()),
        argmax_agree=int((exported.argmax(1) == eager.argmax(1)).sum()),
        batch1_max_abs_diff=float(np.abs(one - eager[:1]).max()),
    )


def export_model(
    run_dir: str | Path,
    fmt: str,
    out: str | Path,
    overwrite: bool = False,
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    n_check: int = 1000,
    trust_code: bool = False,
) -> dict:
    """Export, then check parity on the first n_check test images; the file appears only if it passes."""
    if fmt not in FORMATS:
        raise MnistlabError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    run_dir, out = Path(run_dir), Path(out)
    if out.exists() and not overwrite:
        raise MnistlabError(f"{out}: already exists; choose another --out, or pass --overwrite")
    if out.is_dir():
        raise MnistlabError(f"{out}: is a folder; --out names the file to write")
    meta = read_json(run_dir / "model.json")
    model = load_model(run_dir, trust_code=trust_code)
    norm = meta.get("normalize", {})
    split = data.load_split(dataset or meta.get("dataset", "mnist"), False, data_dir)
    inputs = normalize(split.images[:n_check], norm.get("mean", 0.1307), norm.get("std", 0.3081))  # (n, 1, 28, 28)
    tmp = out.with_name(f".{out.name}.tmp")
    try:  # an unwritable --out: one line now, not the exporter's traceback later
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(b"")
    except OSError as e:
        raise MnistlabError(f"{out}: cannot write ({e.strerror or e})") from None
    try:
        # A batch of 2: torch.export would specialise a batch of 1 into a constant.
        runner = (_to_onnx if fmt == "onnx" else _to_torchscript)(model, inputs[:2].clone(), tmp)
        parity = check_parity(runner, model, inputs)
        if not parity.ok:
            raise MnistlabError(f"{fmt} export of {run_dir} failed the parity check: {parity.describe()}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"format": fmt, "out": str(out), "bytes": out.stat().st_size, "parity": {**asdict(parity), "ok": True}}
