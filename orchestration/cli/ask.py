"""``crimefusion ask "QUESTION"``: a question in plain language, answered by a query over the lakehouse.

    crimefusion ask "how many incidents in Chicago in 2017?" [--lake LAKE] [--json]
    crimefusion ask --serve [--port 8765]      # the same engine behind a read-only page on 127.0.0.1
    crimefusion ask "..." --model FILE.gguf    # a local language model writes the plan (llama.cpp)
    crimefusion ask "..." --endpoint URL --model NAME   # ... or one behind an OpenAI-compatible API

Prints the answer, the result table and the SQL that produced it (paste it into the
DuckDB CLI with the ``delta`` extension loaded to run it again); ``--json`` prints one
JSON object on the last line instead. A question the data cannot answer exits 0 with no
rows and an answer that says what is missing. Reads only: an in-memory DuckDB over the
Delta tables (see docs/assistant.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestration.cli.options import FAILURE, fail


def ask(
    question: Annotated[Optional[str], typer.Argument(help="The question, in quotes.")] = None,
    lake: Annotated[Optional[str], typer.Option("--lake", help="Lakehouse root (default: CRIMEFUSION_LAKE).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table.")] = False,
    serve: Annotated[bool, typer.Option("--serve", help="Serve the question page on 127.0.0.1 instead.")] = False,
    port: Annotated[int, typer.Option("--port", help="Port of --serve (0: any free port).", min=0,
                                      max=65535)] = 8765,
    engine: Annotated[str, typer.Option("--engine", help="Who writes the plan: auto (a model when --model or "
                                        "--endpoint is set, else the rules), rules, llama-cpp or openai.")] = "auto",
    model: Annotated[Optional[str], typer.Option("--model", help="A GGUF model file (llama.cpp), or the model's "
                                                 "name at --endpoint (default: CRIMEFUSION_ASK_MODEL).")] = None,
    endpoint: Annotated[Optional[str], typer.Option("--endpoint", help="Base URL of an OpenAI-compatible API, "
                                                    "e.g. http://llm.internal:8080/v1 (default: "
                                                    "CRIMEFUSION_ASK_ENDPOINT).")] = None,
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="llama.cpp context length in tokens.", min=512)] = 8192,
) -> None:
    """Answer QUESTION from the lakehouse, showing the query plan and the SQL it ran."""
    from jobs.ask import ask as answer_question
    from orchestration.ask.planners import PlannerError

    if (question is None) == (not serve):
        raise fail("give a QUESTION, or --serve for the page (not both)")
    planner = _planner(engine, model, endpoint, n_ctx)
    catalogue, con = _open(lake)
    if serve:
        server = make_server(catalogue, con, port=port, planner=planner)
        typer.echo(f"crimefusion ask: http://127.0.0.1:{server.server_address[1]}/ (read-only; Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return
    try:
        out = answer_question(question, catalogue, con, planner=planner)
    except PlannerError as exc:
        raise fail(str(exc), FAILURE) from None
    if as_json:
        typer.echo(json.dumps(out.to_json(), default=str))
        return
    _print(out)


def _planner(engine: str, model: str | None, endpoint: str | None, n_ctx: int):
    """The language-model planner the options and settings name; ``None``: the rule-based parser."""
    from orchestration.ask.planners import PlannerError, make_planner
    from orchestration.settings import SettingsError, load_settings

    try:
        settings = load_settings()
        key = settings.ask_api_key.get_secret_value() if settings.ask_api_key else None
        return make_planner(engine, model=model or settings.ask_model, endpoint=endpoint or settings.ask_endpoint,
                            api_key=key, n_ctx=n_ctx)
    except (PlannerError, SettingsError) as exc:
        raise fail(str(exc)) from None


def _open(lake: str | None):
    """The catalogue of the lakehouse (``--lake`` or the settings') and its read-only DuckDB connection."""
    from jobs.ask import open_catalogue
    from orchestration.platform.bi import ExtensionUnavailable, connect
    from orchestration.resources.factory import cli_resources

    lakehouse = cli_resources(lake)[1]["lakehouse"]
    root = lakehouse.root_uri()
    try:
        con = connect()
    except ExtensionUnavailable as exc:
        raise fail(str(exc), FAILURE) from None
    if root.startswith("s3://"):
        from orchestration.platform.bi import _s3_secret  # the BI file's own credentials step, not a copy

        _s3_secret(con, lakehouse)
    elif not Path(root).is_dir():
        raise fail(f"no lakehouse at {root}: build one with `crimefusion run`, or pass --lake")
    catalogue = open_catalogue(root, con, storage_options=lakehouse.storage_options())
    if not catalogue.tables:
        raise fail(f"the lakehouse at {root} has none of the tables the assistant reads "
                   f"({', '.join(catalogue.missing.values())})", FAILURE)
    return catalogue, con


def make_server(catalogue, con, host: str = "127.0.0.1", port: int = 8765, planner=None):
    """An HTTP server for the page and its two JSON endpoints (:mod:`jobs.ask.web`), one request at a time.

    One thread: the DuckDB connection serves one query at a time, and an analyst's page asks one
    question at a time. Only GET of the page and POST of a question or a plan; nothing is written.
    """
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from jobs.ask.web import MAX_BODY, page, respond

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; "
                                                        "script-src 'unsafe-inline'")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path.split("?")[0] in ("/", "/index.html"):
                self._send(200, page(), "text/html; charset=utf-8")
            elif self.path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, b'{"error": "request too large"}', "application/json")
                return
            status, out = respond(self.path, self.rfile.read(length), catalogue, con, planner=planner)
            self._send(status, json.dumps(out, default=str).encode(), "application/json")

        def log_message(self, format, *args):  # noqa: A002 - quiet: the terminal shows the URL only
            pass

    return HTTPServer((host, port), Handler)


def _print(out) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{escape(out.answer)}[/]")
    if out.rows:
        table = Table(show_lines=False)
        shown = _shown_columns(out.columns, console.width) if getattr(out, "ranking", None) else list(out.columns)
        for col in shown:
            numeric = _numeric(out.rows, out.columns.index(col))
            # a searched text gets the room it needs: the other columns keep theirs
            table.add_column(escape(col), justify="right" if numeric else "left",
                             ratio=3 if col == "text" else None, no_wrap=col != "text", overflow="ellipsis")
        for row in out.rows:
            table.add_row(*(escape(_fmt(row[out.columns.index(c)])) for c in shown))
        console.print(table)
        if len(shown) < len(out.columns):
            console.print(f"(not shown here: {', '.join(c for c in out.columns if c not in shown)}; --json has every "
                          "column)", style="dim")
    if out.sql:
        console.print("SQL (DuckDB, delta extension):", style="dim")
        console.print(escape(out.sql), style="cyan", soft_wrap=True)
    if out.sources:
        console.print("read: " + ", ".join(f"{s['table']} v{s['version']}" for s in out.sources), style="dim")


#: Columns of a ranked text search a terminal shows first, in this order, as wide as it allows.
SEARCH_COLUMNS = ("similarity", "text", "posted_at_local", "occurred_at_local", "place_name", "category", "district")


def _shown_columns(columns: list[str], width: int) -> list[str]:
    """A search answer's columns for a terminal ``width`` characters wide: the score, the text, and as many of
    :data:`SEARCH_COLUMNS`' others as fit beside them (about 18 characters each)."""
    first = [c for c in SEARCH_COLUMNS if c in columns]
    room = max(0, (width - 60) // 18)
    return first[:2] + first[2:2 + room]


def _numeric(rows: list[list], i: int) -> bool:
    return all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 1 else f"{v:,.2f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)
