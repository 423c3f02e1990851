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
    "forecast": "forecast:forecast",
}


#: public group name -> module in orchestration.cli holding a Typer sub-app named ``app``
GROUPS: dict[str, str] = {
    "links": "links",
    "vision": "vision",
    "anomalies": "anomalies",
}


def _module(name: str):
    try:
        return importlib.import_module(f"orchestration.cli.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"orchestration.cli.{name}":
            raise  # a real missing dependency inside the module: say so
        return None  # command module not part of this build


def _register() -> None:
    for name, target in COMMANDS.items():
        module_name, func_name = target.split(":")
        module = _module(module_name)
        if module is not None:
            app.command(name)(getattr(module, func_name))
    for name, module_name in GROUPS.items():
        module = _module(module_name)
        if module is not None:
            app.add_typer(module.app, name=name)


_register()


def main() -> None:
    """Entry point of the ``crimefusion`` console script."""
    app()
