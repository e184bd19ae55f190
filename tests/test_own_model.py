"""Your own network, from a file, a module or a notebook: every command takes it, runs keep its code, and
reading a run's code back is refused unless trusted. Bad networks get one line and leave nothing behind."""

import json
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import mnistlab
from mnistlab.cli.app import main
from mnistlab.errors import MnistlabError

NET = """
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, width, 3), nn.BatchNorm2d(width), nn.ReLU(), nn.Dropout(0.05))
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Sequential(nn.Conv2d(width, 16, 3), nn.BatchNorm2d(16), nn.ReLU())
        self.head = nn.Conv2d(16, 10, 1)

    def forward(self, x):
        x = self.conv2(self.pool(self.conv(x)))
        return F.log_softmax(self.head(x).mean((2, 3)), dim=1)


def small():
    return Net(width=4)


CONST = 3
"""

NET_WITH = "from torch import nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        {init}\n\n    def forward(self, x):\n        return {fwd}\n"  # noqa: E501
BAD = {  # file name: source; each one wrong in one way
    "syntax.py": "import torch\n\ndef broken(:\n    pass\n",
    "raises_on_import.py": "import torch\nraise RuntimeError('no GPU here')\n",
    "boom.py": NET_WITH.format(init="raise ValueError('bad width')", fwd="x"),  # line 5 raises
    "fwd.py": NET_WITH.format(init="super().__init__(); self.fc = nn.Linear(10, 10)", fwd="self.fc(x)"),
    "shape.py": NET_WITH.format(init="super().__init__(); self.c = nn.Conv2d(1, 10, 28)", fwd="self.c(x)"),
    "noparams.py": NET_WITH.format(init="super().__init__()", fwd="x.flatten(1)[:, :10]"),
    "notmodule.py": "def make():\n    return 42\n\nclass Plain:\n    pass\n",
}
QUICK = ["--max-steps", "2", "--threads", "1", "--quiet", "--no-report"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("own")
    (folder / "my_net.py").write_text(NET)
    for name, text in BAD.items():
        (folder / name).write_text(text)
    return folder


def cli(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def data_flags(tiny_data) -> list[str]:
    return ["--dataset", "custom", "--data-dir", str(tiny_data)]


# (model reference, a fragment of the one line); {d} is the folder of the files above
REFUSED = {
    "missing file": ("{d}/nofile.py:Net", "nofile.py: not found"),
    "syntax error names file and line": ("{d}/syntax.py:Net", "syntax.py:3: syntax error"),
    "the file raises while it runs": ("{d}/raises_on_import.py:Net", "raises_on_import.py:2: running the file raised"),
    "missing name lists the classes": ("{d}/my_net.py:Nett", "has no 'Nett'; its nn.Module classes: Net"),
    "a constant": ("{d}/my_net.py:CONST", "name an nn.Module subclass or a function"),
    "a class that is not a module": ("{d}/notmodule.py:Plain", "a class that is not an nn.Module"),
    "a factory returning something else": ("{d}/notmodule.py:make", "the factory returned int"),
    "constructor raises": ("{d}/boom.py:Net", "building it raised ValueError: bad width (at boom.py:5)"),
    "forward raises": ("{d}/fwd.py:Net", "forward on a (2, 1, 28, 28) batch raised RuntimeError"),
    "wrong output shape": ("{d}/shape.py:Net", "returned (2, 10, 1, 1); expected (2, 10)"),
    "no parameters": ("{d}/noparams.py:Net", "has no parameters to train"),
    "a module that does not import": ("nosuchpkg.nets:Net", "cannot import 'nosuchpkg.nets'"),
    "a file without the name": ("{d}/my_net.py", "name the network in the file too"),
}


@pytest.mark.parametrize("command", ["train", "summary", "check"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_bad_network_gets_one_line_and_no_run_folder(capsys, files, tiny_data, tmp_path, case, command):
    ref, fragment = REFUSED[case]
    ref = ref.format(d=files)
    out = tmp_path / "run"
    args = (
        ["train", "--model", ref, *data_flags(tiny_data), *QUICK, "--out", out]
        if command == "train"
        else [command, ref]
    )
    rc, _, err = cli(capsys, *args)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert fragment in lines[0], lines[0]
    assert not out.exists()


@pytest.fixture(scope="module")
def cli_run(files, tiny_data, tmp_path_factory) -> Path:
    """`mnistlab train --model my_net.py:Net` on the tiny set, two epochs."""
    out = tmp_path_factory.mktemp("cli") / "run"
    args = ["train", "--model", f"{files}/my_net.py:Net", "--config", "ref3", "--epochs", "2", "--threads", "1"]
    assert main([*args, *data_flags(tiny_data), "--out", str(out), "--quiet"]) == 0
    return out


def test_a_file_run_keeps_a_copy_of_the_code(cli_run, files):
    meta = json.loads((cli_run / "model.json").read_text())
    src = meta["source"]
    assert meta["name"] == f"{files}/my_net.py:Net" and meta["kwargs"] == {}
    assert src["kind"] == "file" and src["object"] == "Net" and src["origin"] == str(files / "my_net.py")
    assert (cli_run / "model.py").read_text() == NET
    import hashlib

    assert src["sha256"] == hashlib.sha256(NET.encode()).hexdigest()
    assert (cli_run / "report.md").is_file()  # the report after training used the trained network
    assert len((cli_run / "metrics.csv").read_text().splitlines()) == 3


def test_commands_on_a_file_run_need_trust(capsys, cli_run, tiny_data, tmp_path):
    digit = tmp_path / "digit.png"
    from PIL import Image

    img = torch.zeros(28, 28, dtype=torch.uint8)
    img[6:22, 12:16] = 255  # a "1"
    Image.fromarray(img.numpy()).save(digit)
    data = data_flags(tiny_data)
    commands = {
        "eval": ["eval", cli_run, *data],
        "report": ["report", cli_run, "--data-dir", tiny_data],
        "summary": ["summary", cli_run],
        "check": ["check", cli_run],
        "export": ["export", cli_run, "--format", "onnx", "--out", tmp_path / "m.onnx", *data],
        "predict": ["predict", digit, "--run", cli_run],
        "resume": ["train", "--resume", cli_run, *data],
    }
    for name, args in commands.items():
        rc, _, err = cli(capsys, *args)
        assert rc == 2 and len(err.strip().splitlines()) == 1, (name, err)
        assert "holds a network defined in code" in err and "--trust-code" in err, (name, err)
    assert not (tmp_path / "m.onnx").exists()
    for name, args in commands.items():
        if name == "resume":
            continue  # a finished run: nothing to resume
        rc, out, err = cli(capsys, *args, "--trust-code")
        assert rc in (0, 1) if name == "check" else rc == 0, (name, err)
    assert (tmp_path / "m.onnx").is_file()


def test_a_tampered_copy_is_refused_even_when_trusted(capsys, cli_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    (run / "model.py").write_text(NET + "\nimport os  # added later\n")
    rc, _, err = cli(capsys, "summary", run, "--trust-code")
    assert rc == 2 and "does not match the SHA-256 recorded in model.json" in err
    with pytest.raises(MnistlabError, match="SHA-256"):
        mnistlab.load_model(run, trust_code=True)
    assert isinstance(mnistlab.load_model(run, model=_net(tmp_path)), torch.nn.Module)  # the network given: fine


def _net(folder: Path) -> torch.nn.Module:
    from mnistlab.models.source import exec_file

    (folder / "again.py").write_text(NET)
    return exec_file(folder / "again.py").Net()


def test_load_model_with_the_network_given_matches_the_trusted_copy(cli_run, tmp_path):
    x = torch.randn(5, 1, 28, 28)
    with pytest.raises(MnistlabError, match="trust_code=True"):
        mnistlab.load_model(cli_run)
    a = mnistlab.load_model(cli_run, trust_code=True)
    b = mnistlab.load_model(cli_run, model=_net(tmp_path))
    assert torch.equal(a(x), b(x))


def test_repeat_and_bench_take_a_file(capsys, files, tiny_data, tmp_path):
    ref = f"{files}/my_net.py:Net"
    args = ["repeat", "--model", ref, "--seeds", "2", "--max-steps", "3", "--threads", "1", *data_flags(tiny_data)]
    rc, out, err = cli(capsys, *args, "--out", tmp_path / "rep")
    assert rc == 0, err
    summary = json.loads((tmp_path / "rep" / "repeat.json").read_text())
    assert [s["seed"] for s in summary["seeds"]] == [0, 1] and (tmp_path / "rep" / "seed1" / "model.py").is_file()
    # --resume reads the seeds back: their copies are the file this command names, so nothing new runs
    rc, out, err = cli(capsys, *args, "--out", tmp_path / "rep", "--resume")
    assert rc == 0, err
    rc, out, err = cli(capsys, "bench", "--model", ref, "--steps", "2", "--threads", "1", *data_flags(tiny_data))
    assert rc == 0 and "speed-up" in out and ref in out, err


def test_the_same_seed_gives_the_same_weights_as_a_registered_model_would(files, tiny_data, tmp_path):
    """A file's network is built after seeding, as a registered one: the same run twice is bit-identical."""
    cfg = mnistlab.load_config(None, {"model": f"{files}/my_net.py:small", "dataset": "custom", "max_steps": 5,
                                      "threads": 1, "augment": {"rotation": 7.0}})  # fmt: skip
    from mnistlab.training.train import train

    a = train(cfg, out=tmp_path / "a", data_dir=tiny_data, quiet=True)
    b = train(cfg, out=tmp_path / "b", data_dir=tiny_data, quiet=True)
    wa, wb = load_file(str(a.run_dir / "model.safetensors")), load_file(str(b.run_dir / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert wa["conv.0.weight"].shape[0] == 4  # the factory's network, not the class's default


def test_a_module_reference_records_its_import_path(capsys, tiny_data, tmp_path, monkeypatch):
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", "--model", "userpkg.nets:Net", *data_flags(tiny_data), *QUICK, "--out", out)
    assert rc == 0, err
    meta = json.loads((out / "model.json").read_text())
    assert meta["source"] == {"kind": "module", "module": "userpkg.nets", "object": "Net"}
    assert not (out / "model.py").exists()
    with pytest.raises(MnistlabError, match="trust_code"):  # importing runs code a run folder names
        mnistlab.load_model(out)
    assert mnistlab.load_model(out, trust_code=True)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_a_run_folder_cannot_smuggle_code_through_its_config(capsys, cli_run, tmp_path):
    """A registered-looking run whose model.json names a file is refused without trust, before any import."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    evil = tmp_path / "evil.py"
    evil.write_text("open(__file__ + '.ran', 'w').close()\n")
    meta = json.loads((run / "model.json").read_text())
    meta.pop("source")
    meta["name"] = f"{evil}:Net"
    (run / "model.json").write_text(json.dumps(meta))
    for args in (["eval", run], ["summary", run], ["check", run], ["report", run]):
        rc, _, err = cli(capsys, *args)
        assert rc == 2 and "trust" in err, err
    assert not Path(f"{evil}.ran").exists()


def test_fit_trains_an_instance_in_place_and_a_class_by_seed(tiny_data, tmp_path, files):
    from mnistlab.models.source import exec_file

    Net = exec_file(files / "my_net.py").Net
    model = Net()
    before = model.conv[0].weight.detach().clone()
    kw = {"dataset": "custom", "data_dir": tiny_data, "max_steps": 4, "threads": 1, "quiet": True}
    run = mnistlab.fit(model, "ref3", out=tmp_path / "inst", **kw)
    assert not torch.equal(before, model.conv[0].weight)  # trained in place
    saved = load_file(str(run.path / "model.safetensors"))
    assert torch.equal(saved["conv.0.weight"], model.conv[0].weight.detach())
    assert run.accuracy == run.metrics[-1]["test_acc"] and "test accuracy" in repr(run)
    assert "<table" in run._repr_html_() and (run.path / "curves.png").is_file()
    a = mnistlab.fit(Net, "ref3", out=tmp_path / "c1", **kw)
    b = mnistlab.fit(Net, "ref3", out=tmp_path / "c2", **kw)
    wa, wb = load_file(str(a.path / "model.safetensors")), load_file(str(b.path / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = mnistlab.fit(Net, "ref3", out=tmp_path / "c3", seed=1, **kw)
    assert not torch.equal(wa["conv.0.weight"], load_file(str(c.path / "model.safetensors"))["conv.0.weight"])
    with pytest.raises(MnistlabError, match="bad config"):
        mnistlab.fit(Net, "ref3", out=tmp_path / "bad", epochs=0, **kw)
    assert not (tmp_path / "bad").exists()


def test_fit_interrupted_saves_and_resumes_bit_identically(tiny_data, tmp_path, files):
    """Ctrl-C in a kernel is SIGINT in the main thread: the step finishes, a checkpoint is saved, and the
    KeyboardInterrupt names the call that resumes; the resumed run ends with the very weights of an
    uninterrupted one."""
    import os
    import signal
    import threading

    from mnistlab.models.source import exec_file

    Net = exec_file(files / "my_net.py").Net
    kw = {"dataset": "custom", "data_dir": tiny_data, "epochs": 3, "batch_size": 32, "threads": 1, "quiet": True}
    whole = mnistlab.fit(Net, "ref3", out=tmp_path / "whole", **kw)
    seen = []

    def stop_after_first_epoch(row):
        seen.append(row)
        if len(seen) == 1:
            threading.Timer(0.0, os.kill, (os.getpid(), signal.SIGINT)).start()

    from mnistlab import api

    original = api.train_model
    api.train_model = lambda *a, **k: original(*a, **k, on_epoch=stop_after_first_epoch)
    try:
        with pytest.raises(KeyboardInterrupt, match=r"mnistlab.fit\(model, resume="):
            mnistlab.fit(Net, "ref3", out=tmp_path / "cut", **kw)
    finally:
        api.train_model = original
    assert (tmp_path / "cut" / "checkpoint.safetensors").is_file()
    done = mnistlab.fit(Net, resume=tmp_path / "cut", data_dir=tiny_data, quiet=True)
    wa, wb = load_file(str(whole.path / "model.safetensors")), load_file(str(done.path / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [r["test_acc"] for r in whole.metrics] == [r["test_acc"] for r in done.metrics]


def test_summary_and_check_print_what_the_cli_prints(capsys, files):
    ref = f"{files}/my_net.py:Net"
    rc, out, _ = cli(capsys, "summary", ref)
    assert rc == 0 and str(mnistlab.summary(ref)).strip() == out.strip()
    rc, out, _ = cli(capsys, "check", ref)
    assert rc == 0 and str(mnistlab.check(ref)).strip() == out.strip()
    html = mnistlab.summary(ref)._repr_html_()
    assert html.startswith("<table") and "conv.0" in html
    v = mnistlab.check(ref, max_params=100)
    assert not v.passed and "FAIL (parameters)" in str(v) and "<table" in v._repr_html_()


def test_load_data_gives_the_verified_splits(tiny_data):
    d = mnistlab.load_data("custom", val_size=64, data_dir=tiny_data)
    (xtr, ytr), (xv, _), (xt, _) = d["train"], d["val"], d["test"]
    assert xtr.shape == (448, 28, 28) and xv.shape == (64, 28, 28) and xt.shape == (256, 28, 28)
    assert xtr.dtype == torch.uint8 and ytr.dtype == torch.int64 and d["mean"] == pytest.approx(0.1307)


def test_a_notebook_class_source_is_gathered_from_linecache(tmp_path):
    """IPython keeps each cell's text in linecache under a pseudo file name; a class of `__main__` defined
    there has no file Python can read, yet its source (and its helpers') is saved with the run."""
    import linecache
    import types

    cell = textwrap.dedent("""
        from torch import nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.c = nn.Conv2d(1, 10, 28)

            def forward(self, x):
                return self.c(x).flatten(1)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.b = Block()

            def forward(self, x):
                return self.b(x)
    """)
    name = "<ipython-input-7-0123456789ab>"
    linecache.cache[name] = (len(cell), None, cell.splitlines(True), name)
    namespace = {"__name__": "__main__"}
    exec(compile(cell, name, "exec"), namespace)
    from mnistlab.models.provenance import notebook_source, record_source

    text = notebook_source(namespace["Net"]())
    assert text.index("class Block") < text.index("class Net") and "import torch" in text
    rec = record_source("__main__:Net", tmp_path, namespace["Net"]())
    assert rec["source"]["origin"] == "notebook" and (tmp_path / "model.py").read_text() == text
    module = types.ModuleType("check")
    exec(compile(text, "model.py", "exec"), module.__dict__)
    assert module.Net()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_the_shipped_example_runs_are_self_contained_and_agree_with_repeat_json():
    """results/examples/my-net: examples/my_net.py:Net with ref3's recipe over seeds 0-4 (docs/own-network.md)."""
    import hashlib

    root = Path(__file__).resolve().parents[1]
    folder = root / "results" / "examples" / "my-net"
    rep = json.loads((folder / "repeat.json").read_text())
    assert rep["config"]["model"] == "examples/my_net.py:Net" and [s["seed"] for s in rep["seeds"]] == list(range(5))
    accs = []
    for s in rep["seeds"]:
        run = root / s["run_dir"]
        meta = json.loads((run / "model.json").read_text())
        assert meta["source"]["sha256"] == hashlib.sha256((run / "model.py").read_bytes()).hexdigest()
        assert (run / "model.py").read_bytes() == (root / "examples" / "my_net.py").read_bytes()
        last = (run / "metrics.csv").read_text().splitlines()[-1].split(",")
        assert last[0] == "15" and float(last[4]) == s["final_test_acc"]
        accs.append(s["final_test_acc"])
    assert rep["final_test_acc"]["mean"] == round(sum(accs) / 5, 4)
    model = mnistlab.load_model(folder / "seed0", trust_code=True)
    assert sum(p.numel() for p in model.parameters()) == 6554


def test_a_presets_model_kwargs_stay_with_the_presets_network(files):
    """`--config mnist-8k --model my_net.py:Net`: mnist-8k's `model_kwargs = {dropout = 0.0}` belong to
    mnist-8k's network, not to yours; kwargs given with the model are kept."""
    ref = f"{files}/my_net.py:Net"
    assert mnistlab.load_config("mnist-8k").model_kwargs == {"dropout": 0.0}
    assert mnistlab.load_config("mnist-8k", {"model": ref}).model_kwargs == {}
    assert mnistlab.load_config("mnist-8k", {"model": ref, "model_kwargs": {"width": 4}}).model_kwargs == {"width": 4}
    assert mnistlab.load_config("mnist-8k", {"model": "mnist-8k"}).model_kwargs == {"dropout": 0.0}
