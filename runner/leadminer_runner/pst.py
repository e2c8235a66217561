"""Outlook ``.pst`` / ``.ost`` files as a message source (libpff-python, a C extension:
runner only, never the core).

Each message becomes an RFC 5322 message the core mines like any other: its
transport headers when Outlook kept them (mail received over SMTP), else
headers made from the MAPI properties (sender, recipients with their To / Cc /
Bcc type, subject, dates, Message-ID, In-Reply-To, References); the body is the
plain-text body, capped like every source's. A message that cannot be read is a
failure with its reason; folders are walked depth first, named by their path.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadminer.contracts import FailedMessage, RawMessage
from leadminer.pipeline import DEFAULT_BODY_CAP
from leadminer.sources import printable_path

PST_MAGIC = b"!BDN"

# MAPI property tags (the low 16 bits give the type, the entry type is the high part)
PR_SUBJECT = 0x0037
PR_SENDER_NAME = 0x0C1A
PR_SENDER_EMAIL_ADDRESS = 0x0C1F
PR_SENT_REPRESENTING_NAME = 0x0042
PR_SENT_REPRESENTING_EMAIL_ADDRESS = 0x0065
PR_INTERNET_MESSAGE_ID = 0x1035
PR_IN_REPLY_TO_ID = 0x1042
PR_INTERNET_REFERENCES = 0x1039
PR_DISPLAY_NAME = 0x3001
PR_EMAIL_ADDRESS = 0x3003
PR_SMTP_ADDRESS = 0x39FE
PR_RECIPIENT_TYPE = 0x0C15
RECIPIENT_FIELDS = {1: "To", 2: "Cc", 3: "Bcc"}
_DROPPED_HEADERS = ("content-type:", "content-transfer-encoding:", "mime-version:")


def is_pst(path: Path) -> bool:
    """Whether the file starts with the PST / OST signature."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) == PST_MAGIC
    except OSError:
        return False


def _properties(item: Any) -> dict[int, Any]:
    """The item's MAPI properties of its first record set, by tag (strings decoded, others raw)."""
    found: dict[int, Any] = {}
    if not item.number_of_record_sets:
        return found
    record_set = item.get_record_set(0)
    for index in range(record_set.number_of_entries):
        entry = record_set.get_entry(index)
        try:
            found[entry.entry_type] = entry.get_data_as_string()
        except Exception:  # noqa: BLE001 - not a string property: its integer, else skipped
            try:
                found[entry.entry_type] = entry.get_data_as_integer()
            except Exception:  # noqa: BLE001
                continue
    return found


def _address(name: str | None, address: str | None) -> str:
    return email.utils.formataddr((name or "", address)) if address and "@" in address else ""


def _recipients(message: Any) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    recipients = message.recipients
    for index in range(recipients.number_of_sub_items if recipients is not None else 0):
        props = _properties(recipients.get_sub_item(index))
        address = props.get(PR_SMTP_ADDRESS) or props.get(PR_EMAIL_ADDRESS)
        formatted = _address(props.get(PR_DISPLAY_NAME), address)
        if formatted:
            fields.setdefault(RECIPIENT_FIELDS.get(props.get(PR_RECIPIENT_TYPE), "To"), []).append(formatted)
    return fields


def _made_headers(message: Any, props: dict[int, Any]) -> list[str]:
    sender = _address(
        props.get(PR_SENT_REPRESENTING_NAME) or props.get(PR_SENDER_NAME),
        props.get(PR_SENT_REPRESENTING_EMAIL_ADDRESS) or props.get(PR_SENDER_EMAIL_ADDRESS),
    )
    when = message.client_submit_time or message.delivery_time
    headers = [f"From: {sender}"] if sender else []
    headers += [f"{field}: {', '.join(values)}" for field, values in _recipients(message).items()]
    if subject := message.subject or props.get(PR_SUBJECT):
        headers.append(f"Subject: {subject}")
    if isinstance(when, datetime):
        headers.append(f"Date: {email.utils.format_datetime(when.replace(tzinfo=when.tzinfo or UTC))}")
    message_id = props.get(PR_INTERNET_MESSAGE_ID) or f"<pst-{message.identifier}@leadminer.invalid>"
    headers.append(f"Message-ID: {message_id}")
    for tag, name in ((PR_IN_REPLY_TO_ID, "In-Reply-To"), (PR_INTERNET_REFERENCES, "References")):
        if value := props.get(tag):
            headers.append(f"{name}: {value}")
    return headers


def to_rfc822(message: Any, body_cap: int = DEFAULT_BODY_CAP) -> bytes:
    """One PST message as RFC 5322 bytes: its transport headers, or headers made from its
    properties, and its plain-text body (UTF-8, capped)."""
    transport = (message.transport_headers or "").strip()
    if transport:
        headers = [line for line in transport.splitlines() if not line.lower().startswith(_DROPPED_HEADERS)]
    else:
        headers = _made_headers(message, _properties(message))
    headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    body = message.plain_text_body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body[:body_cap]


class PstMessageSource:
    """An Outlook data file, as a message source (uid: the message's PST identifier)."""

    def __init__(self, path: str | Path, body_cap: int = DEFAULT_BODY_CAP):
        import pypff

        self.path = Path(path)
        self.label = printable_path(self.path.resolve())
        self.body_cap = body_cap
        self._file = pypff.file()
        self._file.open(str(self.path))

    def _walk(self, folder: Any, path: str) -> Iterator[tuple[str, Any, int]]:
        name = printable_path(folder.name or "")
        here = f"{path}/{name}" if name and path else name or path
        for index in range(folder.number_of_sub_messages):
            yield here, folder, index
        for index in range(folder.number_of_sub_folders):
            yield from self._walk(folder.get_sub_folder(index), here)

    def count(self, _state: Any = None) -> int:
        return sum(1 for _ in self._walk(self._file.get_root_folder(), ""))

    def iter_messages(self, mining_id: str, _state: Any = None) -> Iterator[RawMessage | FailedMessage]:
        for folder_path, folder, index in self._walk(self._file.get_root_folder(), ""):
            uid = f"{folder_path}#{index}"
            try:
                message = folder.get_sub_message(index)
                uid = str(message.identifier)
                data = to_rfc822(message, self.body_cap)
            except Exception as exc:  # noqa: BLE001 - a damaged item: recorded, the rest is read
                yield FailedMessage(mining_id, folder_path, uid, f"cannot read this Outlook item: {exc}")
                continue
            yield RawMessage(mining_id, folder_path, uid, data)
