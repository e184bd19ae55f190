"""`mnistlab export`: ONNX and TorchScript files that compute what the eager model computes."""

import numpy as np
import pytest
import torch

from mnistlab.cli.app import main
from mnistlab.data.verified import load_split
from mnistlab.training.evaluate import normalize
from mnistlab.training.rundir import load_model
from mnistlab.use.weights import default_run_dir


@pytest.fixture(scope="module")
def inputs(mnist_dir):
    """(200, 1, 28, 28) normalised test images from the far end of the set (export checked the first 1000)."""
    return normalize(load_split("mnist", False, mnist_dir).images[-200:], 0.1307, 0.3081)


def export(capsys, *args) -> tuple[int, str, str]:
    code = main(["export", str(default_run_dir()), *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_onnx_export_parity(tmp_path, capsys, inputs):
    import onnx
    import onnxruntime as ort

    path = tmp_path / "model.onnx"
    code, out, err = export(capsys, "--format", "onnx", "--out", path)
    assert code == 0, err
    # observed: max |delta output| 6.68e-06 (batch of 1: 1.91e-06), same argmax on 1000/1000 test images
    assert "same argmax on 1000/1000 test images" in out and "tolerance 1e-04" in out
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, dynamic batch axis
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        eager = load_model(default_run_dir())(inputs).numpy()
    for n in (1, 7, 200):  # any batch size
        got = session.run(None, {"input": inputs[:n].numpy()})[0]
        assert got.shape == (n, 10) and np.abs(got - eager[:n]).max() <= 1e-4


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_torchscript_export_parity_and_no_silent_overwrite(tmp_path, capsys, inputs):
    path = tmp_path / "model.pt"
    code, out, err = export(capsys, "--format", "torchscript", "--out", path)
    assert code == 0, err
    assert "same argmax on 1000/1000 test images" in out  # observed: max |delta output| 0.00e+00
    scripted = torch.jit.load(str(path))
    with torch.inference_mode():
        assert torch.allclose(scripted(inputs), load_model(default_run_dir())(inputs), atol=1e-4)
    before = path.read_bytes()
    code, _, err = export(capsys, "--format", "torchscript", "--out", path)
    assert code == 2 and "already exists" in err and "--overwrite" in err and path.read_bytes() == before
    assert export(capsys, "--format", "torchscript", "--out", path, "--overwrite")[0] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_bad_export_arguments(tmp_path, capsys):
    code, _, err = export(capsys, "--format", "onnx", "--out", tmp_path)
    assert code == 2 and "already exists" in err
    assert main(["export", str(tmp_path / "nope"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "model.json: not found" in capsys.readouterr().err
