"""Clean stage: one address → deliverability status + address tags.

* **Syntax** with email-validator (no network; SMTPUTF8 allowed). A bad address
  is INVALID with the library's message as reason.
* **Status** comes from the :class:`~leadminer.mx.MxChecker`: VALID only when a
  lookup said the domain takes mail; INVALID when it provably does not
  (NXDOMAIN, null MX, neither MX nor A); UNKNOWN when nothing was checked
  (the offline default) or the lookup failed or timed out — the reason says
  which. Verdicts are cached per domain.
* **Tags** (:class:`~leadminer.contracts.Tag`), in this order:

  - ``disposable`` — the domain or a parent domain is on the
    ``disposable-email-domains`` blocklist;
  - ``personal`` — a free / consumer mailbox provider (``data/free_email_providers.txt``);
    ``professional`` — any other valid, non-disposable domain;
  - ``role`` — the local part names a function (``data/role_local_parts.txt``:
    the whole local part, or its first or last token split at ``. _ -``;
    ``data/role_exact_local_parts.txt``: whole local part only);
  - ``no-reply`` — see :func:`is_no_reply`;
  - ``user`` — one of the mailbox owner's identities (exact, or the same
    canonical key, i.e. ignoring a ``+tag``).

Results are cached per input string, so cleaning the same address again costs
a dictionary lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from disposable_email_domains import blocklist as _DISPOSABLE
import email_validator
from email_validator import EmailNotValidError, validate_email

from .addresses import DIGITS, domain_in, local_base, separator_tokens
from .contracts import CleanedAddress, Status, Tag, canonical_key
from .data import word_list
from .mx import MxChecker, MxResult, NullMxChecker

__all__ = ["AddressCleaner", "clean_batch", "is_no_reply", "is_role", "is_free_mail", "is_disposable"]

_FREE_MAIL = word_list("free_email_providers")
_ROLE_TOKENS = word_list("role_local_parts")
_ROLE_EXACT = word_list("role_exact_local_parts")
_NO_REPLY = word_list("no_reply_local_parts") | {"daemon"}
_NO_REPLY_ANYWHERE = re.compile("|".join(re.escape(w) for w in sorted(_NO_REPLY, key=len, reverse=True)))

DEFAULT_CACHE_SIZE = 200_000

# Fast path for the common case: a lower-case ASCII dot-atom local part and an
# LDH domain with an alphabetic TLD. Every address it accepts is one that
# email-validator accepts with the same local part and domain (checked on every
# corpus address by tests/test_clean.py); anything else — quoted or non-ASCII
# local parts, IDN/punycode labels, "--" labels, special-use domains — goes to
# email-validator, which stays the authority.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_FAST_ADDRESS = re.compile(
    rf"(?P<local>{_ATEXT}(?:\.{_ATEXT})*)@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+[a-z]{{2,63}})"
)
_SPECIAL_USE_TLDS = frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)  # all single labels


def fast_syntax(email: str) -> tuple[str, str] | None:
    """(local part, domain) when ``email`` is plainly valid, else None (ask email-validator)."""
    if len(email) > 254:
        return None
    match = _FAST_ADDRESS.fullmatch(email)
    if match is None:
        return None
    local, domain = match.group("local", "domain")
    if len(local) > 64 or "--" in domain or domain.rpartition(".")[2] in _SPECIAL_USE_TLDS:
        return None
    return local, domain


def is_role(local: str) -> bool:
    """True when the local part names a function (info, sales-emea, customer.support, info2 …)."""
    whole = local_base(local)
    base = whole.rstrip(DIGITS) or whole
    tokens = [t.rstrip(DIGITS) or t for t in separator_tokens(local)]
    if not tokens:
        return False
    compact = "".join(tokens)
    return (
        base in _ROLE_EXACT
        or base in _ROLE_TOKENS
        or compact in _ROLE_TOKENS
        or tokens[0] in _ROLE_TOKENS
        or tokens[-1] in _ROLE_TOKENS
    )


def is_no_reply(local: str) -> bool:
    """True when the local part says replies are not read.

    The local part (``+tag`` dropped, lower case) is split at ``. _ -``; it is
    no-reply when some run of consecutive tokens, joined and with trailing
    digits removed, is a word of ``data/no_reply_local_parts.txt`` (noreply,
    donotreply, mailer-daemon, bounce(s), ne-pas-repondre …) or ``daemon``.
    So ``no-reply``, ``noreply-1234``, ``billing.noreply``, ``bounces+x``,
    ``MAILER-DAEMON``, ``bugzilla-daemon`` match; ``bouncer``, ``replies``,
    ``notifications`` do not (notification senders often accept replies).
    """
    tokens = separator_tokens(local)
    if not _NO_REPLY_ANYWHERE.search("".join(tokens)):
        return False  # cheap exit: a matching run of tokens would contain one of the words
    for start in range(len(tokens)):
        joined = ""
        for token in tokens[start:]:
            joined += token
            if joined in _NO_REPLY or joined.rstrip(DIGITS) in _NO_REPLY:
                return True
    return False


def is_disposable(domain: str) -> bool:
    """True when ``domain`` (ASCII) or one of its parent domains is a throw-away service."""
    return domain_in(domain.lower(), _DISPOSABLE)


def is_free_mail(domain: str) -> bool:
    """True when ``domain`` (ASCII, exact) belongs to a free / consumer mailbox provider."""
    return domain.lower() in _FREE_MAIL


class AddressCleaner:
    """Validates and tags addresses; one instance per mining (it caches).

    ``identities`` are the mailbox owner's own addresses (tagged ``user``);
    ``mx`` decides the status (default :class:`~leadminer.mx.NullMxChecker`:
    UNKNOWN, "MX not checked").
    """

    def __init__(
        self,
        identities: Iterable[str] = (),
        *,
        mx: MxChecker | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.mx: MxChecker = mx if mx is not None else NullMxChecker()
        self._identity_keys = {canonical_key(i.strip().lower()) for i in identities if i and "@" in i}
        self._domains: dict[str, MxResult] = {}
        self._kinds: dict[str, str] = {}  # domain → disposable | personal | professional
        self._cache: dict[str, tuple[Status, tuple[str, ...], str | None]] = {}
        self._cache_size = max(1, cache_size)

    def clean(self, email: str) -> CleanedAddress:
        """Verdict on one address (``email`` is returned unchanged in the result)."""
        if not isinstance(email, str):
            return CleanedAddress(email=email, status=Status.INVALID, reason=f"not a string: {type(email).__name__}")
        hit = self._cache.get(email)
        if hit is None:
            hit = self._verdict(email)
            if len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]  # oldest first
            self._cache[email] = hit
        status, tags, reason = hit
        return CleanedAddress(email=email, status=status, tags=list(tags), reason=reason)

    def clean_batch(self, emails: Iterable[str]) -> list[CleanedAddress]:
        """:meth:`clean` for each address, in order."""
        return [self.clean(email) for email in emails]

    def check_domain(self, ascii_domain: str) -> MxResult:
        """The MX verdict for a domain, asked once per cleaner."""
        result = self._domains.get(ascii_domain)
        if result is None:
            try:
                result = self.mx.check(ascii_domain)
            except Exception as exc:  # a broken checker must not lose the address
                result = MxResult(Status.UNKNOWN, f"MX check failed: {type(exc).__name__}: {exc}")
            self._domains[ascii_domain] = result
        return result

    def _domain_kind(self, domain: str) -> str:
        """disposable, personal (free mail) or professional; cached per domain."""
        kind = self._kinds.get(domain)
        if kind is None:
            if is_disposable(domain):
                kind = Tag.DISPOSABLE.value
            elif is_free_mail(domain):
                kind = Tag.PERSONAL.value
            else:
                kind = Tag.PROFESSIONAL.value
            self._kinds[domain] = kind
        return kind

    def _verdict(self, email: str) -> tuple[Status, tuple[str, ...], str | None]:
        fast = fast_syntax(email)
        if fast is not None:
            local, domain = fast
            unicode_domain = domain
        else:
            try:
                parsed = validate_email(email, check_deliverability=False, allow_smtputf8=True)
            except EmailNotValidError as exc:
                return Status.INVALID, (), str(exc)
            domain = parsed.ascii_domain.lower()
            unicode_domain = parsed.domain.lower()
            local = parsed.local_part
        tags = [self._domain_kind(domain)]
        if is_role(local):
            tags.append(Tag.ROLE.value)
        if is_no_reply(local):
            tags.append(Tag.NO_REPLY.value)
        if self._identity_keys:
            spellings = {f"{local.lower()}@{unicode_domain}", f"{local.lower()}@{domain}"}  # U- and A-label
            if any(canonical_key(s) in self._identity_keys for s in spellings):
                tags.append(Tag.USER.value)
        verdict = self.check_domain(domain)
        return verdict.status, tuple(tags), verdict.reason


def clean_batch(emails: Iterable[str], cleaner: AddressCleaner | None = None) -> list[CleanedAddress]:
    """Clean many addresses with one (cached) cleaner; a new offline one by default."""
    return (cleaner or AddressCleaner()).clean_batch(emails)
