"""Where the command line writes files, and which files it must never touch.

* ``export -o``: a regular file is written atomically (temporary file beside
  it, then rename) and never over an existing file without ``--force``; a
  device, FIFO or ``-`` is written to in place (a rename would replace
  ``/dev/null`` with a regular file); the database and its companion files are
  never a target.
* ``--db``: must be a file path whose folder can be written; an existing file
  must be a SQLite database. A file that is not this project's database is
  refused by the schema check without being modified.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UserError

SQLITE_HEADER = b"SQLite format 3\x00"
COMPANIONS = ("", "-wal", "-shm", "-journal", ".mining", ".mining-wal", ".mining-shm", ".mining-journal", ".lock")
"""Suffixes of the files a database ``--db X`` consists of (X itself, SQLite's side files, the mining file)."""


def database_files(db: Path) -> list[Path]:
    return [db.with_name(db.name + suffix) for suffix in COMPANIONS]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def export_target(output: Path, *, db: Path | None, force: bool) -> Path | None:
    """Check ``-o OUTPUT``; returns the path to replace atomically, or None when
    OUTPUT must be written in place (a device, a FIFO, ``-``: standard output)."""
    if str(output) == "-":
        return None
    if db is not None and any(_same_file(output, f) for f in database_files(db)):
        raise UserError(f"refusing to write the export over the database file {output}; choose another -o")
    try:
        mode = output.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror}") from None
    if mode is not None and not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            raise UserError(f"{output} is a folder; give a file name to -o")
        return None  # a character device, FIFO or socket: written in place, never replaced
    if mode is not None and not force:
        raise UserError(f"{output} exists; add --force to replace it")
    if not output.parent.is_dir():
        raise UserError(f"cannot write {output}: no folder {output.parent}")
    return output


def check_database_path(db: Path, *, for_writing: bool) -> None:
    """Refuse, with one sentence, a ``--db`` that cannot be this project's database."""
    if db.is_dir():
        raise UserError(f"--db {db} is a folder; give the path of a database file")
    if db.exists():
        if not db.is_file():
            raise UserError(f"--db {db} is not a regular file")
        try:
            with db.open("rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise UserError(f"cannot read the database {db}: {exc.strerror}") from None
        if head and head != SQLITE_HEADER:
            raise UserError(f"{db} is not a leadminer database (not even SQLite); choose another --db")
        if for_writing and not os.access(db, os.W_OK):
            raise UserError(f"the database {db} is read-only; mining needs to write it")
    elif not for_writing:
        raise UserError(f"no database at {db}; run `leadminer mine` first")
    if for_writing:
        folder = db.parent if str(db.parent) else Path(".")
        if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
            raise UserError(f"cannot write in {folder}: permission denied (the database and its side files live there)")
