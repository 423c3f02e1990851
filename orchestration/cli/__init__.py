"""The ``crimefusion`` command line.

Each domain keeps its commands in its own module here (``ingest.py``,
``run.py``, ``patterns.py``...) as plain Typer command functions; this module
registers them under their public names. Command modules import heavy
libraries inside the command body so that ``crimefusion --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

from orchestration.cli.options import ErrorStyleGroup

app = typer.Typer(
    name="crimefusion",
    cls=ErrorStyleGroup,  # every error one line ``error: ...`` (orchestration/cli/options.py)
    help="Crime-intelligence fusion: a geospatial lakehouse and the analyses on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

#: public command name -> "module:function" inside orchestration.cli
COMMANDS: dict[str, str] = {
    "run": "run:run",
    "ingest": "ingest:ingest",
    "rebuild": "rebuild:rebuild",
    "near-repeat": "patterns:near_repeat",
    "synth": "synth:synth",
    "series-match": "crime_series:series_match",
    "forecast": "forecast:forecast",
    "forecast-explain": "explain:forecast_explain",
    "ask": "ask:ask",
}


#: public group name -> module in orchestration.cli holding a Typer sub-app named ``app``
GROUPS: dict[str, str] = {
    "links": "links",
    "vision": "vision",
    "anomalies": "anomalies",
    "simulate": "simulate",
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


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"crimefusion {version('crimefusion')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("crimefusion (not installed: run `make install`)")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print crimefusion's version and exit."),
) -> None:
    """Crime-intelligence fusion: a geospatial lakehouse and the analyses on it."""


_register()


def main() -> None:
    """Entry point of the ``crimefusion`` console script."""
    try:
        app()  # ErrorStyleGroup turns a user's mistake into one line ``error: ...`` and exit 2 (or 1)
    except SystemExit as exc:  # typer ends every command with sys.exit
        _leave(exc.code)
    _leave(0)


def _leave(code) -> None:
    """Exit with ``code`` once every output is flushed, skipping the interpreter's teardown.

    delta-rs can abort the interpreter while it tears down, after every write
    has committed ("terminate called without an active exception", exit 134:
    delta-rs issue 2184; measured in 1 of about 40 CLI ingests). A command
    that succeeded must say so in its exit code, so the CLI stops Spark if it
    started one, flushes logs and streams, and leaves with ``os._exit``.
    """
    import logging
    import os
    import sys

    if isinstance(code, str):  # sys.exit("message"): printed, exit 1
        print(code, file=sys.stderr)
        code = 1
    code = 0 if code is None else int(code)
    if "pyspark" in sys.modules:
        try:
            from pyspark.sql import SparkSession

            active = SparkSession.getActiveSession()
            if active is not None:
                active.stop()
        except Exception:  # noqa: BLE001 - leaving anyway; the JVM exits when its stdin closes
            pass
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
