"""Address shapes shared by clean and tagging: parts of an address, words of a local part, parent domains.

No word lists live here: what a word means (role, no-reply, broadcast, notifier …)
is :mod:`leadminer.clean`'s and :mod:`leadminer.tagging`'s business; this module
only says how an address is cut up.

Two tokenizers, on purpose (each side's results depend on its own, so they were
kept as they were when the two copies were brought together):

* :func:`separator_tokens` (clean: role and no-reply words) splits the lower-cased
  local part, ``+tag`` dropped, at runs of ``. _ -`` only, so ``noreply-1234`` →
  ``noreply``, ``1234`` and ``info2`` stays whole (clean then strips trailing digits);
  a local part that starts with ``+`` is kept whole.
* :func:`word_tokens` (tagging: sender words) also splits between letters and
  digits (``news2go`` → ``news``, ``2``, ``go``), keeps the case it is given and
  drops everything from the first ``+`` (a leading ``+`` leaves no word).
"""

from __future__ import annotations

import re

__all__ = [
    "DIGITS",
    "domain_in",
    "local_base",
    "org_label",
    "registrable_size",
    "separator_tokens",
    "split_address",
    "subdomain_labels",
    "word_tokens",
]

DIGITS = "0123456789"
"""ASCII digits (``str.rstrip`` argument for ``info2`` → ``info``)."""

_SEPARATORS = re.compile(r"[._\-]+")
_WORD_TOKEN = re.compile(r"[^._+\-\d]+|\d+")
_TWO_LEVEL_SUFFIXES = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go"})


def split_address(email: str | None) -> tuple[str, str]:
    """(local part, domain) in lower case, the domain without trailing dots; ``("", "")`` without an ``@``."""
    if not email or "@" not in email:
        return "", ""
    local, _at, domain = email.rpartition("@")
    return local.lower(), domain.lower().rstrip(".")


def local_base(local: str) -> str:
    """The lower-cased local part without its ``+tag``; whole when it starts with ``+``."""
    lower = local.lower()
    return lower.partition("+")[0] or lower


def separator_tokens(local: str) -> list[str]:
    """Tokens of :func:`local_base` split at runs of ``. _ -`` (``Sales.EMEA-2`` → ``sales``, ``emea``, ``2``)."""
    return [t for t in _SEPARATORS.split(local_base(local)) if t]


def word_tokens(local: str) -> list[str]:
    """Words of a local part: split at ``. _ - +`` and between letters and digits, ``+tag`` dropped."""
    return _WORD_TOKEN.findall(local.partition("+")[0])


def domain_in(domain: str, domains: frozenset[str] | set[str]) -> bool:
    """``domain`` or one of its parent domains of two labels or more is in ``domains``
    (``a.b.example.com`` → ``a.b.example.com``, ``b.example.com``, ``example.com``; never ``com``)."""
    while "." in domain:
        if domain in domains:
            return True
        domain = domain.partition(".")[2]
    return False


def registrable_size(labels: list[str]) -> int:
    """How many labels the registrable domain has: 3 for ``x.co.uk``-style names, else 2
    (an approximation without the Public Suffix List)."""
    return 3 if len(labels) >= 3 and labels[-2] in _TWO_LEVEL_SUFFIXES and len(labels[-1]) == 2 else 2


def subdomain_labels(domain: str) -> list[str]:
    """Labels left of the registrable domain (``lists.apple.com`` → ``lists``)."""
    labels = domain.split(".")
    return labels[: -registrable_size(labels)]


def org_label(domain: str) -> str:
    """The registrable label of a domain, which names the organisation (``mail.enron.com`` → ``enron``)."""
    labels = domain.split(".")
    keep = registrable_size(labels)
    return labels[-keep] if len(labels) >= keep else ""
