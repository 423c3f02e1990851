"""What every command shares: checked option values and one error style.

Every mistake a command can name is one line on stderr, ``error: <message>``,
and an exit status: **2** when what the command was given cannot be used (an
option, a file, a spec, a setting), **1** when the command could not do its
work with it (the lakehouse lacks a table it reads, a saved model cannot be
loaded). No traceback: a traceback means a bug in crimefusion. Commands raise
:class:`UsageError` or :class:`CommandError`, or return :func:`fail`'s exit;
:class:`ErrorStyleGroup`, the class of the ``crimefusion`` group and its
sub-groups, prints click's own usage errors (a missing option, a bad number)
and the project's user errors in the same style.
"""

from __future__ import annotations

import datetime as dt
import re
import sys

import typer
from typer.core import TyperGroup

#: Exit status of a command given something it cannot use / of a command that failed at its work.
USAGE, FAILURE = 2, 1


class UsageError(ValueError):
    """An option's value that cannot be used; the message says which option and what it expects."""


class CommandError(RuntimeError):
    """A command that could not do its work (exit 1); the message says what is missing and how to get it."""


def one_line(message: str) -> str:
    """``message`` with its line breaks and runs of blanks as single spaces."""
    return " ".join(str(message).split())


def fail(message: str, code: int = USAGE) -> typer.Exit:
    """Print ``error: <message>`` on stderr and return the exit to raise (``raise fail(...)``)."""
    typer.echo(f"error: {one_line(message)}", err=True)
    return typer.Exit(code=code)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message says what to fix (a spec, a setting, a file, a lost commit race): exit 2."""
    from jobs.ingest.readers import SourceFileError
    from jobs.ingest.spec import SpecError
    from orchestration.resources.lakehouse import CommitConflictError
    from orchestration.settings import SettingsError

    return SpecError, SettingsError, SourceFileError, CommitConflictError, UsageError


def exit_code(exc: BaseException) -> int | None:
    """The exit status of an exception a user can act on, or ``None`` for a bug (shown with its traceback)."""
    if isinstance(exc, CommandError):
        return FAILURE
    if isinstance(exc, _user_errors()):
        return USAGE
    return None


class ErrorStyleGroup(TyperGroup):
    """A Typer group that reports every error as ``error: <message>`` (see the module's docstring)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # typer's own click: a missing option, a bad number, an unknown command
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help is printed already (typer's own test, too)
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None and exc.exit_code == USAGE else ""
            typer.echo(f"error: {one_line(exc.format_message())}{where}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(FAILURE)
        except Exception as exc:  # noqa: BLE001 - a user's mistake gets one line, anything else its traceback
            code = exit_code(exc)
            if code is None:
                raise
            typer.echo(f"error: {one_line(str(exc))}", err=True)
            sys.exit(code)
        sys.exit(rv if isinstance(rv, int) else 0)


def ingest_date(value: str | None) -> str:
    """``--date``: an ingest date written ``YYYY-MM-DD`` (a real calendar day), or today in UTC when not given.

    Refused: other spellings (``2026/12/04`` would become nested landing folders, ``20261204`` is ambiguous to a
    reader of the folder names) and days that do not exist (``2026-13-45``, ``2026-02-30``).
    """
    if value is None:
        return dt.datetime.now(dt.timezone.utc).date().isoformat()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise UsageError(f"--date must be YYYY-MM-DD, got {value!r}")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--date {value!r} is not a calendar day") from None
    return value
