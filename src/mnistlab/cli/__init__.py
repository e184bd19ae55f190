"""The `mnistlab` command line: app.py parses and dispatches; one module per subcommand calls the library."""

import gc
import sys

from .app import main

__all__ = ["main", "run"]


def run() -> None:
    """The `mnistlab` command and `python -m mnistlab`: main() in a process of its own.

    gc.freeze() after the imports and again at the end: the collector then never walks the objects the
    imports made (torch's, mostly), during the run or in the collection the interpreter makes on its way
    out: 0.22 s less of every command (benchmarks/results/2026-12-06-xeon-amx-one-pass/process-exit.txt).
    Nothing is left unfreed that the process's end would not free anyway. Not in main(), which tests and
    notebooks call in a process that goes on."""
    gc.freeze()
    rc = main()
    gc.freeze()
    sys.exit(rc)
