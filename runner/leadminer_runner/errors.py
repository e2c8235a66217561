"""The command line's error boundary: every failure a user can cause or meet becomes
one sentence on stderr and a documented exit code (docs/cli.md); ``--debug`` or
``LEADMINER_DEBUG=1`` shows the traceback instead. The API maps the same
exceptions to HTTP statuses.

User data (paths, names, subjects, folder names) is never read as markup: every
message goes out as plain text.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup
from typer.exceptions import TyperException

EXIT_DONE = 0
EXIT_FAILED_MESSAGES = 1  # done, but some messages could not be mined (`leadminer failures` lists them)
EXIT_BAD_INPUT = 2  # bad input or environment: nothing was mined
EXIT_MINING_FAILED = 3  # a stage kept failing: the mining ended as failed, with the reason
EXIT_INTERNAL = 70  # a bug: please report it with the --debug output
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM

DEBUG_VARIABLE = "LEADMINER_DEBUG"

stderr = Console(stderr=True, highlight=False)


class UserError(Exception):
    """A failure the user can act on; the message is one sentence meant for them."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


def say(message: str, *, style: str | None = None, prefix: str | None = None) -> None:
    """Print ``message`` on stderr as plain text (never markup), with an optional styled prefix."""
    text = Text()
    if prefix:
        text.append(prefix, style=style)
        text.append(" ")
    text.append(message)
    stderr.print(text, soft_wrap=True)


def debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def _os_error(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{os.fsdecode(where)}: {reason}" if where != "" else reason


def user_message(exc: BaseException) -> tuple[str, int]:
    """The sentence and exit code of an exception that reached the boundary."""
    from leadminer.schemas import SchemaVersionError
    from leadminer.settings import SettingsError
    from leadminer.sources import SourceError

    from .embedded import MiningFailed, MiningLocked
    from .sources import SourceSpecError

    if isinstance(exc, UserError):
        return str(exc), exc.exit_code
    if isinstance(exc, MiningFailed):
        return f"the mining failed: {exc}", EXIT_MINING_FAILED
    if isinstance(exc, SourceSpecError | SourceError | MiningLocked | SchemaVersionError | SettingsError | ConnectionError):
        return str(exc), EXIT_BAD_INPUT
    if isinstance(exc, sqlite3.DatabaseError):
        return f"the database cannot be used: {exc}", EXIT_BAD_INPUT
    if isinstance(exc, OSError):
        return _os_error(exc), EXIT_BAD_INPUT
    return (
        f"internal error ({type(exc).__name__}: {exc}); run again with --debug for the traceback and report it",
        EXIT_INTERNAL,
    )


INTERRUPTED_MESSAGE = "interrupted by the user; run the same command again to go on (what was stored is kept)"


class BoundaryGroup(TyperGroup):
    """The top command group: runs a command and turns what escapes it into a message and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):
            raise  # usage errors and deliberate exits: Typer prints and exits
        except KeyboardInterrupt:
            if debugging():
                raise
            say(INTERRUPTED_MESSAGE, style="bold yellow", prefix="stopped:")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if debugging():
                raise
            message, code = user_message(exc)
            say(message, style="bold red", prefix="error:")
            raise typer.Exit(code) from None
