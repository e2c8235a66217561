"""What the main store's API reads are made of, written once for both SQL dialects
(SQLite/D1 and PostgreSQL): keyset pages of refined persons (sort keys, filters,
opaque cursors), filters of minings, and the tables a user's data lives in.

A :class:`Dialect` says how one adapter spells what differs (parameter mark,
byte-order collation, case-insensitive LIKE, the "carries every tag" test); the
statements and the meaning of their rows are the same everywhere.

Sort keys are never NULL (``coalesce``, a 0/1 "no name" key), text keys compare
in byte order (SQLite's, ``COLLATE "C"`` in PostgreSQL) and every sort ends with
the email (unique per user), so the order is total and the same in both
adapters: a page starts right after the last row of the one before (no OFFSET).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..contracts import RefinedPerson
from .rows import PERSON_COLUMNS, Codec, mining_from_row, names, person_from_row


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one SQL dialect spells the pieces of the queries below."""

    mark: str  # a parameter: "?" or "%s"
    collate: str  # appended to a text sort key for byte order: "" or ' COLLATE "C"'
    like: str  # case-insensitive LIKE: "LIKE" (SQLite: ASCII case only) or "ILIKE"
    all_tags: Callable[[Sequence[str]], tuple[str, list]]  # the "tags_json holds every tag" condition and its params
    codec: Codec


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: str  # SQL over refined_persons; {c} is the dialect's collation (text keys)
    kind: type  # int | str
    desc: bool = False


_EMAIL = SortKey("email{c}", str)
PERSON_SORTS: dict[str, tuple[SortKey, ...]] = {
    # the order of MainStore.persons() and of `leadminer export`
    "temperature": (SortKey("temperature", int, True), SortKey("occurrence", int, True), _EMAIL),
    "last_seen": (SortKey("coalesce(last_seen, ''){c}", str, True), _EMAIL),  # never seen: last
    "name": (SortKey("CASE WHEN name IS NULL THEN 1 ELSE 0 END", int), SortKey("lower(coalesce(name, ''){c})", str), _EMAIL),
    "email": (_EMAIL,),
}
"""Sort name → its keys, major first; persons without a name come last under ``name``."""

SEARCHED = ("email", "name", "organization", "job_title")
"""The columns ``search`` looks into (case-insensitive substring)."""


def persons_order(persons: Sequence[RefinedPerson]) -> list[RefinedPerson]:
    """``persons`` in the order of ``MainStore.persons()`` (the ``temperature`` sort):
    Python compares str by code point, as byte order does for UTF-8."""
    return sorted(persons, key=lambda p: (-p.temperature, -p.occurrence, p.email))


# cursors ----------------------------------------------------------------------------
def encode_cursor(sort: str, values: Sequence[Any]) -> str:
    """An opaque cursor: URL-safe base64 of ``[sort, *values of the last row's sort keys]``."""
    text = json.dumps([sort, *values], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> list[Any]:
    """The sort key values of ``cursor``; ``ValueError`` for a cursor that is not one of
    ``sort``'s (garbled, made up, or made by another sort)."""
    keys = PERSON_SORTS[sort]
    try:
        data = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(data.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise ValueError(f"invalid cursor {cursor[:40]!r}: not a cursor returned by persons_page") from exc
    if not isinstance(values, list) or not values or values[0] != sort:
        raise ValueError(f"invalid cursor {cursor[:40]!r}: not a cursor of the sort {sort!r}")
    values = values[1:]
    if len(values) != len(keys) or not all(
        type(v) is k.kind for v, k in zip(values, keys, strict=True)  # bool is no int here
    ):
        raise ValueError(f"invalid cursor {cursor[:40]!r}: its sort keys are not {sort!r}'s")
    return values


# persons pages ----------------------------------------------------------------------
def like_pattern(text: str) -> str:
    """``%text%`` for LIKE ... ESCAPE, its wildcards escaped."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def check_page(*, after: str | None, limit: int, sort: str, tags: Sequence[str]) -> list[Any] | None:
    """The checks of a page request, made the same way by every adapter before any query:
    ``ValueError`` for an unknown sort, one string as ``tags``, a ``limit`` below 1 or a
    cursor that is not one of ``sort``'s. Returns the cursor's sort key values (None: first page)."""
    if sort not in PERSON_SORTS:
        raise ValueError(f"unknown sort {sort!r}; choose one of {', '.join(PERSON_SORTS)}")
    if isinstance(tags, str):
        raise ValueError("tags must be a sequence of tags, not one string")
    if limit < 1:
        raise ValueError(f"limit must be at least 1 (got {limit})")
    return None if after is None else decode_cursor(sort, after)


def persons_page_query(
    dialect: Dialect,
    user_id: str,
    *,
    after: str | None,
    limit: int,
    sort: str,
    tags: Sequence[str],
    min_temperature: int | None,
    search: str | None,
) -> tuple[str, list]:
    """The statement of one page (``limit`` + 1 rows: the extra one tells whether a page
    follows) and its parameters; each row is the person's columns then its sort keys."""
    cursor = check_page(after=after, limit=limit, sort=sort, tags=tags)
    m, text = dialect.mark, dialect.codec.text
    keys = [k.expr.format(c=dialect.collate) for k in PERSON_SORTS[sort]]
    where, params = [f"user_id = {m}"], [user_id]
    if tags:
        condition, values = dialect.all_tags([text(t) for t in dict.fromkeys(tags)])
        where.append(condition)
        params.extend(values)
    if min_temperature is not None:
        where.append(f"temperature >= {m}")
        params.append(int(min_temperature))
    if search:
        where.append("(" + " OR ".join(f"{c} {dialect.like} {m} ESCAPE '\\'" for c in SEARCHED) + ")")
        params.extend([like_pattern(text(search))] * len(SEARCHED))
    if cursor is not None:
        values = cursor
        # (k1, k2, …) after (v1, v2, …) with mixed directions: k1 beyond v1, or k1 = v1 and k2 beyond v2, …
        branches = []
        for i, key in enumerate(PERSON_SORTS[sort]):
            equal = [f"{e} = {m}" for e in keys[:i]]
            branches.append("(" + " AND ".join([*equal, f"{keys[i]} {'<' if key.desc else '>'} {m}"]) + ")")
            params.extend([text(v) if isinstance(v, str) else v for v in values[: i + 1]])
        where.append("(" + " OR ".join(branches) + ")")
    order = ", ".join(f"{e}{' DESC' if k.desc else ''}" for e, k in zip(keys, PERSON_SORTS[sort], strict=True))
    query = (
        f"SELECT {names(PERSON_COLUMNS)}, {', '.join(keys)} FROM refined_persons "  # noqa: S608 - fixed names
        f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {m}"
    )
    return query, [*params, limit + 1]


def persons_page(found: Sequence[tuple], limit: int, sort: str, codec: Codec) -> tuple[list[RefinedPerson], str | None]:
    """The page of the rows of :func:`persons_page_query`, and the cursor of the next one (None: last page)."""
    width = len(PERSON_COLUMNS)
    persons = [person_from_row(tuple(row[:width]), codec) for row in found[:limit]]
    cursor = encode_cursor(sort, list(found[limit - 1][width:])) if len(found) > limit else None
    return persons, cursor


# minings ----------------------------------------------------------------------------
def minings_filter(
    mark: str, *, status: str | None, user_id: str | None, newest_first: bool, limit: int | None
) -> tuple[str, str, list]:
    """WHERE, ORDER BY … LIMIT and their parameters of ``MainStore.minings``."""
    equal = {"status": status, "user_id": user_id}
    where = " AND ".join(f"{column} = {mark}" for column, value in equal.items() if value is not None)
    order = "ORDER BY started_at DESC, id DESC" if newest_first else "ORDER BY started_at, id"
    params = [v for v in equal.values() if v is not None]
    if limit is not None:
        order += f" LIMIT {mark}"
        params.append(limit)
    return f"WHERE {where}" if where else "", order, params


# a user's tables ---------------------------------------------------------------------
_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+) \((.*?)\n\);", re.S | re.I)


@dataclass(frozen=True, slots=True)
class UserTables:
    """Where a user's rows are, in the order to delete them (children before parents)."""

    by_user: tuple[str, ...]  # tables with a user_id column
    by_mining: tuple[str, ...]  # tables with a mining_id and no user_id: rows of the user's minings


def user_tables(schema: str) -> UserTables:
    """The tables of ``schema`` (the text of a main.sql) that hold a user's rows; a table
    added there later is found too. Reverse file order: a table is declared after those
    it refers to, so it is emptied before them."""
    by_user: list[str] = []
    by_mining: list[str] = []
    for table, body in reversed(_TABLE.findall(schema)):
        columns = {line.split()[0] for line in body.splitlines() if line.strip() and not line.strip().startswith("--")}
        if "user_id" in columns:
            by_user.append(table)
        elif "mining_id" in columns:
            by_mining.append(table)
    return UserTables(tuple(by_user), tuple(by_mining))


MININGS = "SELECT id, user_id, source, status, started_at, finished_at, stats_json FROM minings {where} {order}"


def _same(value: Any) -> Any:
    return value


class PersonReads:
    """``MainStore.persons_page``, ``persons_for_export``, ``minings`` and ``mining``, written
    once: an adapter gives its :class:`Dialect`, ``_read`` (every row of one statement) and,
    when its driver returns times that are not ISO text, ``_mining_time``; it has
    ``persons`` and ``persons_by_email``."""

    _mining_time: Callable[[Any], str | None] = staticmethod(_same)

    async def minings(
        self, status: str | None = None, *, user_id: str | None = None, newest_first: bool = False, limit: int | None = None
    ) -> list[dict]:
        where, order, params = minings_filter(
            self.dialect.mark, status=status, user_id=user_id, newest_first=newest_first, limit=limit
        )
        return await self._minings(where, params, order)

    async def mining(self, mining_id: str) -> dict | None:
        """One mining as :meth:`minings` lists it, or None."""
        return next(iter(await self._minings(f"WHERE id = {self.dialect.mark}", (mining_id,))), None)

    async def _minings(self, where: str, params: Sequence, order: str = "ORDER BY started_at, id") -> list[dict]:
        found = await self._read(MININGS.format(where=where, order=order), params)
        return [mining_from_row(r, self.dialect.codec, self._mining_time) for r in found]

    dialect: Dialect

    async def _read(self, query: str, params: Sequence) -> list[tuple]:
        raise NotImplementedError

    async def persons_page(
        self,
        user_id: str,
        *,
        after: str | None = None,
        limit: int = 100,
        sort: str = "temperature",
        tags: Sequence[str] = (),
        min_temperature: int | None = None,
        search: str | None = None,
    ) -> tuple[list[RefinedPerson], str | None]:
        query, params = persons_page_query(
            self.dialect, user_id, after=after, limit=limit, sort=sort, tags=tags, min_temperature=min_temperature,
            search=search,
        )  # fmt: skip
        return persons_page(await self._read(query, params), limit, sort, self.dialect.codec)

    async def persons_for_export(self, user_id: str, emails: Sequence[str] | None = None) -> list[RefinedPerson]:
        if emails is None:
            return await self.persons(user_id)  # type: ignore[attr-defined]
        return persons_order(list((await self.persons_by_email(user_id, emails)).values()))  # type: ignore[attr-defined]
