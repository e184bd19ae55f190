import json
import shutil

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from mnistlab import load_config
from mnistlab.errors import MnistlabError
from mnistlab.system import native_bf16
from mnistlab.training.distill import distill_loss
from mnistlab.training.train import train

CPU = torch.device("cpu")


def tiny(**kw):
    base = {
        "model": "mnist-5k",
        "dataset": "custom",
        "epochs": 1,
        "batch_size": 64,
        "lr": 0.05,
        "threads": 1,
        "clean_epochs": 0,
    }
    return load_config(None, base | kw)


def test_distill_loss_is_hinton_kd():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(8, 10, generator=g), torch.randn(8, 10, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    assert torch.allclose(distill_loss(s, t, y, 0.0, 4.0, 0.1), F.cross_entropy(s, y, label_smoothing=0.1))
    assert distill_loss(s, s.clone(), y, 1.0, 3.0).abs() < 1e-6  # a student equal to its teacher: no soft loss
    # alpha 1, T 1: KL(p_t || p_s) = CE(s, p_t) - H(p_t)
    p = t.softmax(1)
    expected = F.cross_entropy(s, p) + (p * p.log()).sum(1).mean()
    assert torch.allclose(distill_loss(s, t, y, 1.0, 1.0), expected, atol=1e-6)
    # T^2 scaling: at large T the soft term's size stays comparable instead of vanishing as 1/T^2
    assert distill_loss(s, t, y, 1.0, 20.0) > 0.1 * distill_loss(s, t, y, 1.0, 1.0)


@pytest.fixture(scope="module")
def teacher_run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher") / "t-seed0"
    return train(tiny(model="mnist-8k", epochs=2, val_size=100), out=out, data_dir=tiny_data, quiet=True).run_dir


def test_teacher_with_alpha_zero_changes_nothing_and_alpha_half_does(tiny_data, tmp_path, teacher_run):
    w = lambda r: load_file(str(r.run_dir / "model.safetensors"))  # noqa: E731
    plain = train(tiny(val_size=100), out=tmp_path / "plain", data_dir=tiny_data, quiet=True)
    zero = train(tiny(val_size=100, teacher=str(teacher_run), distill_alpha=0.0), out=tmp_path / "a0",
                 data_dir=tiny_data, quiet=True)  # fmt: skip
    assert all(torch.equal(v, w(zero)[k]) for k, v in w(plain).items())  # the teacher draws no random numbers
    half = train(tiny(val_size=100, teacher=str(teacher_run).replace("seed0", "seed{seed}")), out=tmp_path / "a5",
                 data_dir=tiny_data, quiet=True)  # fmt: skip
    assert any(not torch.equal(v, w(half)[k]) for k, v in w(plain).items() if v.is_floating_point())
    assert (
        f"teacher {str(teacher_run).replace('seed0', 'seed{seed}')} (alpha 0.5, T 4.0, bf16 {native_bf16(CPU)})"
        in (half.run_dir / "log.txt").read_text()
    )


def test_a_teacher_that_saw_the_validation_images_is_refused(tiny_data, tmp_path, teacher_run):
    with pytest.raises(MnistlabError, match="trained on this run's validation images"):
        train(tiny(val_size=200, teacher=str(teacher_run)), out=tmp_path / "r", data_dir=tiny_data, quiet=True)
    assert not (tmp_path / "r").exists()  # refused before any folder was made
    other = tmp_path / "other"
    shutil.copytree(teacher_run, other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(cfg | {"dataset": "fashion-mnist"}))
    with pytest.raises(MnistlabError, match="was trained on 'fashion-mnist'"):
        train(tiny(val_size=100, teacher=str(other)), out=tmp_path / "r", data_dir=tiny_data, quiet=True)
    with pytest.raises(MnistlabError, match="not a run folder"):
        train(tiny(teacher=str(tmp_path / "nowhere")), out=tmp_path / "r", data_dir=tiny_data, quiet=True)
    with pytest.raises(MnistlabError, match="distill_alpha"):
        tiny(distill_alpha=1.5)


def test_a_preset_s_teacher_loads_from_outside_the_checkout(tmp_path, monkeypatch):
    from mnistlab.data.verified import get_spec
    from mnistlab.training.distill import load_teacher

    cfg = load_config("fashion-20k")
    assert cfg.teacher and not cfg.teacher.startswith("/")  # the preset names it relative to the checkout
    spec = get_spec(cfg.dataset)
    monkeypatch.chdir(tmp_path)  # not the repository root
    net = load_teacher(cfg.teacher, cfg.dataset, 5000, spec.mean, spec.std, CPU)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    (tmp_path / cfg.teacher).mkdir(parents=True)  # a folder of that name here is read first, and is no run
    with pytest.raises(MnistlabError, match="not a run folder"):
        load_teacher(cfg.teacher, cfg.dataset, 5000, spec.mean, spec.std, CPU)
