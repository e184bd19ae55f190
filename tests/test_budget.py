import json

import pytest

from mnistlab.cli.app import main
from mnistlab.inspection.budget import check, resolve_budget
from mnistlab.training.rundir import write_json, write_metrics


def crafted_run(folder, model="ref3", accs=(99.0, 99.41, 99.45, 99.42), budget=None, **kwargs):
    """A run directory written by hand: model.json, metrics.csv (one row per accuracy), maybe config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "model.json", {"name": model, "kwargs": kwargs, "input_shape": [1, 28, 28]})
    rows = [
        {
            "epoch": i + 1,
            "train_loss": 0.1,
            "train_acc": 98.0,
            "test_loss": 0.02,
            "test_acc": a,
            "lr": 0.01,
            "seconds": 1,
        }
        for i, a in enumerate(accs)
    ]
    write_metrics(folder, rows)
    if budget is not None:
        write_json(folder / "config.json", {"model": model, "budget": budget})
    return folder


def statuses(verdict) -> dict:
    return {r.rule: r.status for r in verdict.rules}


def test_a_run_inside_the_budget_passes(tmp_path, capsys):
    run = crafted_run(tmp_path / "good")
    v = check(str(run))
    assert v.passed and set(statuses(v).values()) == {"PASS"}
    assert main(["check", str(run)]) == 0
    out = capsys.readouterr().out
    assert "consistency" in out and "min over epochs 2-4" in out and out.strip().endswith("Verdict: PASS")


def test_one_dip_in_the_last_k_epochs_fails_consistency(tmp_path, capsys):
    run = crafted_run(tmp_path / "dip", accs=(99.5, 99.39, 99.5))
    assert statuses(check(str(run))) == {
        "parameters": "PASS",
        "epochs": "PASS",
        "final test accuracy": "PASS",
        "consistency": "FAIL",
        "batchnorm": "PASS",
        "dropout": "PASS",
        "gap": "PASS",
    }
    assert main(["check", str(run), "--json"]) == 1
    v = json.loads(capsys.readouterr().out)
    rule = next(r for r in v["rules"] if r["rule"] == "consistency")
    assert not v["passed"] and rule["value"] == 99.39 and rule["limit"] == 99.4
    assert main(["check", str(run), "--last-k", "1"]) == 0  # the final epoch alone is fine


@pytest.mark.parametrize(
    "model,accs,kwargs,failing",
    [
        ("ref0", (99.5,) * 3, {}, {"parameters"}),  # 98,922 parameters
        ("ref2", (99.5,) * 3, {}, {"gap"}),  # Linear head, no global average
        ("ref3", (99.5,) * 3, {"dropout": 0.0}, {"dropout"}),  # no Dropout layers built
        ("ref3", (99.5,) * 20, {}, {"epochs"}),
        ("ref3", (99.5, 99.5, 99.3), {}, {"final test accuracy", "consistency"}),
        ("ref3", (99.5, 99.5), {}, {"consistency"}),  # fewer epochs than K: consistency not shown
    ],
)
def test_each_rule_can_fail(tmp_path, model, accs, kwargs, failing):
    v = check(str(crafted_run(tmp_path / "r", model, accs, **kwargs)))
    assert {r for r, s in statuses(v).items() if s == "FAIL"} == failing and not v.passed


def test_budget_comes_from_the_run_then_the_flags(tmp_path):
    run = crafted_run(tmp_path / "r", budget={"max_params": 5000, "min_acc": 99.0})
    assert resolve_budget(str(run)).max_params == 5000
    assert statuses(check(str(run)))["parameters"] == "FAIL"  # ref3 has 7,776
    assert main(["check", str(run), "--max-params", "8000"]) == 0
    assert main(["check", str(run), "--require", ""]) == 1  # no components required, parameters still fail
    assert main(["check", str(run), "--min-acc", "99.6", "--max-params", "8000"]) == 1


def test_a_bare_model_gets_only_the_structural_rules(capsys):
    assert main(["check", "ref3"]) == 0
    out = capsys.readouterr().out
    assert out.count("n/a") == 3 and "not judged without a run" in out
    assert main(["check", "ref2", "--json"]) == 1
    v = json.loads(capsys.readouterr().out)
    assert {r["rule"]: r["status"] for r in v["rules"]}["epochs"] == "n/a" and not v["passed"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["check", "nope"], "no run directory (model.json) or model"),
        (["check", "ref3", "--require", "batchnorm,attention"], "unknown required component 'attention'"),
    ],
)
def test_bad_input_is_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_train_prints_the_verdict_when_the_config_has_a_budget(tiny_data, tmp_path, capsys):
    """`mnistlab train` ends with the verdict, on the terminal and in log.txt; the library's trainer leaves it
    to its caller (inspection.budget.verdict_hook as its on_end), so training never imports inspection."""
    cfg = tmp_path / "b.toml"
    cfg.write_text('model = "ref3"\n[budget]\n')
    args = ["train", "--config", cfg, "--dataset", "custom", "--data-dir", tiny_data, "--max-steps", "2"]
    assert main([str(a) for a in [*args, "--threads", "1", "--out", tmp_path / "r", "--no-report"]]) == 0
    log = (tmp_path / "r" / "log.txt").read_text()
    assert "Budget check:" in log and "Verdict: FAIL (final test accuracy, consistency)" in log
    assert "Verdict: FAIL" in capsys.readouterr().out
    from mnistlab.inspection.budget import verdict_hook

    assert verdict_hook(None) is None
