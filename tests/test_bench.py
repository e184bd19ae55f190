"""`mnistlab bench` runs both pipelines and reports fields that agree with each other (not how fast)."""

import json
from pathlib import Path

import pytest
import torch

from mnistlab.inspection.bench import bench, peak_gflops
from mnistlab.inspection.summary import summarize
from mnistlab.models import create_model

from .test_cli import run_cli


def test_bench_fields_are_consistent(tiny_data):
    r = bench("mnist-5k", steps=3, data_dir=str(tiny_data), dataset="custom", threads=1)
    assert (r.model, r.steps, r.batch_size, r.threads) == ("mnist-5k", 3, 128, 1)
    assert r.notebook_s_per_step > 0 and r.mnistlab_s_per_step > 0
    assert r.speedup == pytest.approx(r.notebook_s_per_step / r.mnistlab_s_per_step)
    assert r.macs_per_image == summarize(create_model("mnist-5k")).macs
    flops = 6 * r.macs_per_image * 128 * 3
    assert r.notebook_gflops == pytest.approx(flops / (r.notebook_s_per_step * 3) / 1e9)
    assert r.mnistlab_gflops == pytest.approx(flops / (r.mnistlab_s_per_step * 3) / 1e9)
    assert r.mnistlab_share_of_peak == pytest.approx(r.mnistlab_gflops / r.peak_gflops)
    assert (r.peak_gflops, r.peak_formula) == peak_gflops(1)
    assert r.peak_formula.startswith("1 cores x ")
    assert r.mnistlab_replicas == 1  # one thread: no second replica
    assert r.mnistlab_fast_dropout is False  # mnist-5k has no dropout: the lever changes nothing there
    kw = {"steps": 2, "data_dir": str(tiny_data), "dataset": "custom", "threads": 1}
    assert bench("ref1", **kw).mnistlab_fast_dropout is True
    assert bench("ref1", **kw, fast_dropout=False).mnistlab_fast_dropout is False
    assert (
        bench("mnist-5k", steps=2, data_dir=str(tiny_data), dataset="custom", threads=1, replicas=2).mnistlab_replicas
        == 2
    )


def test_bench_cli_json_and_text(tiny_data):
    args = ("bench", "--model", "mnist-5k", "--steps", "2", "--threads", "1", "--dataset", "custom")
    code, out, err = run_cli(*args, "--data-dir", tiny_data, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["steps"] == 2 and d["speedup"] == pytest.approx(d["notebook_s_per_step"] / d["mnistlab_s_per_step"])
    code, out, err = run_cli(*args, "--data-dir", tiny_data)
    assert code == 0, err
    assert "notebook pipeline" in out and "mnistlab trainer" in out and "speed-up" in out


def test_notebook_side_runs_every_step_when_they_outlast_an_epoch():
    # 300 images are 3 batches of 128: 7 steps take three passes of the DataLoader, each reshuffled.
    from mnistlab.data.verified import Split
    from mnistlab.inspection.notebook import notebook_run

    torch.manual_seed(0)
    split = Split(torch.randint(0, 256, (300, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (300,)))
    model, calls = create_model("mnist-5k"), []
    model.register_forward_hook(lambda m, i, o: calls.append(m.training))
    assert notebook_run(model, split, split, 7, 0.1307, 0.3081) > 0
    assert calls.count(True) == 7 and calls.count(False) == 3  # 7 training steps, then 3 test batches
    calls.clear()  # as a notebook: a test pass after each of the two full epochs, then the last one
    assert notebook_run(model, split, split, 7, 0.1307, 0.3081, test_every_epoch=True) > 0
    assert calls.count(True) == 7 and calls.count(False) == 9


def test_bench_refuses_an_absent_device_in_one_line():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, out, err = run_cli("bench", "--model", "mnist-5k", "--steps", "2", "--device", "cuda")
    assert code != 0 and "no CUDA device" in err and "Traceback" not in err


def test_epoch_bench_times_both_whole_processes(tiny_data):
    from mnistlab.errors import MnistlabError
    from mnistlab.inspection.epoch_bench import epoch_bench

    seen = []
    r = epoch_bench("ref1", None, 2, tiny_data, "custom", on_round=lambda *a: seen.append(a))
    assert (r.model, r.config, r.rounds) == ("ref1", "ref1", 2) and len(seen) == 2
    assert len(r.notebook_s) == len(r.mnistlab_s) == 2 and min(r.notebook_s + r.mnistlab_s) > 0
    assert r.speedup == pytest.approx(r.notebook_median_s / r.mnistlab_median_s, rel=1e-3)
    assert r.commands["notebook"].startswith("-m mnistlab.inspection.notebook --config ref1")
    assert "train --config ref1 --epochs 1" in r.commands["mnistlab"]
    net = f"{Path(__file__).resolve().parents[1] / 'examples' / 'my_net.py'}:Net"
    own = epoch_bench(net, None, 1, tiny_data, "custom")  # your network: ref3's recipe on both sides
    assert own.config == "ref3" and all(f"--model {net}" in c for c in own.commands.values())
    with pytest.raises(MnistlabError, match="the notebook side failed"):  # one line, not a traceback
        epoch_bench("ref1", None, 1, tiny_data / "missing", "custom")
    fp32 = epoch_bench("ref3", None, 1, tiny_data, "custom", ["--set", "replicas=1"])  # the mnistlab side only
    assert fp32.commands["mnistlab"].endswith("--set replicas=1") and "--set" not in fp32.commands["notebook"]
    code, out, err = run_cli("bench", "--epoch", "--model", "ref1", "--rounds", "1", "--dataset", "custom",
                             "--data-dir", tiny_data)  # fmt: skip
    assert code == 0, err
    assert "round 1: notebook" in out and "median: notebook" in out and "speed-up" in out
    code, out, err = run_cli("bench", "--model", "ref1", "--set", "amp=false")
    assert code != 0 and "--set goes with --epoch" in err
    code, out, err = run_cli("bench", "--epoch", "--model", "ref1", "--rounds", "0")
    assert code != 0 and "--rounds must be >= 1" in err and "Traceback" not in err


def test_notebook_process_trains_an_epoch_of_a_recipe(tiny_data, capsys):
    from mnistlab.inspection.notebook import main

    main(["--config", "ref3", "--dataset", "custom", "--data-dir", str(tiny_data), "--epochs", "1"])
    assert "notebook loop: 1 epoch(s), 4 steps of batch 128, a test pass after each" in capsys.readouterr().out
