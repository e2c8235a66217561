"""What the shape of one address (or Message-ID) says: machine-made, a notifier, a list, a bounce collector.

Functions of strings only; :mod:`.facts` applies them to a message's sender and
recipients once. How an address is cut up is :mod:`leadminer.addresses`'.
"""

from __future__ import annotations

import re

from ..addresses import DIGITS, domain_in, org_label, split_address, subdomain_labels, word_tokens
from ..clean import is_no_reply
from .vocabulary import (
    ADMIN_SUFFIXES,
    BOUNCE_WORDS,
    BROADCAST_WORDS,
    LIST_DOMAIN_LABELS,
    LIST_DOMAINS,
    LIST_LOCAL_PREFIXES,
    LIST_LOCAL_SUFFIXES,
    NOTIFIER_ENDINGS,
    NOTIFIER_ID_FIRST,
    NOTIFIER_ID_START,
    NOTIFIER_WORDS,
    STRONG_BROADCAST_WORDS,
)

ADDRESS = re.compile(r"[\w.+=!#$%&'*/?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
"""An address inside a header value (Return-Path, X-BeenThere, Mailing-List …)."""

_MACHINE_LOCAL = re.compile(r"[#=]|^\d|^[a-z]{0,2}[-_.]\d")
_DIGIT = re.compile(r"\d")
_TMDA = frozenset({"dated", "exp", "confirm", "keyword", "sender"})
_NAME_WORD = re.compile(r"[a-z]+")


def first_address(value: str | None) -> str | None:
    """The first address in a header value, lower case."""
    if not value:
        return None
    match = ADDRESS.search(value)
    return match.group(0).lower() if match else None


def is_generated_local(local: str) -> bool:
    """True for machine-made local parts (VERP, per-recipient tokens): ``Online#3.19578.34-Ug…``,
    ``2.20290.44-t9bs…``, ``body_216095411795471888``, ``R-1-270241-…``. TMDA-style dated
    addresses of people (``jason-exp-1031164464.7f11b3``) are not."""
    base = local.partition("+")[0]
    if len(base) < 12:
        return False
    digits = len(_DIGIT.findall(base))
    if digits < 4:
        return False
    tokens = word_tokens(base)
    if len(tokens) > 1 and tokens[1] in _TMDA:
        return False
    if _MACHINE_LOCAL.search(base):
        return True
    return digits >= 8 and digits / len(base) >= 0.3


def sender_words(local: str) -> list[str]:
    """The non-numeric words of a local part."""
    return [t for t in word_tokens(local) if not t.isdigit()]


def is_notifier_words(words: list[str]) -> bool:
    """Some word of a local part names a notification sender (``notify``, ``billing`` …), or the
    words end in a machine word glued to a system's name (``arsystem``, ``sysnotify``)."""
    for t in words:
        if t in NOTIFIER_WORDS:
            return True
    return "".join(words).endswith(NOTIFIER_ENDINGS)


def only_broadcast_words(words: list[str], domain: str) -> bool:
    """Every word is a broadcast word or the domain's own name, and one is a broadcast word
    (``newsletter@``, ``enron.announcements@enron.com``, ``rssfeeds@``)."""
    if not words:
        return False
    org = org_label(domain)
    found = False
    for word in words:
        if word in BROADCAST_WORDS:
            found = True
        elif word != org:
            return False
    return found


def is_org_sender(words: list[str], domain: str, name: str) -> bool:
    """The sender is the organisation itself: the local part is its name (``fool@motleyfool.com``,
    ``toysrus.com@toysrus.com``) or the display name is (``Amazon.com <gift@amazon.com>``)."""
    if not words:
        return False
    labels = domain.split(".")
    org = org_label(domain)
    if all((len(w) > 2 and w in org) or w in labels for w in words):
        return True
    name = name.strip().lower()  # the display name is the company's domain or name: "Amazon.com"
    return len(org) > 2 and name in (org, f"{org}.{labels[-1]}", domain)


def is_broadcast_name(name: str) -> bool:
    """The display name says newsletter / news / digest … (a whole word)."""
    return bool(name) and not STRONG_BROADCAST_WORDS.isdisjoint(_NAME_WORD.findall(name.lower()))


def looks_like_list_address(email: str) -> bool:
    """True when an address has the shape of a mailing list (``linux-xfs@oss.sgi.com`` does not,
    ``rpm-list@…``, ``owner-announce@…``, ``*@yahoogroups.com``, ``*@lists.example.org`` do)."""
    local, domain = split_address(email)
    if not local:
        return False
    if domain_in(domain, LIST_DOMAINS) or any(label in LIST_DOMAIN_LABELS for label in subdomain_labels(domain)):
        return True
    return local.endswith(LIST_LOCAL_SUFFIXES) or local.startswith(LIST_LOCAL_PREFIXES) or local.endswith("list")


def list_of_admin(address: str) -> str | None:
    """``owner-foo@x`` / ``foo-request@x`` / ``foo-admin@x`` … → ``foo@x``; else None."""
    local, _at, domain = address.lower().rpartition("@")
    if not domain or "-" not in local:
        return None
    if local.startswith("owner-"):
        name = local[6:]
    else:
        name, _dash, suffix = local.rpartition("-")
        if suffix not in ADMIN_SUFFIXES:
            return None
    return f"{name}@{domain}" if name and name not in ("mailer", "mailman", "postmaster") else None


def is_bounce_address(address: str) -> bool:
    """An envelope sender that collects bounces of bulk mail: generated (VERP), no-reply / bounce
    words, or a bounce sub-domain. SRS addresses of forwarders are not."""
    local, domain = split_address(address)
    if not local or local.startswith(("srs0=", "srs1=")):
        return False
    return (
        "=" in local
        or is_no_reply(local)
        or is_generated_local(local)
        or not BOUNCE_WORDS.isdisjoint(word_tokens(local))
        or list_of_admin(address) is not None
        or any(label.rstrip(DIGITS) in BOUNCE_WORDS for label in subdomain_labels(domain))
    )


def is_notifier_id(value: str) -> bool:
    """A Message-ID made by a ticket or code-review system."""
    if not value:
        return False
    if value[0] in NOTIFIER_ID_FIRST and NOTIFIER_ID_START.match(value):
        return True
    domain = value.rpartition("@")[2].lower()
    return domain in ("github.com", "bitbucket.org") or domain.startswith("gitlab.")
