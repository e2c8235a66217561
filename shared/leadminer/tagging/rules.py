"""Message tags: the ordered decision list over a message's facts.

:func:`classify` tries the rules in order; the first that answers (a list of
tags, possibly empty) decides. docs/quality-tagging.md explains each rule and
how it was measured.
"""

from __future__ import annotations

from ..addresses import domain_in
from ..clean import is_role
from ..contracts import MessageRecord
from .facts import (
    FEEDBACK_HEADER,
    GROUP_HEADER,
    LIST_HEADER,
    MARKETING_HEADER,
    RELAY_HEADER,
    SOCIAL_HEADER,
    UNSUBSCRIBE_HEADER,
    Message,
)
from .lists import list_address_sets, named_list_addresses
from .shapes import first_address, list_of_admin
from .vocabulary import (
    ACCOUNT_BODY,
    ACCOUNT_SUBJECT,
    ANNOUNCE,
    ANNOUNCE_NAME,
    AUTOMATED_BODY,
    BULK_MAILER,
    DIGEST,
    GROUP,
    GROUP_FOOTER,
    NEWSLETTER,
    NEWSLETTER_SUBJECT,
    OWNER_LOCAL,
    PRECEDENCE_BULK,
    SELF_DECLARED_AUTOMATED_BODY,
    SOCIAL,
    SOCIAL_DOMAINS,
    TRANSACTIONAL,
)


def tag_message(record: MessageRecord) -> list[str]:
    """Tags of one message from its headers, addresses, subject and body.

    Returns ``[]`` for ordinary person-to-person mail, otherwise one kind
    (``newsletter``, ``transactional``, ``group`` or ``social``), or
    ``["group", "transactional"]`` for a machine's message relayed by a list.
    """
    return classify(Message(record))


def tags_and_list_addresses(record: MessageRecord) -> tuple[list[str], list[str]]:
    """:func:`tag_message` and :func:`~leadminer.tagging.list_addresses` of one message, reading
    it once (what the extract stage calls)."""
    message = Message(record)
    return classify(message), named_list_addresses(message)


def classify(m: Message) -> list[str]:
    """The decision list; the first rule that answers decides.

    1. A social network's header or domain: ``social`` (its mail server's bounce: ``transactional``).
    2. Mail that came through a mailing list (:func:`list_rule`); a machine's message on a
       discussion list is ``group`` + ``transactional``.
    3. Machine-made mail (:meth:`.facts.Message.machine_made`): ``transactional``.
    4. Headers of bulk senders (:func:`bulk_rule`).
    5. A reply, never a newsletter: ``group`` with list-traffic signs, else a person's mail.
    6. The sender's shape, the recipients, the subject and the body (:func:`sender_rule`).

    (The one-line rules are written out here rather than as functions in a loop: the
    calls cost more than they do.)
    """
    if m.flags & SOCIAL_HEADER or domain_in(m.domain, SOCIAL_DOMAINS):
        return [TRANSACTIONAL] if m.delivery_report() else [SOCIAL]
    tags = list_rule(m)
    if tags is not None:
        return tags
    if m.machine_made():
        return [TRANSACTIONAL]
    tags = bulk_rule(m)
    if tags is not None:
        return tags
    if m.is_reply:
        return [GROUP] if m.list_traffic_signs() else []
    return sender_rule(m)


# --------------------------------------------------------------------------- rules 2, 4 and 6


def list_rule(m: Message) -> list[str] | None:
    """Tags of mail that came through a mailing list, None when it did not."""
    named, derived = list_address_sets(m)
    lists = named | derived
    list_post = m.header("list-post")
    post_open = bool(list_post) and not list_post.lower().startswith("no")
    mailing_list = m.header("mailing-list").lower()
    admin_of = list_of_admin(m.email) if m.email else None
    if admin_of:
        lists.add(admin_of)
    from_list = bool(m.email) and (
        m.email in lists or bool(admin_of) or any(m.local == a.partition("@")[0] for a in lists)
    )
    addressed = not lists.isdisjoint(m.recipients)
    discussion = (
        post_open
        or mailing_list.startswith("list ")
        or bool(m.flags & GROUP_HEADER)
        or (addressed and not from_list)
    )
    if not (discussion or from_list or (list_post and not post_open)):
        return None
    if m.machine_made():
        return [GROUP, TRANSACTIONAL] if discussion else [TRANSACTIONAL]
    announce = (
        (bool(list_post) and not post_open)
        or any(ANNOUNCE.search(a.partition("@")[0]) for a in lists)
        or bool(ANNOUNCE_NAME.search(m.header("list-id")))
    )
    if m.is_reply and discussion and not announce:
        return [GROUP]
    if announce or m.flags & MARKETING_HEADER:
        return [NEWSLETTER]
    if from_list:
        # the list speaks for itself: a digest of a discussion list, else a bulletin
        if DIGEST.search(m.lower_subject) and discussion:
            return [GROUP]
        if m.transactional_subject:
            return [TRANSACTIONAL]  # list administrivia (membership reminders, confirmations)
        if OWNER_LOCAL.search(m.local):
            return [GROUP]  # the list owner posting to the list
        return [GROUP] if post_open and not DIGEST.search(m.lower_subject) else [NEWSLETTER]
    if not post_open and m.list_broadcaster():
        return [NEWSLETTER]  # e.g. newsletter@ posting to its own Majordomo list
    return [GROUP]


def bulk_rule(m: Message) -> list[str] | None:
    """Headers of bulk senders (no list seen): newsletter, or a relay notice."""
    flags = m.flags
    x_mailer = (m.header("x-mailer") or m.header("user-agent")).lower()
    marketing = bool(flags & MARKETING_HEADER) or bool(x_mailer and BULK_MAILER.search(x_mailer))
    has_unsubscribe = bool(flags & UNSUBSCRIBE_HEADER)
    list_headers = bool(flags & LIST_HEADER)
    bulk_precedence = m.header("precedence").lower() in PRECEDENCE_BULK
    if m.is_reply and not marketing and (has_unsubscribe or list_headers or bulk_precedence):
        return [GROUP]  # a conversation on a list whose headers were not kept
    if (not marketing or m.shipment_subject) and m.transactional_subject and m.notifier:
        return [TRANSACTIONAL]  # a list server's membership reminder, a parcel notice sent by an ESP
    if marketing or has_unsubscribe or list_headers:
        return [NEWSLETTER]
    if flags & (RELAY_HEADER | FEEDBACK_HEADER):
        return [TRANSACTIONAL]  # relay ESP without List-Unsubscribe: a notification, not a campaign
    if m.is_reply:
        return None
    if m.self_declared_automated():
        return [TRANSACTIONAL]
    errors_to = m.header("errors-to").lower()
    bulk_envelope = bulk_precedence or bool(errors_to and list_of_admin(first_address(errors_to) or "") is None)
    if ACCOUNT_SUBJECT.search(m.lower_subject) and (bulk_envelope or m.sent_in_bulk):
        return [TRANSACTIONAL]  # "You're signed up", "Confirm your e-mail" from a program
    if bulk_envelope:
        if m.transactional_subject and m.notifier:
            return [TRANSACTIONAL]
        if m.list_traffic_signs() and not m.broadcaster():
            return [GROUP]
        return [TRANSACTIONAL] if m.notice_body() else [NEWSLETTER]
    return None


def sender_rule(m: Message) -> list[str]:
    """No bulk header: the sender, the recipients, the subject and the body.

    Only the sender's own shape decides alone (no-reply, a generated address,
    a local part made of broadcast words). Weaker signs — body phrases, a
    broadcast word next to a name, the display name, a bulk sub-domain, a
    periodical subject — count only with a header sign of one-to-many
    sending (:attr:`.facts.Message.sent_in_bulk`), so that people who write about
    newsletters, or are called Newsome, stay people.
    """
    if m.transactional_subject and (m.notifier or is_role(m.local)):
        return [TRANSACTIONAL]
    if not m.sent_in_bulk:
        body = m.body
        if SELF_DECLARED_AUTOMATED_BODY.search(body) or (not m.name.strip() and AUTOMATED_BODY.search(body)):
            # a notice phrase counts from a sender without a display name: mail clients
            # send their user's name, programs often send a bare address
            return [TRANSACTIONAL]
        return [GROUP] if m.list_traffic_signs() else []
    broadcast = (
        m.strong_broadcaster
        or (not m.is_forward and m.blind_copy_blast())
        or (m.org_sender and m.mass_addressed)  # the organisation mailing all
        or m.broadcaster()
        or m.broadcast_name()
        or (not m.is_forward and NEWSLETTER_SUBJECT.search(m.lower_subject) is not None)
    )
    body = m.body
    if body:
        if GROUP_FOOTER.search(body):
            return [GROUP]
        automated = (
            SELF_DECLARED_AUTOMATED_BODY.search(body)
            or AUTOMATED_BODY.search(body)
            or (m.notifier and ACCOUNT_BODY.search(body))
        )
        if broadcast and not automated:
            return [NEWSLETTER]  # the body can only confirm it
        if m.newsletter_body:
            return [NEWSLETTER]
        if automated:
            return [TRANSACTIONAL]
    if broadcast:
        return [NEWSLETTER]
    if m.list_traffic_signs():
        return [GROUP]
    return []
