"""The shipped results/ agree with themselves: each repeat.json with its five run folders, each folder with
its recipe and budget, tta.json with its seeds, and seed 0's weights with the test accuracy its metrics.csv
records (re-evaluated on the real test set where it is fetched)."""

import csv
import dataclasses
import statistics
from pathlib import Path

import pytest
import torch

from mnistlab.data.verified import data_dir, find_file, get_spec, load_split
from mnistlab.training.config import TrainConfig, from_dict, load_config
from mnistlab.training.evaluate import evaluate
from mnistlab.training.repeat import _same_recipe, stats
from mnistlab.training.rundir import load_model, read_json

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["mnist-2k", "mnist-5k", "mnist-8k", "mnist-20k", "fashion-20k", "mnist-speedrun"]
CLASSES += ["ref1", "ref2", "ref3", "ref4"]
FRONTIER = CLASSES[:6]


def rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", CLASSES)
def test_repeat_json_agrees_with_its_run_folders(name):
    rep = read_json(ROOT / "results" / name / "repeat.json")
    assert [s["seed"] for s in rep["seeds"]] == [0, 1, 2, 3, 4]
    cfg = from_dict(TrainConfig, rep["config"])
    for s in rep["seeds"]:
        run = ROOT / s["run_dir"]
        assert run == ROOT / "results" / name / f"seed{s['seed']}"
        for f in ("model.safetensors", "model.json", "config.json", "metrics.csv", "log.txt"):
            assert (run / f).is_file(), run / f
        metrics = rows(run)
        assert len(metrics) == s["epochs"] == cfg.epochs
        assert float(metrics[-1]["test_acc"]) == s["final_test_acc"]  # the final epoch, not the best
        _same_recipe(dataclasses.replace(cfg, seed=s["seed"]), run)  # raises if trained another way
    assert rep["final_test_acc"] == stats([s["final_test_acc"] for s in rep["seeds"]])
    assert rep["command"].startswith(f"mnistlab repeat --config {name} ")


@pytest.mark.parametrize("name", FRONTIER)
def test_frontier_runs_keep_their_budget_and_preset(name):
    preset = load_config(name)
    rep = read_json(ROOT / "results" / name / "repeat.json")
    shipped, now = from_dict(TrainConfig, rep["config"]).to_dict(), preset.to_dict()
    for key in ("model", "model_kwargs", "epochs", "dataset", "clean_epochs", "teacher", "lr", "augment"):
        assert shipped[key] == now[key], key  # the README's command (the preset as it is now) rebuilds them
    for s in rep["seeds"]:
        params = read_json(ROOT / s["run_dir"] / "model.json")["params"]
        assert params <= preset.budget.max_params and s["epochs"] <= preset.budget.max_epochs


@pytest.mark.parametrize("name", CLASSES)
def test_tta_json_agrees_with_its_seeds(name):
    tta = read_json(ROOT / "results" / name / "tta.json")
    accs = [s["test_acc_tta"] for s in tta["seeds"]]
    assert [s["seed"] for s in tta["seeds"]] == [0, 1, 2, 3, 4]
    assert tta["command"] == f"python results/tta.py {name}"
    assert tta["test_acc_tta"]["mean"] == round(statistics.mean(accs), 4)
    assert tta["test_acc_tta"]["std"] == round(statistics.stdev(accs), 4)
    assert (tta["test_acc_tta"]["min"], tta["test_acc_tta"]["max"]) == (min(accs), max(accs))


@pytest.mark.parametrize("name", CLASSES)
def test_seed0_weights_score_what_metrics_csv_says(name):
    run = ROOT / "results" / name / "seed0"
    meta = read_json(run / "model.json")
    if find_file(data_dir(meta["dataset"]), "t10k-images-idx3-ubyte") is None:
        pytest.skip(f"{meta['dataset']} not fetched; run 'mnistlab data fetch' (make test does)")
    torch.set_num_threads(1)
    spec = get_spec(meta["dataset"])
    result = evaluate(load_model(run), load_split(meta["dataset"], False), spec.mean, spec.std)
    assert round(100 * result.accuracy, 2) == pytest.approx(float(rows(run)[-1]["test_acc"]), abs=0.011)
