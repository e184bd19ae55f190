"""The `mnistlab` command line: app.py parses and dispatches; one module per subcommand calls the library."""

from .app import main

__all__ = ["main"]
