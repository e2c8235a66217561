"""Rows of the SQL adapters, written once from the records (SQLite, D1 and PostgreSQL).

Each table's columns, and how a record becomes a row and a row a record, are
derived here from the contract records; the adapters only differ in their SQL
and in a :class:`Codec`: how text and JSON travel to and from their driver
(SQLite stores JSON as text; PostgreSQL's jsonb comes back decoded, and its
text cannot hold U+0000). A message's record JSON is :func:`contracts.to_dict`
without its points and body, read back with :func:`contracts.message_from_dict`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..contracts import (
    CleanedAddress,
    FailedMessage,
    Field,
    MessageRecord,
    PointOfContact,
    RawMessage,
    RefinedPerson,
    Signature,
    Status,
    message_from_dict,
    to_dict,
)
from ..storage import BatchCounts, IndexedMessage, MiningRun, Occurrence


def _same(value: Any) -> Any:
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def nul_free(value: str | None) -> str | None:
    """Text PostgreSQL can hold (its text and jsonb refuse U+0000): each NUL becomes U+FFFD."""
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def nul_free_json(value: Any) -> Any:
    """A JSON value with every string (keys too) :func:`nul_free`."""
    if isinstance(value, str):
        return nul_free(value)
    if isinstance(value, dict):
        return {nul_free(k): nul_free_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nul_free_json(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Codec:
    """How one driver takes and gives text and JSON values."""

    text: Callable[[str | None], str | None] = _same  # a text value as stored
    dump: Callable[[Any], str] = _dumps  # a JSON value → its parameter
    load: Callable[[Any], Any] = json.loads  # a JSON column as read → its value


SQLITE = Codec()
"""SQLite and D1: text as given, JSON as text."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str  # text | int | real | bool | json | bytes


def _kind(annotation: str) -> str:
    for prefix, kind in (("list", "json"), ("dict", "json"), ("tuple", "json"), ("int", "int"), ("bool", "bool"),
                         ("float", "real"), ("bytes", "bytes")):  # fmt: skip
        if annotation.startswith(prefix):
            return kind
    return "text"


def record_columns(cls: type) -> tuple[Column, ...]:
    """One column per field of ``cls``; JSON-valued fields get the ``_json`` suffix."""
    columns = []
    for f in dataclasses.fields(cls):
        kind = _kind(str(f.type))
        columns.append(Column(f"{f.name}_json" if kind == "json" else f.name, kind))
    return tuple(columns)


def _field(column: Column) -> str:
    return column.name[:-5] if column.kind == "json" else column.name


# temp tables ----------------------------------------------------------------------
MESSAGE_COLUMNS = (Column("message_id", "text"), Column("date", "text"), Column("record_json", "json"), Column("body", "text"))
POINT_COLUMNS = (Column("message_id", "text"), Column("position", "int"), Column("field", "text"),
                 Column("email", "text"), Column("name", "text"))  # fmt: skip
FAILURE_COLUMNS = (Column("folder", "text"), Column("uid", "text"), Column("reason", "text"))
CLEANED_COLUMNS = (Column("email", "text"), Column("status", "text"), Column("tags_json", "json"), Column("reason", "text"))
SIGNATURE_COLUMNS = (Column("email", "text"), Column("message_id", "text"), Column("signature_json", "json"))
RAW_COLUMNS = (Column("batch_no", "int"), Column("position", "int"), Column("folder", "text"), Column("uid", "text"),
               Column("flags_json", "json"), Column("data", "bytes"))  # fmt: skip
RUN_COLUMNS = ("user_id", "source", "identities_json", "started", "updated", "fetched", "fetch_failed", "total",
               "batches", "fetch_state_json", "options_json")  # fmt: skip
BATCH_COLUMNS = ("records", "already_mined", "failed", "contacts")


def names(columns: Iterable[Column]) -> str:
    """``a, b, c``: the column list of a statement."""
    return ", ".join(c.name for c in columns)


_RECORD_JSON_FIELDS = tuple(f.name for f in dataclasses.fields(MessageRecord) if f.name not in ("points", "body"))
"""The fields of a message's record JSON: plain values (text, lists of text, a dict of
text), JSON as they are; the points and the body have columns of their own."""


def message_row(record: MessageRecord, codec: Codec) -> tuple:
    """(message_id, date, record_json, body) of ``MESSAGE_COLUMNS``; an unknown date is ''."""
    fields = {name: getattr(record, name) for name in _RECORD_JSON_FIELDS}  # what to_dict gives, without the points
    return (codec.text(record.message_id), codec.text(record.date) or "", codec.dump(fields), codec.text(record.body))


def point_rows(record: MessageRecord, codec: Codec) -> list[tuple]:
    """``POINT_COLUMNS`` rows of the message's points, in order (stored under the stored message id)."""
    message_id = codec.text(record.message_id)
    return [
        (message_id, position, p.field.value, codec.text(p.email), codec.text(p.name))
        for position, p in enumerate(record.points)
    ]


def message_rows(records: Iterable[MessageRecord], codec: Codec) -> tuple[list[tuple], list[tuple]]:
    """Message rows and point rows of ``records``, one copy per stored Message-ID (the first,
    as with INSERT OR IGNORE)."""
    messages: dict[str, tuple] = {}
    points: list[tuple] = []
    for record in records:
        row = message_row(record, codec)
        if row[0] not in messages:
            messages[row[0]] = row
            points.extend(point_rows(record, codec))
    return list(messages.values()), points


_FIELDS = {f.value: f for f in Field}  # a dict look-up is cheaper than an enum call per point


def point_from_row(message_id: str, field: str, email: str, name: str | None) -> PointOfContact:
    return PointOfContact(message_id, _FIELDS.get(field) or Field(field), email, name)


def message_from_row(fields: Any, body: str | None, points: list[PointOfContact], codec: Codec) -> MessageRecord:
    """A message from its record JSON (read with :func:`contracts.message_from_dict`), body and points
    (:func:`point_from_row`)."""
    data = codec.load(fields)
    data["points"] = []
    data["body"] = body
    record = message_from_dict(data)
    record.points = points
    return record


def failure_row(failure: FailedMessage, codec: Codec) -> tuple:
    return (codec.text(failure.folder), codec.text(failure.uid), codec.text(failure.reason))


def cleaned_row(address: CleanedAddress, codec: Codec) -> tuple:
    return (codec.text(address.email), address.status.value, codec.dump(address.tags), codec.text(address.reason))


def cleaned_from_row(row: tuple, codec: Codec) -> CleanedAddress:
    email, status, tags, reason = row
    return CleanedAddress(email, Status(status), codec.load(tags), reason)


def signature_row(signature: Signature, codec: Codec) -> tuple:
    return (codec.text(signature.email), codec.text(signature.message_id), codec.dump(to_dict(signature)))


def signature_from_row(row: tuple, codec: Codec) -> Signature:
    return Signature.from_json(codec.load(row[-1]))


def raw_rows(batch_no: int, raws: list[RawMessage], codec: Codec) -> list[tuple]:
    return [
        (batch_no, position, codec.text(r.folder), codec.text(r.uid), codec.dump(list(r.flags)), r.data)
        for position, r in enumerate(raws)
    ]


def raw_from_row(mining_id: str, row: tuple, codec: Codec) -> RawMessage:
    folder, uid, flags, data = row
    return RawMessage(mining_id, folder, uid, bytes(data), tuple(codec.load(flags)))


def run_from_row(mining_id: str, row: tuple, steps: dict[str, int], codec: Codec) -> MiningRun:
    """A run from its ``RUN_COLUMNS`` and its steps."""
    user_id, source, identities, started, updated, fetched, failed, total, batches, fetch_state, options = row
    return MiningRun(
        mining_id, user_id, source, codec.load(identities), started, updated, fetched, failed, total, batches,
        codec.load(fetch_state), steps, codec.load(options) or {},
    )  # fmt: skip


def batch_row(counts: BatchCounts) -> tuple:
    return (counts.records, counts.already_mined, counts.failed, counts.contacts)


TOTALS_KEYS = (*BATCH_COLUMNS, "extracted")


def totals_from_row(row: tuple) -> dict[str, int]:
    """``batch_totals`` from (records, already_mined, failed, contacts, extracted)."""
    return dict(zip(TOTALS_KEYS, map(int, row), strict=True))


# main tables ----------------------------------------------------------------------
PERSON_COLUMNS = record_columns(RefinedPerson)
"""``refined_persons`` columns, one per :class:`RefinedPerson` field, in its order."""
_PERSON_FIELDS = tuple((_field(c), c.kind) for c in PERSON_COLUMNS)

INDEX_COLUMNS = (Column("message_id", "text"), Column("thread_id", "text"), Column("date", "text"),
                 Column("from_key", "text"), Column("from_user", "bool"), Column("in_reply_to", "text"),
                 Column("tags_json", "json"))  # fmt: skip
"""``message_index`` columns of an :class:`IndexedMessage` (besides user_id and mining_id)."""
OCCURRENCE_COLUMNS = (Column("message_id", "text"), Column("key", "text"), Column("email", "text"),
                      Column("field", "text"), Column("name", "text"))  # fmt: skip
MINING_KEYS = ("id", "user_id", "source", "status", "started_at", "finished_at", "stats")


def person_row(person: RefinedPerson, codec: Codec) -> tuple:
    values = []
    for name, kind in _PERSON_FIELDS:
        value = getattr(person, name)
        values.append(codec.dump(value) if kind == "json" else codec.text(value) if kind == "text" else value)
    return tuple(values)


def person_from_row(row: tuple, codec: Codec) -> RefinedPerson:
    return RefinedPerson(
        **{name: codec.load(value) if kind == "json" else value for (name, kind), value in zip(_PERSON_FIELDS, row, strict=True)}
    )


def index_row(message: IndexedMessage, codec: Codec) -> tuple:
    """``INDEX_COLUMNS`` of one indexed message."""
    t = codec.text
    return (t(message.message_id), t(message.thread_id), t(message.date), t(message.from_key), bool(message.from_user),
            t(message.in_reply_to), codec.dump(message.tags))  # fmt: skip


def indexed_from_row(row: tuple, codec: Codec) -> IndexedMessage:
    message_id, thread_id, date, from_key, from_user, in_reply_to, tags = row
    return IndexedMessage(message_id, thread_id, date, from_key, bool(from_user), in_reply_to, codec.load(tags))


def occurrence_row(occurrence: Occurrence, codec: Codec) -> tuple:
    t = codec.text
    return (t(occurrence.message_id), t(occurrence.key), t(occurrence.email), occurrence.field, t(occurrence.name))


def mining_from_row(row: tuple, codec: Codec, time: Callable[[Any], str | None] = _same) -> dict:
    """A mining as ``MainStore.minings`` lists it, from its ``MINING_KEYS`` columns."""
    mining_id, user_id, source, status, started, finished, stats = row
    return dict(zip(MINING_KEYS, (mining_id, user_id, source, status, time(started), time(finished), codec.load(stats)), strict=True))


def last_wins(rows: Iterable[tuple], key_len: int) -> list[tuple]:
    """One row per key (its first ``key_len`` values), the last one given: what
    successive INSERT OR REPLACE do, which one ON CONFLICT DO UPDATE statement refuses."""
    return list({row[:key_len]: row for row in rows}.values())
