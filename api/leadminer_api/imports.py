"""The body of Leadminer's contacts import (``POST /api/imap/mine/file/{user_id}`` with JSON):
``{name, contacts: [{email, name?, given_name?, family_name?, alternate_name?, location?,
works_for?, job_title?, same_as?, image?, …}], cleaningEnabled?}``, the rows its web app
parsed from a CSV or spreadsheet. Other columns are ignored; a bad row is a 422 naming it
(``contacts.<index>.<column>``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadminer.imports import ImportedContact

MAX_ROWS = 100_000
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}")


def _listed(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class ImportedRow(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: str
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    alternate_name: str | None = None  # comma-separated
    location: str | None = None
    works_for: str | None = None
    job_title: str | None = None
    same_as: str | list[str] | None = None  # profile URLs, comma-separated or a list
    image: str | None = None

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _EMAIL.fullmatch(value):
            raise ValueError(f"not an email address: {value!r}")
        return value

    @field_validator("same_as", "image")
    @classmethod
    def _urls(cls, value: str | list[str] | None) -> Any:
        urls = value if isinstance(value, list) else _listed(value)
        if bad := [u for u in urls if not _url(u)]:
            raise ValueError(f"not a web address: {bad[0]!r}")
        return value

    def contact(self) -> ImportedContact:
        same_as = self.same_as if isinstance(self.same_as, list) else _listed(self.same_as)
        return ImportedContact(
            email=self.email, name=self.name or None, given_name=self.given_name or None,
            family_name=self.family_name or None, alternate_names=_listed(self.alternate_name),
            location=self.location or None, works_for=self.works_for or None, job_title=self.job_title or None,
            same_as=[u.strip() for u in same_as if u.strip()], image=self.image or None,
        )  # fmt: skip


class ContactsImport(BaseModel):
    name: str = Field(min_length=1, max_length=255)  # the file's name
    contacts: list[ImportedRow] = Field(min_length=1, max_length=MAX_ROWS)
    cleaningEnabled: bool = True  # noqa: N815 - Leadminer's field; the addresses are always checked offline


_COLUMNS = ("name", "given_name", "family_name", "alternate_name", "location", "works_for", "job_title", "same_as", "image")
CONTACTS_IMPORT_SCHEMA = {
    "type": "object",
    "required": ["name", "contacts"],
    "properties": {
        "name": {"type": "string", "description": "the imported file's name"},
        "cleaningEnabled": {"type": "boolean"},
        "contacts": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_ROWS,
            "items": {
                "type": "object",
                "required": ["email"],
                "properties": {"email": {"type": "string"}, **{c: {"type": ["string", "null"]} for c in _COLUMNS}},
            },
        },
    },
}
"""The body for ``/docs`` (the route reads it itself, after authenticating)."""
