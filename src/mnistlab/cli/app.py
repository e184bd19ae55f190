"""`mnistlab` command line: parses flags, calls library functions, turns MnistlabError into one line.

Each subcommand lives in `mnistlab.cli.<name>` with `add(subparsers)`; its handler converts the
argparse namespace into plain arguments before calling the library.
"""

import argparse
import importlib
import math
import sys

from ..errors import MnistlabError

COMMANDS = [
    "data",
    "models",
    "train",
    "eval",
    "bench",
    "predict",
    "export",
    "serve",
    "sweep",
    "summary",
    "check",
    "report",
    "runs",
    "repeat",
]


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, exit 2
        self.exit(2, f"mnistlab: error: {message} (see 'mnistlab {self.prog.split()[-1]} --help')\n")


# The import name of each optional dependency -> its pyproject extra.
EXTRAS = {"fastapi": "serve", "uvicorn": "serve", "multipart": "serve", "onnx": "export", "onnxscript": "export",
          "onnxruntime": "export", "optuna": "sweep", "psycopg": "sweep", "sqlalchemy": "sweep"}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mnistlab", description="Tiny CNNs for MNIST-like digits: train, inspect, use.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"mnistlab.cli.{name}").add(sub)
    for p in [parser, *sub.choices.values()]:
        guard_numbers(p)
    return parser


def _count(text: str) -> int:
    value = int(text)  # "nan", "inf", "1.5": ValueError, which argparse reports as an invalid int
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _amount(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


_count.__name__, _amount.__name__ = "int", "float"  # argparse names the type in its message


def guard_numbers(parser: argparse.ArgumentParser) -> None:
    """Every int or float flag of every command refuses NaN, infinities and negative values while parsing,
    in one line, before the command does anything: a flag added later is covered too. Upper bounds and
    zero stay with each command, which knows them (config validation, --port, --top-k, ...)."""
    for action in parser._actions:
        if action.type is int:
            action.type = _count
        elif action.type is float:
            action.type = _amount
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                guard_numbers(child)


def main(argv=None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        return ns.func(ns) or 0
    except MnistlabError as e:
        print(f"mnistlab: error: {e}", file=sys.stderr)
        return e.exit_code
    except ModuleNotFoundError as e:  # an optional dependency (pyproject extras) is not installed
        extra = EXTRAS.get((e.name or "").split(".")[0])
        hint = f"pip install 'mnistlab[{extra}]'" if extra else "pip install -r requirements.txt"
        print(
            f"mnistlab: error: {ns.command} needs the package {e.name!r}, not installed here: {hint}", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        print("mnistlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
