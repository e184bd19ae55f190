import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from mnistlab import create_model, load_config
from mnistlab.errors import MnistlabError
from mnistlab.training.parallel import ReplicaPair
from mnistlab.training.train import train


def tiny(**kw):
    base = {"model": "mnist-8k", "dataset": "custom", "epochs": 2, "batch_size": 64, "lr": 0.05, "threads": 1}
    return load_config(None, base | kw)


def test_two_replicas_give_the_batch_gradient_of_ghost_batchnorm():
    # Without BatchNorm's batch coupling (eval mode) the two halves' gradients sum to the whole batch's exactly;
    # in train mode each half is normalised by its own statistics ("ghost batch norm").
    torch.manual_seed(0)
    x, y = torch.randn(10, 1, 28, 28), torch.randint(0, 10, (10,))
    whole = create_model("mnist-8k", dropout=0.0).eval()
    pair = ReplicaPair(create_model("mnist-8k", dropout=0.0).eval(), seed=0)
    pair.models[0].load_state_dict(whole.state_dict())
    pair.sync()
    F.cross_entropy(whole(x), y).backward()
    out, loss = pair.forward_backward(
        x.__getitem__, 10, lambda o, rows: F.cross_entropy(o, y[rows]), 0, torch.enable_grad
    )
    assert torch.allclose(out, whole(x), atol=1e-5) and torch.allclose(loss, F.cross_entropy(whole(x), y))
    for p, q in zip(whole.parameters(), pair.models[0].parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-6)
    pair.close()


def test_replica_one_copies_weights_and_shares_running_stats():
    pair = ReplicaPair(create_model("mnist-8k").train(), seed=0)
    x = torch.randn(16, 1, 28, 28)
    pair.forward_backward(x.__getitem__, 16, lambda o, rows: o.sum(), 0, torch.enable_grad)
    with torch.no_grad():
        for p in pair.models[0].parameters():
            p.add_(1.0)
    pair.sync()
    a, b = pair.models[0].state_dict(), pair.models[1].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    pair.close()


def test_two_replicas_are_reproducible_and_differ_from_one(tiny_data, tmp_path):
    w = lambda r: load_file(str(r.run_dir / "model.safetensors"))  # noqa: E731
    torch.manual_seed(123)
    a = train(tiny(replicas=2), out=tmp_path / "a", data_dir=tiny_data, quiet=True)
    b = train(tiny(replicas=2), out=tmp_path / "b", data_dir=tiny_data, quiet=True)
    assert all(torch.equal(v, w(b)[k]) for k, v in w(a).items())
    one = train(tiny(), out=tmp_path / "one", data_dir=tiny_data, quiet=True)
    assert any(not torch.equal(v, w(one)[k]) for k, v in w(a).items() if v.is_floating_point())
    assert a.metrics[-1]["train_acc"] > 30  # it learns (10 classes: chance is 10%)


@pytest.mark.parametrize(
    "kw, message",
    [({"replicas": 3}, "replicas must be 1 or 2"), ({"replicas": 2, "batch_size": 2}, "batch_size >= 4"),
     ({"replicas": 2, "compile": True}, "does not combine with compile")],
)  # fmt: skip
def test_bad_replica_settings_are_refused(kw, message):
    with pytest.raises(MnistlabError, match=message):
        tiny(**kw)


@pytest.mark.parametrize("fast_dropout", [False, True])
def test_replica_in_a_process_trains_bit_for_bit_as_the_thread(tiny_data, tmp_path, monkeypatch, fast_dropout):
    from mnistlab.training import replica_process
    from mnistlab.training import train as train_mod

    built = []
    real = replica_process.ReplicaProcess
    monkeypatch.setattr(replica_process, "ReplicaProcess", lambda *a, **k: built.append(1) or real(*a, **k))
    # bf16 autocast (where native) and augmentation on: the worker's half must be prepared as the thread's
    cfg = tiny(replicas=2, fast_dropout=fast_dropout, label_smoothing=0.1, augment={"rotation": 10.0}, amp=True,
               clean_epochs=0)  # fmt: skip
    assert cfg.amp and cfg.augment.rotation and cfg.clean_epochs == 0
    proc = train(cfg, out=tmp_path / "proc", data_dir=tiny_data, quiet=True)
    assert built == [1] and replica_process.available(torch.device("cpu"))
    monkeypatch.setattr(train_mod.replica_process, "available", lambda device: False)
    thread = train(cfg, out=tmp_path / "thread", data_dir=tiny_data, quiet=True)
    assert built == [1]  # the second run used the thread pair
    w = lambda r: load_file(str(r.run_dir / "model.safetensors"))  # noqa: E731
    assert all(torch.equal(v, w(thread)[k]) for k, v in w(proc).items())
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(proc.metrics) == strip(thread.metrics)


def test_a_failing_replica_process_raises_in_the_loop():
    from mnistlab.training.replica_process import ReplicaProcess

    pair = ReplicaProcess(create_model("mnist-8k").train(), seed=0, batch_size=8, label_smoothing=0.0)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))

    def loss_of(o, rows):
        return F.cross_entropy(o, y[rows])

    loss_of.labels = torch.full((8,), 99)  # a class the network does not have: the worker's loss fails
    with pytest.raises(RuntimeError, match="replica 1: .*Target 99 is out of bounds"):
        pair.forward_backward(x.__getitem__, 8, loss_of, 0, torch.enable_grad)
    pair.close()
    assert not pair.proc.is_alive()


def test_a_replica_process_takes_a_network_with_more_outputs_than_classes():
    from torch import nn

    from mnistlab.training.replica_process import ReplicaProcess

    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 12))  # fmt: skip
    pair = ReplicaProcess(net.train(), seed=0, batch_size=8, label_smoothing=0.0)
    before = [b.clone() for b in pair.stats[1]]
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))

    def loss_of(o, rows):
        return F.cross_entropy(o, y[rows])

    loss_of.labels = y
    out, loss = pair.forward_backward(x.__getitem__, 8, loss_of, 0, torch.enable_grad)
    pair.close()
    assert out.shape == (8, 12) and torch.isfinite(loss)
    assert not all(torch.equal(a, b) for a, b in zip(before, pair.stats[1], strict=True))  # the worker's BN ran


def test_the_callers_model_gets_its_own_dropout_back(tiny_data, tmp_path):
    """Two replicas reroute each Dropout's draws to a per-step generator while training; a model passed in
    (a notebook's instance) must draw as nn.Dropout again afterwards."""
    from mnistlab.training.train import train_model

    model = create_model("ref2")
    train_model(model, tiny(model="ref2", replicas=2, epochs=1), out=tmp_path / "r", data_dir=tiny_data,
                quiet=True)  # fmt: skip
    drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops and not any("forward" in vars(m) for m in drops)
