"""Person tags from all of a person's messages: conservative, one personal message keeps a person."""

from __future__ import annotations

from collections.abc import Sequence

from ..contracts import Tag
from .shapes import looks_like_list_address
from .vocabulary import AUTOMATED_KINDS, GROUP


def person_tags(
    sent_message_tags: Sequence[Sequence[str]],
    address_tags: Sequence[str],
    *,
    wrote_personally: bool,
    email: str | None = None,
) -> list[str]:
    """Tags of one person from the tags of the messages they sent and of their address.

    * ``group`` when the address is a list address: ``address_tags`` already
      holds ``group`` (the caller saw it in List-Post), or — when ``email`` is
      given — every message they sent is group traffic AND the address looks
      like a list (:func:`looks_like_list_address`). A person who posts to a
      list is NOT group.
    * ``newsletter`` / ``transactional`` / ``social`` only when the person never
      wrote personally and EVERY message they sent carries an automated kind;
      each kind found is kept (a shop sending promotions and receipts gets
      both). One personal message (a colleague's calendar invite among real
      mail, a newsletter editor's reply) keeps them a person.
    * the address tags (role, no-reply, disposable, personal/professional,
      user) follow, without duplicates.
    """
    sent = [set(tags) for tags in sent_message_tags]
    out: list[str] = []
    is_list = GROUP in address_tags or (
        email is not None
        and Tag.PERSONAL.value not in address_tags  # free-mail mailboxes do not run lists
        and bool(sent)
        and all(GROUP in t for t in sent)
        and looks_like_list_address(email)
    )
    if is_list:
        out.append(GROUP)
    elif sent and not wrote_personally and all(t.intersection(AUTOMATED_KINDS) for t in sent):
        out.extend(kind for kind in AUTOMATED_KINDS if any(kind in t for t in sent))
    for tag in address_tags:
        if tag not in out:
            out.append(tag)
    return out
