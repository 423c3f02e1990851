"""The ``crimefusion`` command line.

Each domain keeps its commands in its own module here (``ingest.py``,
``run.py``, ``patterns.py``...) as plain Typer command functions; this module
registers them under their public names. Command modules import heavy
libraries inside the command body so that ``crimefusion --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="crimefusion",
    help="Crime-intelligence fusion: a geospatial lakehouse and the analyses on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

#: public command name -> "module:function" inside orchestration.cli
COMMANDS: dict[str, str] = {
    "run": "run:run",
    "ingest": "ingest:ingest",
    "near-repeat": "patterns:near_repeat",
    "synth": "synth:synth",
    "series-match": "series:series_match",
}


def _register() -> None:
    for name, target in COMMANDS.items():
        module_name, func_name = target.split(":")
        try:
            module = importlib.import_module(f"orchestration.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"orchestration.cli.{module_name}":
                raise
            continue  # command module not present in this build
        app.command(name)(getattr(module, func_name))


_register()


def main() -> None:
    """Entry point of the ``crimefusion`` console script."""
    app()
