"""An uploaded mailbox, streamed to the spool folder once the request is authenticated.

The route reads the multipart body itself (FastAPI would parse and spool a ``File``
parameter before any dependency runs, so before the token is checked): a body announced
above the limit is refused before a byte is read, and the file part is written as it
arrives, counted on the bytes actually received (a chunked body has no length to trust).
python-multipart's streaming parser is pure Python: this runs wherever the app runs
(CPython, Pyodide). Nothing is left in the spool folder when the upload is refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from .envelope import ApiError
from .imports import CONTACTS_IMPORT_SCHEMA

INCOMING = "incoming-"
ABANDONED_SECONDS = 3600.0
"""An upload still being received is written to all the time: one whose folder has not changed
for this long was left by an API process that died mid-upload."""
FIELD = b"file"
FRAMING_ALLOWANCE = 64 * 1024
"""Bytes a multipart body may carry beyond the file's own (boundaries, part headers, a few
small fields) before it counts as too large."""


FIELD_LIMIT = 1024
"""Bytes of a small form field (``extractSignatures``, …) kept; a longer value is a 422."""


@dataclass(frozen=True, slots=True)
class SpooledUpload:
    folder: Path  # a folder of its own in the spool folder, holding only ``path``
    path: Path
    filename: str  # the client's file name, without any folder
    sha256: str
    fields: dict[str, str]  # the other (small) form fields, by name


class _TooLarge(Exception):
    pass


class _FilePart:
    """The parser's callbacks: the ``file`` part goes to ``path``, other parts are kept as small
    fields (``fields``: name → text, each at most :data:`FIELD_LIMIT` bytes)."""

    def __init__(self, path: Path, limit: int):
        self.path, self.limit = path, limit
        self.fields: dict[str, str] = {}
        self._field_name: str | None = None
        self._field_value = bytearray()
        self.size = 0
        self.digest = hashlib.sha256()
        self.filename: str | None = None
        self.out: BinaryIO | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = self._value = b""
        self._writing = False

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin, "on_header_field": self._header_field, "on_header_value": self._header_value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_finished,
            "on_part_data": self._data, "on_part_end": self._end,
        }  # fmt: skip

    def _begin(self) -> None:
        self._headers, self._field, self._value = {}, b"", b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"")
        self._writing = name == FIELD and self.out is None and self.filename is None
        self._field_name = None if self._writing or name == FIELD else name.decode("utf-8", "replace")
        self._field_value = bytearray()
        if self._writing:
            given = options.get(b"filename", b"").decode("utf-8", "replace").replace("\\", "/")
            self.filename = os.path.basename(given) or "mailbox"  # never a folder of the client's
            self.out = self.path.open("wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._field_name is not None:
            self._field_value += data[start:end]
            if len(self._field_value) > FIELD_LIMIT:
                raise ApiError(422, "invalid", f"invalid request: {self._field_name}: longer than {FIELD_LIMIT} bytes")
            return
        if not self._writing:
            return
        self.size += end - start
        if self.size > self.limit:
            raise _TooLarge
        chunk = data[start:end]
        self.digest.update(chunk)
        self.out.write(chunk)

    def _end(self) -> None:
        if self._field_name is not None:
            self.fields[self._field_name] = self._field_value.decode("utf-8", "replace")
            self._field_name = None
        if self._writing:
            self.out.close()
            self._writing = False

    def close(self) -> None:
        if self.out is not None and not self.out.closed:
            self.out.close()


def too_large(limit_mb: float) -> ApiError:
    return ApiError(413, "too_large", f"the upload is larger than the limit of {limit_mb:g} MB")


def refuse_announced_size(content_length: str | None, limit_mb: float) -> None:
    """413 at once when the body announces more than the limit allows: nothing is read."""
    if content_length and content_length.strip().isdigit():
        if int(content_length) > limit_bytes(limit_mb) + FRAMING_ALLOWANCE:
            raise too_large(limit_mb)


def limit_bytes(limit_mb: float) -> int:
    return int(limit_mb * 1024 * 1024)


def sweep_abandoned(spool_dir: Path, older_than: float = ABANDONED_SECONDS) -> int:
    """Delete uploads left half-received by an API process that died (``incoming-*`` folders
    unchanged for ``older_than`` seconds); returns how many. Run when an API process starts."""
    removed = 0
    now = time.time()
    for folder in spool_dir.glob(f"{INCOMING}*"):
        try:
            changed = max([folder.stat().st_mtime, *(item.stat().st_mtime for item in folder.iterdir())])
        except OSError:
            continue  # gone meanwhile (its request ended)
        if now - changed > older_than:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


async def read_limited(body: AsyncIterator[bytes], limit_mb: float) -> bytes:
    """A whole (JSON) body held in memory, 413 past the limit on the bytes received."""
    chunks, size = [], 0
    async for chunk in body:
        size += len(chunk)
        if size > limit_bytes(limit_mb):
            raise too_large(limit_mb)
        chunks.append(chunk)
    return b"".join(chunks)


async def spool_multipart(content_type: str, body: AsyncIterator[bytes], spool_dir: Path, limit_mb: float) -> SpooledUpload:
    """Stream the ``file`` field of a multipart body into a new folder of ``spool_dir``; 413
    past the limit, 422 without a ``file`` field. The folder is removed on any error."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ApiError(415, "unsupported_media_type", "send the mailbox as multipart/form-data (field 'file') or contacts as JSON")
    limit = limit_bytes(limit_mb)
    folder = spool_dir / f"{INCOMING}{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    part = _FilePart(folder / "mailbox", limit)
    received = 0
    try:
        parser = MultipartParser(boundary, part.callbacks())
        async for chunk in body:
            received += len(chunk)
            if received > limit + FRAMING_ALLOWANCE:
                raise _TooLarge
            parser.write(chunk)
        parser.finalize()
        part.close()
        if part.filename is None:
            raise ApiError(422, "invalid", "invalid request: file: Field required")
        suffix = "".join(Path(part.filename).suffixes[-2:])[:16]
        path = part.path.rename(part.path.with_name(f"mailbox{suffix}")) if suffix else part.path
        return SpooledUpload(folder, path, part.filename, part.digest.hexdigest(), part.fields)
    except _TooLarge:
        part.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise too_large(limit_mb) from None
    except MultipartParseError as exc:
        part.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(400, "bad_request", f"the multipart body cannot be read: {exc}") from None
    except BaseException:
        part.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise


UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the mailbox"},
                        "extractSignatures": {"type": "boolean", "default": True,
                                              "description": "false: no signature stage (contacts without title, phones, …)"},
                    },
                }
            },
            "application/json": {"schema": CONTACTS_IMPORT_SCHEMA},
        },
    }
}
"""The bodies the route reads itself, for ``/docs`` (the JSON one: a contacts import)."""
