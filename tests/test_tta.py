import json

import pytest
import torch

from mnistlab.cli.app import main
from mnistlab.data.verified import Split
from mnistlab.inspection.tta import ID, VIEWS, evaluate_tta, view
from mnistlab.models import create_model
from mnistlab.training.evaluate import evaluate
from mnistlab.training.train import train
from tests.test_train import tiny_config


@pytest.mark.parametrize("dx, dy", [(1, 0), (-1, 0), (0, 1), (0, -1), (2, -3)])
def test_integer_shift_is_an_exact_pixel_move_with_black_fill(dx, dy):
    x = torch.rand(3, 1, 28, 28)  # (B, 1, H, W) in [0, 1]
    expected = torch.zeros_like(x)
    src = x[..., max(0, -dy) : 28 - max(0, dy), max(0, -dx) : 28 - max(0, dx)]
    expected[..., max(0, dy) : 28 - max(0, -dy), max(0, dx) : 28 - max(0, -dx)] = src
    assert torch.allclose(view(x, dx, dy, 0.0), expected, atol=1e-5)


def test_rotation_is_about_the_centre_and_keeps_a_centred_blob():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 12:16, 12:16] = 1.0  # a square on the centre: rotating by 90 degrees maps it onto itself
    assert torch.allclose(view(x, 0, 0, 90.0), x, atol=1e-5)
    assert view(x, 0, 0, 6.0).sum() == pytest.approx(16.0, rel=0.05)


def test_flip_mirrors_left_right_before_the_shift():
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(view(x, 0, 0, 0.0, True), x.flip(-1))
    assert torch.allclose(view(x, 1, 0, 0.0, True), view(x.flip(-1), 1, 0, 0.0), atol=1e-6)
    assert len(VIEWS["shift-flip"]) == 10 and sum(len(v) == 4 and v[3] for v in VIEWS["shift-flip"]) == 5


def test_identity_views_are_plain_evaluation_and_views_average_probabilities():
    torch.manual_seed(0)
    model = create_model("mnist-8k").eval()
    split = Split(torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (64,)))
    assert evaluate_tta(model, split, 0.1307, 0.3081, [ID]) == evaluate(model, split, 0.1307, 0.3081)
    twice = evaluate_tta(model, split, 0.1307, 0.3081, [ID, ID])  # the mean of one view twice is that view
    assert twice.correct == evaluate(model, split, 0.1307, 0.3081).correct
    assert all(v[0] == ID for v in VIEWS.values())  # every set includes the image itself


def test_eval_cli_val_split_and_tta(tiny_data, tmp_path, capsys):
    run = train(tiny_config(val_size=128), out=tmp_path / "run", data_dir=tiny_data, quiet=True).run_dir
    assert main(["eval", str(run), "--data-dir", str(tiny_data), "--split", "val", "--json"]) in (0, None)
    r = json.loads(capsys.readouterr().out)
    assert r["total"] == 128 and 100 * r["accuracy"] == pytest.approx(train_val_acc(run), abs=1e-3)
    assert main(["eval", str(run), "--data-dir", str(tiny_data), "--tta", "shift", "--json"]) in (0, None)
    r = json.loads(capsys.readouterr().out)
    assert r["total"] == 256 and r["tta"] == "shift"


def train_val_acc(run):
    last = (run / "metrics.csv").read_text().splitlines()
    header, row = last[0].split(","), last[-1].split(",")
    return float(row[header.index("val_acc")])


def test_eval_val_split_of_a_run_without_one_is_one_line(tiny_data, tmp_path, capsys):
    run = train(tiny_config(epochs=1), out=tmp_path / "run", data_dir=tiny_data, quiet=True).run_dir
    code = main(["eval", str(run), "--data-dir", str(tiny_data), "--split", "val"])
    assert code != 0
    assert "held out no validation images" in capsys.readouterr().err
