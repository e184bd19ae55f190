"""Every numeric flag of every command, found by walking the CLI's parsers (so a flag added later is covered
too), refuses NaN, infinities and negative values with one line and exit 2, before the command runs."""

import argparse

import pytest

from mnistlab.cli.app import build_parser, main


def numeric_flags() -> list[tuple[list[str], str]]:
    """([command, subcommand...], flag) for every int or float option."""
    found = []

    def walk(parser: argparse.ArgumentParser, path: list[str]):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, [*path, name])
            elif action.option_strings and getattr(action.type, "__name__", "") in ("int", "float"):
                found.append((path, action.option_strings[-1]))

    walk(build_parser(), [])
    return found


FLAGS = numeric_flags()
BAD = ["nan", "inf", "-inf", "-1", "1e999"]


def test_the_walk_finds_the_flags():
    flags = {f"{' '.join(path)} {flag}" for path, flag in FLAGS}
    assert {"train --lr", "train --epochs", "predict --top-k", "serve --port", "check --min-acc"} <= flags
    assert len(FLAGS) >= 30


@pytest.mark.parametrize("path,flag", FLAGS, ids=[f"{' '.join(p)} {f}" for p, f in FLAGS])
def test_numeric_flag_refuses_nan_inf_and_negatives(path, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, and nothing here to find
    for value in BAD:
        with pytest.raises(SystemExit) as e:
            main([*path, f"{flag}={value}"])
        err = capsys.readouterr().err
        assert e.value.code == 2, (value, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert flag in err and repr(value) in err or "invalid" in err, err
    assert list(tmp_path.iterdir()) == []
