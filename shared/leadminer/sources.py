"""Fetch stage for files: mbox, Maildir, folders of messages and archives of those.

:func:`open_source` looks at a path and returns a :class:`FileSource` whose
:meth:`~FileSource.iter_messages` streams the messages one by one, never
holding more than one message in memory and never extracting an archive to
disk. Pure standard library, no threads or sockets: it runs under Pyodide.

What is read
    * **mbox** (``*.mbox``/``*.mbx``, or any extension-less file that starts
      with a ``From `` line): split at ``From `` envelope lines (a line counts
      as a separator when it carries a time of day and the next line is a
      header, or when it follows a blank line and has the full ``ctime``
      envelope shape, so an unescaped ``From`` in a body does not split; an
      envelope right after an envelope adds no message); ``>From`` escapes are
      undone (mboxrd rule) and the envelope line is dropped.
    * **Maildir** (a folder with ``cur``/``new``): the root is ``INBOX``,
      Maildir++ sub-folders ``.Sent``, ``.Lists.sub`` become ``Sent``,
      ``Lists.sub``; a Maildir nested deeper is named by its relative path.
      ``tmp/`` (mail being delivered) is ignored; ``:2,FRS`` flags become IMAP
      flags (``\\Flagged``, ``\\Answered``, ``\\Seen``).
    * **a folder of messages**, walked recursively: ``*.eml`` files, and any
      other file whose first bytes look like a message header (extension-less
      files, ``.txt`` exports …). Hidden files and folders are ignored.
    * **archives** ``.zip``, ``.tar``, ``.tar.gz``/``.tgz`` (also ``.tar.bz2``,
      ``.tar.xz``) holding any of the above, members streamed in archive order.
      A folder may hold archives; an archive inside an archive is reported as
      a failure (extract the outer one first).

Nothing is lost silently
    :meth:`FileSource.iter_messages` yields :class:`~leadminer.contracts.RawMessage`
    for every message and :class:`~leadminer.contracts.FailedMessage` (the
    contract record the runner already stores through
    ``TempStore.add_failures``) for every message that could not be read: an
    unreadable file, a message over ``max_message_bytes``, a damaged archive
    member, the unreadable tail of a truncated archive. Files that are not
    messages at all (``.json``, pictures, index files …) are not failures; they
    are listed in :attr:`FileSource.skipped` with the reason.

Identifiers
    ``folder`` is a readable folder name (see above; for loose files the
    relative directory, or the source's own name at its top level). ``uid`` is
    stable across runs: the relative path of the file, the Maildir unique name
    (without the ``:2,`` flags part, which changes when a flag changes), or
    ``<relative path of the mbox>#<n>`` (1-based) for the n-th message of an mbox.

``body_cap``
    When set, each message is cut to its complete header block plus the first
    ``body_cap`` bytes of the raw body (still transfer-encoded). That is all the
    extract stage needs (headers and the start of the first text part) and it
    keeps memory flat for mail with big attachments.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .contracts import SKIPPED_PREFIX, FailedMessage, RawMessage

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FileSource",
    "SkippedFile",
    "SourceError",
    "SourceItem",
    "open_source",
]

DEFAULT_MAX_MESSAGE_BYTES = 50 * 1024 * 1024
"""Messages (files, mbox entries, archive members) larger than this are reported, not read."""

SourceItem = RawMessage | FailedMessage
"""What :meth:`FileSource.iter_messages` yields."""

_SNIFF_BYTES = 4096
_READ_CHUNK = 64 * 1024
_MBOX_SUFFIXES = (".mbox", ".mbx")
_MESSAGE_SUFFIXES = (".eml",)
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_ZIP_SUFFIXES = (".zip",)
_ARCHIVE_SUFFIXES = _TAR_SUFFIXES + _ZIP_SUFFIXES
_MAILDIR_SUBDIRS = ("cur", "new")
_MAILDIR_INFO = re.compile(r"[:!;]2,([A-Za-z]*)$")  # ":2,FS" ("!" / ";" on Windows)
_MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "P": "$Forwarded", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
# Files that sit next to mail but are never mail (indexes, caches, OS litter).
_METADATA_NAME = re.compile(
    r"^(dovecot[.-].*|dovecot\.index.*|subscriptions|maildirfolder|courierimap.*|"
    r"\.ds_store|thumbs\.db|desktop\.ini|.*\.msf|\._.*)$",
    re.IGNORECASE,
)
_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")  # RFC 5322 field name, then ':'
_ENVELOPE_TIME = re.compile(rb"\d{1,2}:\d{2}")  # "From sender Mon Jan  1 10:00:00 2024"
# The full ctime() shape of an envelope line: "From sender Mon Jan  1 10:00:00 2024" (optional zone).
_STRICT_ENVELOPE = re.compile(
    rb"From \S+\s+(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} "
    rb"\d{1,2}:\d{2}(?::\d{2})?(?: [A-Z]{2,5}| [+-]\d{4})? \d{4}\s*$"
)
_ESCAPED_FROM = re.compile(rb">+From ")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_TYPICAL_HEADERS = frozenset(
    b"from to cc subject date message-id received return-path delivered-to sender reply-to "
    b"mime-version in-reply-to references x-from x-to envelope-to".split()
)


_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error, RuntimeError, NotImplementedError)
"""What reading a file or an archive member can raise (RuntimeError: encrypted zip member)."""


class SourceError(Exception):
    """The path cannot be read as a mail source; the message is meant for the user."""


@dataclass(slots=True, frozen=True)
class SkippedFile:
    """A file that was passed over because it is not a message."""

    path: str
    reason: str


@dataclass(slots=True)
class _Entry:
    """One file of a source: on disk or an archive member. ``error`` marks an unreadable one."""

    path: str  # relative, "/"-separated, printable (see printable_path)
    size: int
    open: Callable[[], BinaryIO]
    error: str | None = None
    disk_path: str | None = None  # where a file of a folder walk really is (its name may not be UTF-8)


@dataclass(slots=True)
class FileSource:
    """A mail source on disk; create it with :func:`open_source`.

    ``kind`` is one of ``"mbox"``, ``"maildir"``, ``"directory"``, ``"message"``
    (a single message file), ``"zip"`` or ``"tar"``.
    """

    path: Path
    kind: str
    max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The source's own name (without archive / mbox suffix); folder of its top-level files."""
        name = _strip_suffix(printable_path(self.path.name), _ARCHIVE_SUFFIXES + _MBOX_SUFFIXES + _MESSAGE_SUFFIXES)
        return name or printable_path(self.path)

    def iter_messages(self, mining_id: str, *, body_cap: int | None = None) -> Iterator[SourceItem]:
        """Yield every message as a :class:`RawMessage`, or a :class:`FailedMessage` with the reason.

        ``skipped`` is reset and refilled with the non-message files met on the way.
        """
        if body_cap is not None and body_cap < 0:
            raise ValueError("body_cap must be >= 0")
        self.skipped = []
        reader = _Reader(self, mining_id, body_cap)
        if self.kind in ("mbox", "message"):
            entry = _Entry(printable_path(self.path.name), _file_size(self.path), lambda: open(self.path, "rb"))
            folder = self.name if self.kind == "mbox" else printable_path(self.path.parent.name)
            yield from reader.read_entry(entry, folder, kind=self.kind, mbox_folder=folder)
        elif self.kind in ("zip", "tar"):
            yield from reader.read_archive(self.path, self.kind, prefix="")
        else:
            yield from reader.read_entries(_walk(self.path, self.skipped), allow_archives=True)

    def iter_records(self, mining_id: str, *, body_cap: int | None = None) -> Iterator[SourceItem]:
        """:meth:`iter_messages`, then every file passed over (not mail, index or hidden files)
        as a failure record whose reason starts with ``skipped:``: nothing is left out without a word."""
        yield from self.iter_messages(mining_id, body_cap=body_cap)
        for skipped in self.skipped:
            folder = skipped.path.rstrip("/").rpartition("/")[0] or self.name
            yield FailedMessage(mining_id, folder, skipped.path, SKIPPED_PREFIX + skipped.reason)

    def count(self) -> int:
        """Number of messages (failures included), for progress bars.

        Exact for folders, Maildirs and zip files (an ``.eml`` file counts as one
        message unopened: one that is really an archive or an mbox is read as such
        but counted as one); an mbox is estimated from its ``From`` lines; a tar
        archive costs one decompression pass.
        """
        counter = _Counter(self)
        if self.kind == "message":
            return 1
        if self.kind == "mbox":
            try:
                with open(self.path, "rb") as stream:
                    return _count_mbox(stream)
            except OSError as exc:
                raise SourceError(f"Cannot read {printable_path(self.path)}: {_describe(exc)}") from None
        if self.kind in ("zip", "tar"):
            return counter.count_archive(self.path, self.kind)
        return counter.count_entries(_walk(self.path, []), allow_archives=True)


def spooled_file(spool_dir: str | os.PathLike[str], path: str) -> Path:
    """``path`` (relative to ``spool_dir``, or absolute inside it) of a file an upload was
    spooled to, or :class:`SourceError`: outside the folder (refused), or gone."""
    if not isinstance(path, str) or not path:
        raise SourceError("a file source needs the path of a spooled file")
    folder = Path(spool_dir).resolve()
    resolved = (folder / path).resolve()
    if not resolved.is_relative_to(folder) or resolved == folder:
        raise SourceError("the file to mine is not in the spool folder: refused")
    if not resolved.exists():
        raise SourceError(f"the uploaded file {printable_path(resolved.name)} is no longer in the spool folder")
    return resolved


def mining_spool(spool_dir: str | os.PathLike[str], mining_id: str) -> Path:
    """The folder of ``spool_dir`` that holds the upload a mining reads (named by its id)."""
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", mining_id or ""):
        raise SourceError(f"not a mining id: {mining_id!r}")
    return Path(spool_dir).resolve() / mining_id


def remove_spooled(spool_dir: str | os.PathLike[str], mining_id: str) -> bool:
    """Delete the upload of a mining from the spool folder (its mining ended, or its user
    went); True if there was one. Nothing else is touched: a name that is not a mining id is
    refused, and a mining without an upload has no folder."""
    try:
        folder = mining_spool(spool_dir, mining_id)
    except SourceError:
        return False
    if not folder.is_dir():
        return False
    for item in folder.iterdir():
        item.unlink(missing_ok=True)
    folder.rmdir()
    return True


def open_source(path: str | os.PathLike[str], *, max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES) -> FileSource:
    """Detect what ``path`` is and return a :class:`FileSource` for it.

    Raises :class:`SourceError` for a missing or unreadable path, a file that is
    neither a message, an mbox nor a supported archive, and a corrupt archive.
    """
    source_path = Path(path).expanduser()
    try:
        info = source_path.stat()
    except FileNotFoundError:
        raise SourceError(f"No such file or folder: {printable_path(source_path)}") from None
    except OSError as exc:
        raise SourceError(f"Cannot read {printable_path(source_path)}: {_describe(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        try:
            with os.scandir(source_path) as listing:
                names = {item.name for item in listing if item.name in _MAILDIR_SUBDIRS and _is_dir(item)}
        except OSError as exc:
            raise SourceError(f"Cannot read folder {printable_path(source_path)}: {_describe(exc)}") from None
        kind = "maildir" if names & set(_MAILDIR_SUBDIRS) else "directory"
        return FileSource(source_path, kind, max_message_bytes)
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(f"{printable_path(source_path)} is neither a file nor a folder")
    try:
        with open(source_path, "rb") as stream:
            head = stream.read(_SNIFF_BYTES)
    except OSError as exc:
        raise SourceError(f"Cannot read {printable_path(source_path)}: {_describe(exc)}") from None
    kind = _classify(source_path.name, head)
    if kind in ("zip", "tar"):
        _check_archive(source_path, kind)
    elif kind == "unknown":
        raise SourceError(
            f"{printable_path(source_path)} is not a mail source: expected an mbox file, a Maildir, a folder of "
            ".eml files, a single message, or a .zip / .tar.gz archive of those"
        )
    return FileSource(source_path, kind, max_message_bytes)


# --------------------------------------------------------------------------- reading


class _Reader:
    """Turns the entries of one source into RawMessage / FailedMessage items."""

    def __init__(self, source: FileSource, mining_id: str, body_cap: int | None) -> None:
        self.source = source
        self.mining_id = mining_id
        self.body_cap = body_cap
        self.limit = source.max_message_bytes

    def fail(self, folder: str, uid: str, reason: str) -> FailedMessage:
        return FailedMessage(self.mining_id, folder, uid, reason)

    def read_entries(self, entries: Iterable[_Entry], *, allow_archives: bool, archive: str = "") -> Iterator[SourceItem]:
        """Classify and read every entry of a folder walk or of an archive."""
        source_name = self.source.name
        for entry in entries:
            location = _location(entry.path, source_name)
            if location is None:
                self.source.skipped.append(SkippedFile(entry.path, "not mail (index, hidden or system file)"))
                continue
            folder, maildir_uid, flags = location
            if entry.error:
                yield self.fail(folder, maildir_uid or entry.path, entry.error)
            elif maildir_uid is not None:  # every file in cur/ and new/ is a message
                yield from self.read_entry(entry, folder, kind="message", uid=maildir_uid, flags=flags)
            else:
                yield from self.read_entry(entry, folder, allow_archives=allow_archives, archive=archive)

    def read_entry(
        self,
        entry: _Entry,
        folder: str,
        *,
        kind: str | None = None,
        uid: str | None = None,
        flags: tuple[str, ...] = (),
        mbox_folder: str | None = None,
        allow_archives: bool = False,
        archive: str = "",
    ) -> Iterator[SourceItem]:
        """Read one file: a message, an mbox, or (from a folder walk) an archive.

        ``kind`` None means "sniff it": files that are not mail go to ``skipped``.
        An mbox's folder is ``mbox_folder``, by default its path without suffix.
        """
        uid = uid or entry.path
        try:
            with entry.open() as stream:
                head = stream.read(_SNIFF_BYTES)
                kind = kind or _classify(_name(entry.path), head)
                if kind == "mbox":
                    mbox_folder = mbox_folder or _strip_suffix(entry.path, _MBOX_SUFFIXES)
                    yield from self._read_mbox(_lines(head, stream), mbox_folder, entry.path)
                    return
                if kind == "message":
                    if self.limit is not None and entry.size > self.limit:
                        yield self.fail(folder, uid, _too_large(entry.size, self.limit))
                        return
                    data = _strip_envelope(_read_message(head, stream, self.body_cap, self.limit))
        except _TooLarge as exc:
            yield self.fail(folder, uid, _too_large(exc.size, self.limit))
            return
        except _READ_ERRORS as exc:
            yield self.fail(folder, uid, f"cannot read file: {_describe(exc)}")
            return
        if kind in ("zip", "tar"):
            if allow_archives:
                yield from self.read_archive(entry.disk_path or self.source.path / entry.path, kind, prefix=entry.path + "/")
            else:
                yield self.fail(folder, uid, f"archive inside the archive {archive!r} is not read: extract it first")
        elif kind == "message":
            if data.strip():
                yield RawMessage(self.mining_id, folder, uid, data, flags)
            else:
                yield self.fail(folder, uid, "empty file")
        else:
            self.source.skipped.append(SkippedFile(entry.path, "does not look like an e-mail message"))

    def _read_mbox(self, lines: Iterator[bytes], folder: str, path: str) -> Iterator[SourceItem]:
        for index, data, size in _split_mbox(lines, body_cap=self.body_cap, limit=self.limit):
            uid = f"{path}#{index}"
            if data is None:
                yield self.fail(folder, uid, _too_large(size, self.limit))
            elif data.strip():
                yield RawMessage(self.mining_id, folder, uid, data)
            else:
                yield self.fail(folder, uid, "empty message")

    def read_archive(self, path: Path | str, kind: str, prefix: str) -> Iterator[SourceItem]:
        """Stream the members of a zip or tar archive; a damaged one ends in a failure record."""
        path = Path(path)
        archive_name = prefix.rstrip("/") or path.name
        try:
            _check_archive(path, kind)
        except SourceError as exc:
            yield self.fail(archive_name, archive_name, str(exc))
            return
        entries = _zip_entries(path, prefix) if kind == "zip" else _tar_entries(path, prefix, self.source.skipped)
        members = _Members(entries)
        try:
            yield from self.read_entries(members, allow_archives=False, archive=archive_name)
        except _READ_ERRORS as exc:
            where = f"after {members.last!r}" if members.last else "at its start"
            yield self.fail(
                archive_name,
                members.last or archive_name,
                f"archive {archive_name!r} is truncated or corrupt {where} ({_describe(exc)}); the rest of it could not be read",
            )


class _Counter:
    """Counts messages the way :class:`_Reader` reads them, without reading bodies."""

    def __init__(self, source: FileSource) -> None:
        self.source = source

    def count_entries(self, entries: Iterable[_Entry], *, allow_archives: bool) -> int:
        total = 0
        source_name = self.source.name
        for entry in entries:
            location = _location(entry.path, source_name)
            if location is None:
                continue
            if entry.error or location[1] is not None or entry.path.lower().endswith(_MESSAGE_SUFFIXES):
                total += 1  # a Maildir file or an .eml: one message, counted without opening it
                continue
            try:
                with entry.open() as stream:
                    head = stream.read(_SNIFF_BYTES)
                    kind = _classify(_name(entry.path), head)
                    if kind == "mbox":
                        total += _count_mbox(stream, head)
                        continue
            except _READ_ERRORS:
                total += 1
                continue
            if kind == "message":
                total += 1
            elif kind in ("zip", "tar"):
                total += self.count_archive(entry.disk_path or self.source.path / entry.path, kind) if allow_archives else 1
        return total

    def count_archive(self, path: Path | str, kind: str) -> int:
        members = _zip_entries(path, "") if kind == "zip" else _tar_entries(path, "")
        try:
            return self.count_entries(members, allow_archives=False)
        except _READ_ERRORS:
            return 1  # the failure record that reading will produce


class _Members:
    """Archive members, remembering the last one handed out (to locate damage)."""

    def __init__(self, entries: Iterator[_Entry]) -> None:
        self._entries = entries
        self.last: str | None = None

    def __iter__(self) -> Iterator[_Entry]:
        for entry in self._entries:
            self.last = entry.path
            yield entry


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


# --------------------------------------------------------------------------- entries


def _is_dir(item: os.DirEntry) -> bool:
    """Whether a folder entry is a folder; a broken or looping symlink is not (its reading
    fails later, with the reason, instead of refusing the whole source)."""
    try:
        return item.is_dir()
    except OSError:
        return False


def _walk(root: Path, skipped: list[SkippedFile]) -> Iterator[_Entry]:
    """Every regular file under ``root``, sorted; Maildir ``tmp/`` and hidden folders pruned.

    Hidden folders are kept when they are Maildir++ folders (``.Sent/cur``).
    Unreadable folders and files come out as entries with ``error`` set.
    """
    errors: list[OSError] = []
    top = os.fspath(root)
    for dirpath, dirnames, filenames in os.walk(top, onerror=errors.append):
        while errors:
            exc = errors.pop()
            rel = _relative(Path(exc.filename or dirpath), root)
            yield _Entry(rel, 0, _no_open, error=f"cannot read folder: {_describe(exc)}")
        here = Path(dirpath)
        is_maildir = any(name in dirnames for name in _MAILDIR_SUBDIRS)
        kept = []
        for name in sorted(dirnames):
            if name == "tmp" and is_maildir:
                continue
            if name.startswith(".") and not any((here / name / sub).is_dir() for sub in _MAILDIR_SUBDIRS):
                skipped.append(SkippedFile(_relative(here / name, root) + "/", "hidden folder"))
                continue
            kept.append(name)
        dirnames[:] = kept
        # plain strings from here (no Path per file: a folder of .eml files is mostly this loop)
        prefix = _relative(here, root) + "/" if dirpath != top else ""
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = prefix + _printable(name)
            try:
                info = os.stat(path)
            except OSError as exc:
                yield _Entry(rel, 0, _no_open, error=f"cannot read file: {_describe(exc)}")
                continue
            if stat.S_ISREG(info.st_mode):
                yield _Entry(rel, info.st_size, partial(open, path, "rb"), disk_path=path)
    while errors:  # an unreadable root
        exc = errors.pop()
        yield _Entry(".", 0, _no_open, error=f"cannot read folder: {_describe(exc)}")


def _zip_entries(path: Path, prefix: str) -> Iterator[_Entry]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield _Entry(prefix + info.filename, info.file_size, lambda info=info: archive.open(info))


def _tar_entries(path: Path, prefix: str, skipped: list[SkippedFile] | None = None) -> Iterator[_Entry]:
    # Stream mode ("r|*"): one forward pass, nothing extracted; each member is
    # opened once, while it is the current one. Links are never followed.
    with tarfile.open(path, mode="r|*") as archive:
        for member in archive:
            if member.isfile():
                yield _Entry(prefix + member.name, member.size, lambda member=member: archive.extractfile(member))
            elif (member.issym() or member.islnk()) and skipped is not None:
                skipped.append(SkippedFile(prefix + member.name, "a link inside the archive (not followed)"))


def _check_archive(path: Path, kind: str) -> None:
    """Raise :class:`SourceError` when ``path`` cannot be opened as a ``kind`` archive."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(path):
                pass
        else:
            with tarfile.open(path, mode="r|*") as archive:
                archive.next()
    except (*_READ_ERRORS, ValueError) as exc:
        label = "zip" if kind == "zip" else "tar"
        raise SourceError(f"{printable_path(path)} is not a readable {label} archive: {_describe(exc)}") from None


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # opening it will fail and say why


def _no_open() -> BinaryIO:
    raise OSError("unreadable")


def _parts(path: str) -> tuple[str, ...] | list[str]:
    """``PurePosixPath(path).parts``, without a PurePosixPath for the usual relative path."""
    if path.startswith("/"):
        return PurePosixPath(path).parts  # a root ("/", or "//" that POSIX keeps)
    return [part for part in path.split("/") if part and part != "."]


def _name(path: str) -> str:
    """``PurePosixPath(path).name``, without a PurePosixPath for the usual relative path."""
    name = path.rpartition("/")[2]
    return name if name not in ("", ".", "..") else PurePosixPath(path).name


def _relative(path: Path, root: Path) -> str:
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.as_posix()
    return _printable(rel)


def printable_path(text: str | os.PathLike[str]) -> str:
    """A path as text safe to store and show: bytes that are not UTF-8 (which Python keeps
    as surrogate escapes) become ``\\xNN``, so two such names stay apart and the same
    name gives the same text on every run."""
    return os.fspath(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


_printable = printable_path


def _location(path: str, source_name: str) -> tuple[str, str | None, tuple[str, ...]] | None:
    """``(folder, maildir uid or None, flags)`` for an entry path, or None when it is not mail.

    Maildir files (``…/cur/<name>``, ``…/new/<name>``) get a folder named after
    their Maildir and a uid without the ``:2,`` flags part; other files keep
    their relative path as uid and their directory as folder. An archive member's
    name is only a label: a root, ``.`` or ``..`` in it is not a folder (the member
    is read like any other, never written anywhere).
    """
    parts = tuple(part for part in _parts(path) if part not in ("/", ".", ".."))
    if not parts:
        return None
    name, dirs = parts[-1], parts[:-1]
    if name.startswith(".") or _METADATA_NAME.match(name) or "__MACOSX" in dirs:
        return None
    in_maildir = bool(dirs) and dirs[-1] in _MAILDIR_SUBDIRS
    for position, part in enumerate(dirs):
        # the only hidden folders that hold mail are Maildir++ folders: ".Sent/cur"
        if part.startswith(".") and not (in_maildir and position == len(dirs) - 2):
            return None
    if not in_maildir:
        return "/".join(dirs) or source_name, None, ()
    maildir = dirs[:-1]
    if maildir and maildir[-1].startswith("."):
        folder = "/".join((*maildir[:-1], maildir[-1][1:]))
    else:
        folder = "/".join(maildir) or "INBOX"
    info = _MAILDIR_INFO.search(name)
    unique = name[: info.start()] if info else name
    flags = tuple(_MAILDIR_FLAGS[c] for c in sorted(set(info.group(1))) if c in _MAILDIR_FLAGS) if info else ()
    return folder, "/".join((*maildir, unique)), flags


def _classify(name: str, head: bytes) -> str:
    """``zip``, ``tar``, ``mbox``, ``message`` or ``unknown``, from the file name and first bytes."""
    lower = name.lower()
    if lower.endswith(_ZIP_SUFFIXES) or head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if lower.endswith(_TAR_SUFFIXES) or head[257:262] == b"ustar":
        return "tar"
    if lower.endswith(_MBOX_SUFFIXES):
        return "mbox"
    if lower.endswith(_MESSAGE_SUFFIXES):
        return "message"
    if head.startswith(b"From "):
        return "mbox"
    return "message" if _looks_like_message(head) else "unknown"


def _looks_like_message(head: bytes) -> bool:
    """True when ``head`` starts with a header block holding at least one usual mail header."""
    match = _BLANK_LINE.search(head)
    block = head[: match.start()] if match else head
    lines = block.split(b"\n")
    if not match and len(head) >= _SNIFF_BYTES:
        lines.pop()  # cut off mid-line
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    names = set()
    for line in lines:
        if line[:1] in (b" ", b"\t") or not line.strip():
            continue  # folded continuation
        if not _HEADER_LINE.match(line):
            return False
        names.add(line.split(b":", 1)[0].strip().lower())
    return not names.isdisjoint(_TYPICAL_HEADERS)


# --------------------------------------------------------------------------- message bytes


def _header_end(data: bytes | bytearray, start: int = 0) -> int | None:
    """Offset just past the blank line that ends the header block, or None."""
    if data[:1] == b"\n":
        return 1
    if data[:2] == b"\r\n":
        return 2
    return _blank_line_end(data, max(0, start - 3))


def _blank_line_end(data: bytes | bytearray, start: int) -> int | None:
    """``_BLANK_LINE.search(data, start).end()`` (or None) by two ``find``: the first line
    break followed by an (optionally CR-) line break ends the earliest match, and the regex
    (which tries every offset) cost more than reading the file."""
    lf = data.find(b"\n\n", start)
    crlf = data.find(b"\n\r\n", start)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 3
    return lf + 2 if lf >= 0 else None


def _read_message(head: bytes, stream: BinaryIO, body_cap: int | None, limit: int | None) -> bytes:
    """The rest of ``stream`` after ``head``; with ``body_cap``, only headers + ``body_cap`` body bytes."""
    if body_cap is None:
        rest = stream.read() if limit is None else stream.read(limit + 1 - len(head))
        data = head + rest
        if limit is not None and len(data) > limit:
            raise _TooLarge(len(data))
        return data
    buffer = bytearray(head)
    searched = 0
    end = None
    while True:
        if end is None:
            end = _header_end(buffer, searched)
            searched = len(buffer)
        if end is not None and len(buffer) >= end + body_cap:
            return bytes(buffer[: end + body_cap])
        chunk = stream.read(_READ_CHUNK)
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if limit is not None and len(buffer) > limit:
            raise _TooLarge(len(buffer))


def _strip_envelope(data: bytes) -> bytes:
    """Drop a leading mbox ``From `` envelope line: it is not a header."""
    if data.startswith(b"From "):
        newline = data.find(b"\n")
        return data[newline + 1 :] if newline >= 0 else b""
    return data


def _lines(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    """Lines of ``head`` followed by the rest of ``stream`` (``head`` was read from it)."""
    pieces = head.split(b"\n")
    partial = pieces.pop()
    for piece in pieces:
        yield piece + b"\n"
    if partial:
        yield partial + stream.readline()
    yield from stream


def _split_mbox(lines: Iterator[bytes], *, body_cap: int | None, limit: int | None) -> Iterator[tuple[int, bytes | None, int]]:
    """``(n, data, size)`` for each message of an mbox; ``data`` is None when over ``limit``.

    A ``From `` line starts a message at the top of the file, when it holds a
    time of day and is followed by a header line, or when it follows a blank
    line and has the full ``ctime`` envelope shape (a message whose first line
    is not a header). A stray ``From`` in a body is not a separator. The envelope line is dropped, ``>From`` lines are
    unescaped, and the blank line that separates messages is removed.
    """
    message: _MboxMessage | None = None
    index = 0
    after_blank = True
    line = next(lines, None)
    while line is not None:
        following = next(lines, None)
        if line.startswith(b"From ") and (
            message is None
            or (_ENVELOPE_TIME.search(line) and following is not None and _HEADER_LINE.match(following))
            or (after_blank and _STRICT_ENVELOPE.match(line))
        ):
            if message is None or message.size:  # an envelope right after an envelope adds no message
                if message is not None:
                    yield index, *message.finish()
                index += 1
                message = _MboxMessage(body_cap, limit)
        elif message is not None:
            message.add(line)
        elif line.strip():  # mail before any envelope line: a message without one
            index += 1
            message = _MboxMessage(body_cap, limit)
            message.add(line)
        after_blank = line in (b"\n", b"\r\n")
        line = following
    if message is not None:
        yield index, *message.finish()


class _MboxMessage:
    """Collects the lines of one mbox message, honouring ``body_cap`` and ``limit``.

    A blank body line is held back until the next line arrives: the last one is
    the separator before the next envelope, not part of the message.
    """

    __slots__ = ("parts", "size", "in_body", "body_left", "limit", "held")

    def __init__(self, body_cap: int | None, limit: int | None) -> None:
        self.parts: list[bytes] | None = []
        self.size = 0
        self.in_body = False
        self.body_left = body_cap
        self.limit = limit
        self.held: bytes | None = None

    def add(self, line: bytes) -> None:
        self.size += len(line)
        if self.parts is None:
            return
        if self.limit is not None and self.size > self.limit:
            self.parts = None  # too large: stop keeping it, keep counting
            return
        if not self.in_body:
            self.parts.append(line)
            self.in_body = line in (b"\n", b"\r\n")
            return
        if self.held is not None:
            self._keep(self.held)
            self.held = None
        if line in (b"\n", b"\r\n"):
            self.held = line
        else:
            if line[:1] == b">" and _ESCAPED_FROM.match(line):
                line = line[1:]
            self._keep(line)

    def _keep(self, line: bytes) -> None:
        if self.body_left is None:
            self.parts.append(line)
        elif self.body_left > 0:
            self.parts.append(line[: self.body_left])
            self.body_left -= len(line)

    def finish(self) -> tuple[bytes | None, int]:
        if self.parts is None:
            return None, self.size
        return b"".join(self.parts), self.size


def _count_mbox(stream: BinaryIO, head: bytes = b"") -> int:
    """Estimate of the messages in an mbox: lines that start with ``From ``."""
    count = 0
    tail = b"\n"
    content = False
    chunk = head or stream.read(_READ_CHUNK)
    while chunk:
        window = tail + chunk
        count += window.count(b"\nFrom ")
        content = content or bool(chunk.strip())
        tail = window[-5:]
        chunk = stream.read(_READ_CHUNK)
    return max(count, 1 if content else 0)


# --------------------------------------------------------------------------- text


def _strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    lower = name.lower()
    for suffix in sorted(suffixes, key=len, reverse=True):
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _too_large(size: int, limit: int | None) -> str:
    return f"skipped: the message is {_megabytes(size)}, over the {_megabytes(limit or 0)} size limit"


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB" if size >= 104_858 else f"{size:,} bytes"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
