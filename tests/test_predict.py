"""`mnistlab predict`: MNIST digits saved as PNG score exactly as in eval; photos of digits are read right."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mnistlab.cli.app import main
from mnistlab.data.verified import load_split
from mnistlab.training.evaluate import predict_logits
from mnistlab.use.predict import Predictor
from mnistlab.use.preprocess import preprocess
from mnistlab.use.weights import default_run_dir


@pytest.fixture(scope="module")
def test_split(mnist_dir):
    return load_split("mnist", False, mnist_dir)


@pytest.fixture(scope="module")
def predictor():
    return Predictor.load()


def test_default_model_is_shipped():
    run = default_run_dir()
    assert {"model.json", "model.safetensors", "config.json", "metrics.csv"} <= {p.name for p in run.iterdir()}
    assert Predictor.load().meta["params"] < 20_000  # the budget every shipped model keeps


def test_mnist_pngs_predict_exactly_as_eval(test_split, predictor, tmp_path):
    """Through the real CLI: a folder of 300 test digits as PNG plus broken files -> eval's labels, exit 1."""
    n = 300
    folder, saved = tmp_path / "digits", tmp_path / "seen"
    folder.mkdir()
    for i in range(n):
        Image.fromarray(test_split.images[i].numpy()).save(folder / f"{i:04d}.png")
    (folder / "zz-broken.png").write_text("not a picture")
    (folder / "zz-empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    r = subprocess.run(
        [sys.executable, "-m", "mnistlab", "predict", folder, "--json", "--save-preprocessed", saved],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1, r.stderr  # some files failed, the rest were predicted
    results = json.loads(r.stdout)
    assert [x["error"] for x in results[n:]] == ["not an image Pillow can read", "empty file"]
    labels = np.array([x["label"] for x in results[:n]])
    expected = predict_logits(predictor.model, test_split.images[:n], predictor.mean, predictor.std).argmax(1)
    assert np.array_equal(labels, expected.numpy())
    for i in (0, 7, n - 1):  # what the network saw is the digit itself, pixel for pixel
        assert np.array_equal(np.asarray(Image.open(saved / f"{i:04d}.png")), test_split.images[i].numpy())


def photo(digit: np.ndarray, scale: int, at: tuple[int, int], rng) -> Image.Image:
    """An MNIST digit as a phone would see it: big, dark ink on grey paper lit from one side, noisy."""
    ink = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)) / 255
    canvas = np.zeros((240, 260))
    canvas[at[0] : at[0] + 28 * scale, at[1] : at[1] + 28 * scale] = ink
    light = np.linspace(0.75, 0.4, 260)[None, :]  # (1, W)
    img = light * (1 - 0.8 * canvas) + rng.normal(0, 0.05, canvas.shape)
    return Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8))


def test_photos_of_digits_are_read_right(test_split, predictor):
    """The reason for the preprocessing: naive resizing scores near chance, MNIST-style nearly as clean."""
    rng = np.random.default_rng(0)
    n, labels = 60, test_split.labels[:60].numpy()
    photos = [
        photo(
            test_split.images[i].numpy(),
            int(rng.integers(3, 8)),
            (int(rng.integers(0, 20)), int(rng.integers(0, 40))),
            rng,
        )
        for i in range(n)
    ]
    ours = predictor.probabilities(np.stack([preprocess(p) for p in photos])).argmax(1)
    naive = np.stack([np.asarray(p.resize((28, 28)), np.float32) / 255 for p in photos])
    naive = predictor.probabilities(naive).argmax(1)
    assert (ours == labels).mean() >= 0.95  # observed 60/60 (over 300: 298 with the default mnist-8k, 300 before)
    assert (naive == labels).mean() <= 0.3  # observed 12% over 300 with ref3, 7% with mnist-8k


def test_text_output_and_top_k(tmp_path, capsys):
    img = np.zeros((28, 28), np.uint8)
    img[5:23, 13:16] = 255  # a '1' in MNIST form
    Image.fromarray(img).save(tmp_path / "one.png")
    assert main(["predict", str(tmp_path / "one.png"), "--top-k", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{tmp_path / 'one.png'}: 1 (") and "top-2: 1 " in line


def test_preprocessed_names_do_not_collide(tmp_path):
    from mnistlab.use.predict import predict_files

    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        Image.fromarray(np.full((40, 30), 255, np.uint8)).save(tmp_path / sub / "x.png")  # blank: an error
        img = np.full((40, 30), 255, np.uint8)
        img[5:35, 14:17] = 0
        Image.fromarray(img).save(tmp_path / sub / "d.png")
    out = predict_files([tmp_path / "a", tmp_path / "b"], save_preprocessed=tmp_path / "seen")
    assert [("error" in r) for r in out] == [False, True, False, True]
    assert len(list((tmp_path / "seen").iterdir())) == 2  # a/d.png and b/d.png, both kept


@pytest.mark.parametrize(
    "args,message",
    [
        (["predict", "--run", "/nonexistent/run", "x.png"], "/nonexistent/run/model.json: not found"),
        (["predict", "--top-k", "0", "x.png"], "--top-k must be between 1 and 10"),
    ],
)
def test_bad_arguments_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_empty_folder(tmp_path, capsys):
    assert main(["predict", str(tmp_path)]) == 2
    assert "no image files in" in capsys.readouterr().err
