import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F

from mnistlab import create_model, list_models
from mnistlab.cli.app import main
from mnistlab.inspection.summary import summarize, trace

MODELS = list_models()


def leaf_output_shapes(model, x) -> tuple[dict, list]:
    """An independent real forward pass: every leaf module's output shape, by hooks, plus the final shape."""
    shapes, hooks = {}, []
    for name, m in model.named_modules():
        if not any(True for _ in m.children()):
            # a forward hook that returns something replaces the output: update() returns None
            hooks.append(m.register_forward_hook(lambda mod, a, o, n=name: shapes.update({n: list(o.shape)})))
    with torch.no_grad():
        out = model.eval()(x)
    for h in hooks:
        h.remove()
    return shapes, list(out.shape)


@pytest.mark.parametrize("name", MODELS)
def test_totals_and_shapes_match_a_real_forward_pass(name):
    model = create_model(name)
    s = summarize(model, name)
    assert s.total_params == s.trainable_params == sum(p.numel() for p in model.parameters())
    assert sum(layer.params for layer in s.layers) == s.total_params  # every parameter in one traced row
    shapes, final = leaf_output_shapes(model, torch.zeros(1, 1, 28, 28))
    rows = {layer.name: layer.output_shape for layer in s.layers}
    assert {n: rows[n] for n in shapes} == shapes
    assert s.layers[-1].output_shape == final == [1, 10]
    assert s.train_flops_per_epoch == 6 * s.macs * 60000
    assert s.macs > 0 and s.activation_bytes > 0 and s.param_bytes >= 4 * s.total_params


def test_functional_ops_appear_as_rows():
    # ref2 calls F.relu and x.flatten in forward; ref1 ends in x.view and F.log_softmax
    types = [layer.type for layer in summarize(create_model("ref2")).layers]
    assert types.count("F.relu") == 6 and "Tensor.flatten" in types and types[-1] == "F.log_softmax"
    ref3 = {layer.name: layer.to_dict() for layer in summarize(create_model("ref3")).layers}
    # the RFs written beside ref3's layers in models/refs.py
    assert [ref3[n]["rf"] for n in ("conv1.0", "conv2.0", "pool", "conv3.0", "conv6.0", "gap")] == [3, 5, 6, 10, 22, 28]
    assert ref3["pool"]["jump"] == 2 and ref3["conv1.0"]["macs"] == 8 * 26 * 26 * 9


def _avg_pool_instead(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode)


@pytest.mark.parametrize("name", MODELS)
def test_receptive_field_equals_input_gradient_support(name, monkeypatch):
    # A max pool sends gradient to one pixel per window, but the receptive field is every pixel that *can*
    # matter: pool by averaging over the same windows. Positive weights and inputs keep every ReLU open.
    monkeypatch.setattr(F, "max_pool2d", _avg_pool_instead)
    torch.manual_seed(0)
    model = copy.deepcopy(create_model(name)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand_like(p) * 0.9 + 0.1)
    x = (torch.rand(1, 1, 28, 28) + 0.1).requires_grad_()
    for layer in trace(model, x, keep_outputs=True):
        g, out = layer.geometry, layer.out
        assert g is not None, layer.name
        if out.dim() == 4:  # the centre unit, all channels
            (i, j), unit = (out.shape[-2] // 2, out.shape[-1] // 2), out[0, :, out.shape[-2] // 2, out.shape[-1] // 2]
        else:  # (B, N): unit 0 sits at grid position (0, 0) (flattened maps are channel-major)
            (i, j), unit = (0, 0), out[0, 0]
        (grad,) = torch.autograd.grad(unit.sum(), x, retain_graph=True)
        rows, cols = grad[0, 0].ne(0).nonzero(as_tuple=True)
        expect = []
        for k, idx in ((0, i), (1, j)):
            centre, half = g.start[k] + idx * g.jump[k], (g.rf[k] - 1) / 2
            expect.append((max(0, math.ceil(centre - half)), min(27, math.floor(centre + half))))
        assert [(int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))] == expect, layer.name
        box = (expect[0][1] - expect[0][0] + 1) * (expect[1][1] - expect[1][0] + 1)
        assert len(rows) == box, layer.name  # the whole window, no holes


@pytest.mark.parametrize("name", ["ref1", "ref3"])
def test_summary_leaves_batchnorm_buffers_and_mode_alone(name):
    model = create_model(name).train()
    with torch.no_grad():
        model(torch.randn(8, 1, 28, 28))  # move the running statistics off their initial values
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summarize(model, name)
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_cli_json_for_a_model_and_a_run(tmp_path, capsys):
    from mnistlab.training.rundir import save_weights, write_json

    assert main(["summary", "ref3", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["total_params"] == 7776 and set(s["layers"][0]) == {
        "name",
        "type",
        "output_shape",
        "params",
        "macs",
        "rf",
        "jump",
    }
    write_json(tmp_path / "model.json", {"name": "ref1", "kwargs": {"dropout": 0.0}, "input_shape": [1, 28, 28]})
    save_weights(create_model("ref1", dropout=0.0), tmp_path / "model.safetensors")
    assert main(["summary", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Parameters: 14,320" in text and "F.log_softmax" in text and "Dropout" not in text


def test_unknown_target_is_one_line(capsys):
    assert main(["summary", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "no such run directory or model" in err and len(err.strip().splitlines()) == 1
