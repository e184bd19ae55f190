import numpy as np
import pytest
import torch
from PIL import Image

from mnistlab import load_config, load_model
from mnistlab.cli.app import main
from mnistlab.data.verified import load_split
from mnistlab.inspection import plots as plots_mod
from mnistlab.inspection.report import IMAGES, first_batch, predict, write_report
from mnistlab.training.evaluate import evaluate, predict_logits
from mnistlab.training.train import train

RECIPE = {"model": "ref3", "dataset": "custom", "epochs": 2, "batch_size": 64, "lr": 0.05, "threads": 1}


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    cfg = load_config(None, RECIPE | {"augment": {"rotation": 10.0, "erase_p": 0.5}})
    return train(cfg, out=tmp_path_factory.mktemp("report") / "run", data_dir=tiny_data, quiet=True).run_dir


def test_report_has_its_sections_and_valid_images(run, tiny_data):
    md = write_report(run, note="Rotation helps | a lot.", data_dir=tiny_data).read_text()
    for heading in ("## Target", "## Results", "## Analysis", "## Model"):
        assert heading in md
    assert "Rotation helps | a lot." in md and "Notebook 003 reported" in md  # the note; the config's notes
    assert "| consistency |" in md and "| conv1.0 | Conv2d | 8x26x26 | 72 |" in md
    html = (run / "report.html").read_text()
    assert html.count("src='data:image/png;base64,") == 4 and "<h2>Analysis</h2>" in html
    for name in IMAGES:
        with Image.open(run / name) as im:
            im.verify()  # a complete, uncorrupted PNG
        with Image.open(run / name) as im:
            assert im.format == "PNG" and 300 <= im.width <= 3000 and 200 <= im.height <= 3000, name
            assert len(np.unique(np.asarray(im.convert("L")))) > 10, name  # drawn, not blank
    assert write_report(run, data_dir=tiny_data).read_text().count("Rotation helps") == 1  # note kept


def test_misclassified_grid_holds_exactly_evals_errors(run, tiny_data, monkeypatch):
    grids = {}
    real = plots_mod.digit_grid
    monkeypatch.setattr(
        plots_mod, "digit_grid", lambda im, cap, path, title, **kw: grids.setdefault(path.name, (im, cap, title))
    )
    write_report(run, data_dir=tiny_data, limit=10**6)
    monkeypatch.setattr(plots_mod, "digit_grid", real)
    images, captions, title = grids["misclassified.png"]

    model, test = load_model(run), load_split("custom", False, tiny_data)
    r = evaluate(model, test, 0.1307, 0.3081)
    preds = predict_logits(model, test.images, 0.1307, 0.3081).argmax(1)
    wrong = (preds != test.labels).nonzero().flatten()
    assert len(images) == len(captions) == r.total - r.correct == len(wrong) > 0
    assert title.startswith(f"{len(wrong)} misclassified of {r.total}")
    p = predict(model, test, 0.1307, 0.3081)
    order = p.errors()
    assert sorted(order.tolist()) == wrong.tolist()
    assert torch.equal(torch.as_tensor(images), test.images[order])  # the same digits, highest loss first
    assert (p.losses[order].diff() <= 0).all()
    assert [c.split(" ")[0] for c in captions] == [f"{test.labels[i]}->{preds[i]}" for i in order.tolist()]
    assert p.confusion(10).sum() == r.total and p.confusion(10).trace() == r.correct


def test_batch_png_is_the_trainers_first_batch(tiny_data, tmp_path, monkeypatch):
    import mnistlab.training.train as train_mod

    seen = []
    real = train_mod.create_model

    def spy(name, **kw):  # the network's input in step 1: (B, 1, 28, 28), augmented and normalised
        model = real(name, **kw)
        model.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()) if m.training else None)
        return model

    monkeypatch.setattr(train_mod, "create_model", spy)
    # Both replicas in this process, so the hook sees both halves (the process pair computes the same inputs:
    # tests/test_parallel.py)
    monkeypatch.setattr(train_mod.replica_process, "available", lambda device: False)
    cfg = load_config(None, RECIPE | {"max_steps": 1, "seed": 3, "val_size": 50, "augment": {"rotation": 15.0}})
    train(cfg, out=tmp_path / "r", data_dir=tiny_data, quiet=True)
    x, y = first_batch(cfg, load_split("custom", True, tiny_data))
    assert x.shape == (64, 28, 28) and len(y) == 64
    want = (x.unsqueeze(1) - 0.1307) / 0.3081
    assert cfg.replicas == 2  # ref3's preset: each replica sees one half of step 1's batch, in either order
    halves = sorted(seen[:2], key=lambda h: not torch.allclose(h, want[:32], atol=1e-5, rtol=0))
    torch.testing.assert_close(torch.cat(halves), want, atol=1e-5, rtol=0)


def test_cli_report_and_train_writes_one_unless_no_report(tiny_data, tmp_path, capsys):
    args = ["train", "--model", "ref3", "--dataset", "custom", "--data-dir", str(tiny_data), "--max-steps", "2"]
    assert main([*args, "--threads", "1", "--quiet", "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "report.html").is_file() and "Report written" in capsys.readouterr().out
    assert main([*args, "--threads", "1", "--quiet", "--no-report", "--out", str(tmp_path / "b")]) == 0
    assert not (tmp_path / "b" / "report.md").exists()
    assert main(["report", str(tmp_path / "b"), "--data-dir", str(tiny_data), "--note", "ok"]) == 0
    assert "ok" in (tmp_path / "b" / "report.md").read_text()
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "not a run directory" in capsys.readouterr().err
