"""The trainer's optional pieces, each on its own: the objective (plain or distilled), one model or two
replicas, and the device-side tally."""

import copy

import pytest
import torch
import torch.nn.functional as F

from mnistlab.models import create_model
from mnistlab.training.distill import distill_loss
from mnistlab.training.parallel import ReplicaPair
from mnistlab.training.steps import CrossEntropy, Distiller, SingleStep, Tally, inputs


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g)


def no_autocast():
    return torch.autocast("cpu", enabled=False)


def test_inputs_rows_are_rows_of_the_whole():
    images, _ = batch()
    prepare = inputs(images, None, 0.1307, 0.3081, channels_last=False)
    whole = prepare(slice(None))
    assert whole.shape == (8, 1, 28, 28)
    assert torch.equal(prepare(slice(2, 5)), whole[2:5])
    assert torch.allclose(whole[0, 0], (images[0].float() / 255 - 0.1307) / 0.3081)


def test_cross_entropy_binds_the_labels_and_keeps_the_inputs():
    images, y = batch()
    prepare = inputs(images, None, 0.0, 1.0, False)
    loss_of, same = CrossEntropy(0.1).bind(prepare, y)
    out = torch.randn(8, 10)
    assert same is prepare
    assert torch.equal(loss_of(out, slice(None)), F.cross_entropy(out, y, label_smoothing=0.1))
    assert torch.equal(loss_of(out[:3], slice(0, 3)), F.cross_entropy(out[:3], y[:3], label_smoothing=0.1))


def test_distiller_runs_the_teacher_once_on_what_the_student_sees():
    images, y = batch()
    calls = []
    teacher = create_model("ref1").eval()
    teacher.register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    prepare = inputs(images, None, 0.1307, 0.3081, False)
    loss_of, rows = Distiller(teacher, 0.5, 4.0, 0.0, bf16=False).bind(prepare, y)
    assert calls == [torch.Size([8, 1, 28, 28])]
    assert torch.equal(rows(slice(1, 3)), prepare()[1:3])  # replicas' halves are rows of what the teacher saw
    out = torch.randn(8, 10)
    with torch.no_grad():
        soft = teacher(prepare())
    assert torch.allclose(loss_of(out, slice(None)), distill_loss(out, soft, y, 0.5, 4.0))


@pytest.mark.parametrize("name", ["ref1", "mnist-8k"])
def test_one_model_and_two_replicas_give_the_same_gradient(name):
    """The replicas' summed gradient is the whole batch's: equal to SingleStep's up to float rounding
    (BatchNorm sees halves, so models without dropout and in eval-mode BN compare exactly enough)."""
    torch.manual_seed(0)
    model = create_model(name).eval()  # eval: BatchNorm uses running stats, so halves == whole
    twin = copy.deepcopy(model)
    images, y = batch(16)
    prepare = inputs(images, None, 0.1307, 0.3081, False)
    loss_of, prepare = CrossEntropy().bind(prepare, y)
    out1, loss1 = SingleStep(model).forward_backward(prepare, 16, loss_of, 0, no_autocast)
    pair = ReplicaPair(twin, seed=0)
    try:
        out2, loss2 = pair.forward_backward(prepare, 16, loss_of, 0, no_autocast)
    finally:
        pair.close()
    assert torch.allclose(out1, out2, atol=1e-5) and torch.allclose(loss1, loss2, atol=1e-6)
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-5)


def test_tally_counts_and_names_the_first_non_finite_step():
    t = Tally("cpu")
    y = torch.tensor([0, 1, 2])
    out = torch.eye(10)[[0, 1, 5]]
    t.add(torch.tensor(0.5), out, y, step=1)
    t.add(torch.tensor(float("nan")), out, y, step=2)
    t.add(torch.tensor(float("inf")), out, y, step=3)
    assert int(t.correct) == 6 and int(t.bad_step) == 2
    resumed = Tally("cpu", torch.tensor(1.5), torch.tensor(4))
    assert float(resumed.loss_sum) == 1.5 and int(resumed.correct) == 4 and int(resumed.bad_step) == 0
