"""The mailing-list addresses a message names (List-Post, X-BeenThere, List-Id + recipient, list admins)."""

from __future__ import annotations

import re

from ..contracts import MessageRecord
from .facts import Message
from .shapes import ADDRESS, first_address, list_of_admin

_MAILTO = re.compile(r"<\s*mailto:\s*([^>?\s]+)", re.I)
_LIST_ID = re.compile(r"<([^<>\s]+)>|^\s*([^\s<>]+)\s*$")


def list_addresses(record: MessageRecord) -> list[str]:
    """Mailing-list addresses a message names (lower case, sorted).

    The List-Post / X-BeenThere / X-Mailing-List / Yahoo ``Mailing-List``
    addresses, the recipient that List-Id names (vger lists have no List-Post:
    ``List-Id: <linux-kernel.vger.kernel.org>`` + ``Cc: linux-kernel@vger.kernel.org``),
    and recipients that list-admin addresses point to (``Sender: owner-foo@x``
    + ``To: foo@x``). The refine stage tags these addresses ``group``; extract
    may add them as ``list_post`` points of contact
    (:func:`~leadminer.tagging.tags_and_list_addresses` returns them with the tags).
    """
    return named_list_addresses(Message(record))


def named_list_addresses(message: Message) -> list[str]:
    """The list addresses :func:`list_addresses` returns (sorted)."""
    named, derived = list_address_sets(message)
    if derived:
        named = named | derived.intersection(message.recipients)
    return sorted(named)


def list_address_sets(message: Message) -> tuple[set[str], set[str]]:
    """(named, derived) mailing-list addresses of a message, read once and kept on it.

    *named*: what list headers say outright — List-Post, X-BeenThere,
    X-Mailing-List, Yahoo's ``Mailing-List: list X``, a recipient that
    List-Id names (``<name.host>`` → ``name@host``), a Sender that is also
    a recipient (LISTSERV, LetterRip). *derived*: list addresses read off
    list-admin addresses (``owner-X@``, ``X-request@``, ``X-admin@`` …) in
    Sender, Errors-To, Return-Path and Mailing-List's contact.
    """
    sets = message.list_sets
    if sets is None:
        sets = message.list_sets = _read_list_addresses(message)
    return sets


def _read_list_addresses(message: Message) -> tuple[set[str], set[str]]:
    h = message.h
    named: set[str] = set()
    derived: set[str] = set()
    if "list-post" in h:
        post = _mailto(h["list-post"])
        if post:
            named.add(post)
    for name in ("x-beenthere", "x-mailing-list"):
        value = h.get(name)
        if value:
            address = first_address(value)
            if address:
                named.add(address)
    mailing_list = h.get("mailing-list")
    if mailing_list:
        mailing_list = mailing_list.strip().lower()
        if mailing_list.startswith("list "):
            address = first_address(mailing_list)
            if address:
                named.add(address)
        for address in ADDRESS.findall(mailing_list):
            derived.add(list_of_admin(address) or address)
    list_id_value = h.get("list-id")
    if list_id_value:
        list_id = _LIST_ID.search(list_id_value.strip())
        if list_id:
            ident = (list_id.group(1) or list_id.group(2)).lower()
            named.update(r for r in message.recipients if _list_id_matches(ident, r))
    for name in ("errors-to", "return-path"):
        value = h.get(name)
        if value and "-" in value:
            admin_of = list_of_admin(first_address(value) or "")
            if admin_of:
                derived.add(admin_of)
    for address in message.senders:
        admin_of = list_of_admin(address)
        if admin_of:
            derived.add(admin_of)
        if address in message.recipients and address != message.email:
            named.add(address)  # LISTSERV / LetterRip: the list itself is the Sender
    return named, derived


def _mailto(value: str) -> str | None:
    match = _MAILTO.search(value)
    return match.group(1).lower() if match else None


def _list_id_matches(list_id: str, address: str) -> bool:
    """RFC 2919: List-Id ``<name.host>`` names the list ``name@host`` (by convention)."""
    local, _at, domain = address.rpartition("@")
    return bool(local) and list_id in (f"{local}.{domain}", f"{local}.list-id.{domain}")
