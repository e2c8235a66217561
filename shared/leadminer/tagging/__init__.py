"""Message tags (from headers) and person tags (from all of a person's messages).

Message tags — :func:`tag_message` — say what KIND of mail a message is:

* ``group`` — it came through (or belongs to) a discussion list: List-Post,
  Yahoo/eGroups, Google Groups, vger/SmartList ``X-Mailing-List``, Ecartis …;
* ``newsletter`` — one-to-many mail nobody answers: List-Unsubscribe / List-Id
  without List-Post, marketing ESP fingerprints, bulk mailers, Precedence
  bulk/list without discussion-list signs, broadcast senders (``news@``,
  ``newsletter@``, VERP-style generated local parts, ``lists.`` sub-domains),
  an unsubscribe footer;
* ``transactional`` — mail a machine sent about one account or event:
  Auto-Submitted, bounces and receipts (``multipart/report``, a null
  Return-Path ``<>``, the MTA's own sender name), notification systems
  (Bugzilla, GitHub, Jira …), relay ESPs without List-Unsubscribe, and
  receipt / password / verification wording from automated-looking senders;
* ``social`` — notifications of social networks (LinkedIn, Facebook, X …).

The rules are an ordered decision list; docs/quality-tagging.md explains each
one and how they were measured. A reply (``Re:``, In-Reply-To, References) is
never a newsletter: weak bulk signs on a reply mean list traffic (``group``).
Header signs decide; weak signs — body phrases, account-like subjects, a
broadcast word beside a name, the display name, a bulk sub-domain — count
only next to a header sign of bulk or program-sent mail, and local-part words
match as whole tokens, so a person who writes personally (``newsome@``, a
colleague asking how to unsubscribe) is never tagged.

:func:`tags_and_list_addresses` gives the tags and the list addresses of a
message from one reading (what the pipeline's extract stage calls).

The package, by concern: :mod:`.vocabulary` (tag names, header fingerprints,
words, subject patterns, body phrases), :mod:`.shapes` (what one address says:
generated, notifier, list, bounce collector), :mod:`.facts` (the facts about one
message, each computed once), :mod:`.lists` (the list addresses a message
names), :mod:`.rules` (the ordered decision list), :mod:`.persons` (person
tags). How an address is cut up is :mod:`leadminer.addresses`, shared with
:mod:`leadminer.clean`.

Person tags — :func:`person_tags` — are conservative: a person is tagged
newsletter / transactional / social only when EVERY message they sent says so
and they never wrote personally; a list address is ``group``, a person who
posts to a list is a person.
"""

from __future__ import annotations

from .lists import list_addresses
from .persons import person_tags
from .rules import tag_message, tags_and_list_addresses
from .shapes import is_generated_local, looks_like_list_address
from .vocabulary import (
    AUTOMATED_KINDS,
    GROUP,
    NEWSLETTER,
    SOCIAL,
    TAGGING_HEADER_PREFIXES,
    TAGGING_HEADERS,
    TRANSACTIONAL,
    is_tagging_header,
)

__all__ = [
    "AUTOMATED_KINDS",
    "GROUP",
    "NEWSLETTER",
    "SOCIAL",
    "TAGGING_HEADERS",
    "TAGGING_HEADER_PREFIXES",
    "TRANSACTIONAL",
    "is_generated_local",
    "is_tagging_header",
    "list_addresses",
    "looks_like_list_address",
    "person_tags",
    "tag_message",
    "tags_and_list_addresses",
]
