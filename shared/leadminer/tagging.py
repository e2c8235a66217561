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
  Auto-Submitted, bounces and receipts (``multipart/report``), notification
  systems (Bugzilla, GitHub, Jira …), relay ESPs without List-Unsubscribe, and
  receipt / password / verification subjects from automated-looking senders;
* ``social`` — notifications of social networks (LinkedIn, Facebook, X …).

The rules are an ordered decision list; docs/quality-tagging.md explains each
one and how they were measured. A reply (``Re:``, In-Reply-To, References) is
never a newsletter: weak bulk signs on a reply mean list traffic (``group``).

Person tags — :func:`person_tags` — are conservative: a person is tagged
newsletter / transactional / social only when EVERY message they sent says so
and they never wrote personally; a list address is ``group``, a person who
posts to a list is a person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache

from .clean import is_no_reply, is_role
from .contracts import Field, MessageRecord, Tag

__all__ = [
    "TAGGING_HEADERS",
    "TAGGING_HEADER_PREFIXES",
    "is_tagging_header",
    "list_addresses",
    "looks_like_list_address",
    "person_tags",
    "tag_message",
]

NEWSLETTER = Tag.NEWSLETTER.value
TRANSACTIONAL = Tag.TRANSACTIONAL.value
GROUP = Tag.GROUP.value
SOCIAL = Tag.SOCIAL.value
AUTOMATED_KINDS = (NEWSLETTER, TRANSACTIONAL, SOCIAL)

# --------------------------------------------------------------------------- fingerprints

_MARKETING_HEADER_PREFIXES = (
    "x-mc-user", "x-mailchimp", "x-campaign", "x-kmail-", "x-klaviyo", "x-rpcampaign", "x-csa-complaints",
    "x-roving-", "x-cmail", "x-hs-cid", "x-hubspot", "x-marketoid", "x-mktomailid", "x-sfmc-stack",
    "x-emarsys", "x-mailerlite", "x-newsletter", "x-cleverreach", "x-getresponse", "x-imn",
    "x-mailjet-campaign", "x-ma-provider", "x-bulkmail",
    "x-accucast",
)
"""Headers only marketing / newsletter platforms set."""

_RELAY_ESP_HEADER_PREFIXES = (
    "x-mailgun", "x-sg-eid", "x-sg-id", "x-sendgrid", "x-ses-outgoing", "x-ses-", "x-mandrill-user",
    "x-mj-mid", "x-mailjet", "x-msys-api", "x-sparkpost", "x-mailin-eid", "x-sib-id", "x-pm-message-id",
    "x-postmark",
)
"""Headers of relay ESPs that carry both marketing and transactional mail."""

_NOTIFIER_HEADER_PREFIXES = (
    "x-bugzilla", "x-github", "x-gitlab", "x-jira", "x-redmine", "x-launchpad", "x-gerrit", "x-jenkins",
    "x-phabricator", "x-trac-", "x-zendesk", "x-freshdesk", "x-atlassian", "x-confluence",
    "x-ms-exchange-generated-message-source",
)
"""Headers of notification systems (issue trackers, CI, helpdesks)."""

_NOTIFIER_MESSAGE_ID = re.compile(
    r"^rt-\d+\.\d+|^rt-ticket-\d+@|^bug-\d+-\d+@|^jira\.\d+\.|^redmine\.|^gerrit\.|@github\.com$"
    r"|@gitlab\.|@bitbucket\.org$|^notification\.\d+@",
    re.I,
)
"""Message-IDs (and References) made by ticket and code-review systems: RT, Bugzilla, Jira,
Redmine, Gerrit, GitHub, GitLab, Bitbucket."""

_SOCIAL_HEADER_PREFIXES = ("x-linkedin", "x-facebook", "x-fb-", "x-twitter", "x-xing")

_GROUP_HEADER_PREFIXES = ("x-egroups", "x-yahoo-newman", "x-google-group")
"""Headers of hosted discussion groups (Yahoo Groups / eGroups, Google Groups)."""

TAGGING_HEADERS = frozenset(
    {
        "list-id", "list-unsubscribe", "list-post", "precedence", "auto-submitted", "content-type",
        "feedback-id", "x-feedback-id", "x-mailer", "user-agent", "return-path", "errors-to",
        "mailing-list", "x-mailing-list", "x-beenthere", "x-mailman-version", "x-auto-response-suppress",
        "x-failed-recipients", "x-autoreply", "x-autorespond",
    }
)
"""Header names (lower case) that :func:`tag_message` reads from ``record.headers``."""

TAGGING_HEADER_PREFIXES = tuple(
    sorted(
        set(
            _MARKETING_HEADER_PREFIXES + _RELAY_ESP_HEADER_PREFIXES + _NOTIFIER_HEADER_PREFIXES
            + _SOCIAL_HEADER_PREFIXES + _GROUP_HEADER_PREFIXES
        )
    )
)
"""Header-name prefixes (ESP, notifier, social and group fingerprints) :func:`tag_message` reads."""


def is_tagging_header(name: str) -> bool:
    """True when extract must keep header ``name`` (any case) in ``record.headers`` for tagging."""
    lower = name.lower()
    return lower in TAGGING_HEADERS or lower.startswith(TAGGING_HEADER_PREFIXES)


_SOCIAL_DOMAINS = frozenset(
    {
        "linkedin.com", "facebookmail.com", "facebook.com", "fb.com", "twitter.com", "x.com", "instagram.com",
        "pinterest.com", "tiktok.com", "xing.com", "viadeo.com", "tumblr.com", "reddit.com", "redditmail.com",
        "quora.com", "snapchat.com", "threads.net", "youtube.com", "meetup.com", "nextdoor.com", "vk.com",
        "ok.ru", "myspace.com", "flickr.com", "bsky.app", "mastodon.social", "plus.google.com",
    }
)

_BULK_MAILERS = (
    "accucast", "listmanager", "lyris", "mailbeamer", "inxmail", "elaine", "mailchimp", "mailerlite",
    "nlserver", "ec-messenger", "cleverreach", "rapidmail", "newsletter2go", "getresponse", "sendy",
    "phplist", "mailwizz", "mailpoet", "mailster", "listmonk", "tinyletter", "sendinblue", "brevo",
    "constant contact", "icontact", "aweber", "campaigner", "emarsys", "selligent", "smartfocus", "splio",
    "sarbacane", "mailify", "streamsend", "emaillabs", "vertical response", "verticalresponse",
    "benchmark email", "acymailing", "mailjet", "mass mail", "massmail", "bulk mail", "bulkmail",
    "newsletter", "mailing list manager", "cheetahmail", "exacttarget",
    "eloqua", "responsys", "silverpop", "ymlp", "mailigen", "mailup", "emailvision", "optivo",
    "broadmail", "dialogmail", "evalanche", "mapp", "episerver campaign", "xqueue", "maileon",
)
"""Substrings of X-Mailer values of newsletter / bulk software (lower case)."""

_PRECEDENCE_BULK = frozenset({"bulk", "list", "junk"})

_REPORT_TYPES = ("multipart/report", "message/delivery-status", "message/disposition-notification")
"""Content types of delivery-status and read reports (RFC 3462, 3464, 8098)."""

_AUTOMATION_HEADERS = ("x-auto-response-suppress", "x-failed-recipients", "x-autoreply", "x-autorespond")
"""Headers only automatic senders set (Exchange, MTAs, autoresponders)."""

_BROADCAST_WORDS = frozenset(
    {
        "newsletter", "newsletters", "news", "enews", "rss", "feed", "feeds", "rssfeeds", "digest", "bulletin",
        "announce", "announcement", "announcements", "list", "lists", "mailinglist", "listserv", "promo",
        "promos", "promotion", "promotions", "offers", "deals", "marketing", "campaign", "campaigns",
        "mailings", "mailer", "broadcast", "magazine", "weekly", "daily", "headlines", "journal", "alerts",
        "subscriptions", "subscriber", "subscribers", "updates", "update", "actualites", "aktuell",
        "communications", "comms", "relations",
        "infolettre", "nieuwsbrief",
    }
)
"""Local-part words of one-to-many senders (newsletter@, news@, rssfeeds@ …)."""

_BROADCAST_AFFIXES = ("newsletter", "enews", "news", "rss", "digest", "list", "daily", "weekly", "mailer")
"""Broadcast words that also count glued to another word (myenews, dailyslang, facelist)."""

_STRONG_BROADCAST_WORDS = frozenset(
    {
        "newsletter", "newsletters", "news", "enews", "rss", "rssfeeds", "feeds", "digest", "bulletin",
        "announce", "announcement", "announcements", "infolettre", "nieuwsbrief", "mailings",
    }
)
"""Sender words (local part or display name) that mean one-to-many even on a list."""

_MACHINE_WORDS = frozenset(
    {"robot", "bot", "mailbot", "daemon", "autoresponder", "autoreply", "automailer", "notifier"}
)
"""Local-part words that only machines use (pine-robot@, bugzilla-daemon@, autoresponder@)."""

_NOTIFIER_WORDS = frozenset(
    {
        "notify", "notification", "notifications", "notifier", "alert", "system", "systems", "robot", "bot",
        "daemon", "automated", "automailer", "auto", "autoresponder", "mailer", "accounts", "account",
        "billing", "orders", "order", "receipts", "receipt", "invoice", "invoices", "statements", "statement",
        "security", "verify", "verification", "confirm", "confirmation", "registrar", "reminder",
        "reminders", "admin", "administrator", "calendar", "tickets", "ticket", "helpdesk", "workflow",
        "postmaster", "mailman", "majordomo", "listserv", "owner",
    }
)
"""Local-part words of notification senders (notify@, billing@, arsystem@ …)."""

_BULK_DOMAIN_LABELS = frozenset(
    {
        "news", "newsletter", "newsletters", "list", "lists", "mailing", "mailings", "mailer", "email", "emails",
        "e", "em", "mail-out", "campaign", "campaigns", "marketing", "promo", "offers", "bounce", "bounces",
        "send", "mkt", "crm", "enews", "alerts", "info", "communications", "comms", "mailinglist",
    }
)
"""Sub-domain labels of sending platforms (lists.apple.com, email.shop.com …)."""

_TWO_LEVEL_SUFFIXES = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go"})

_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|vs|antw|odp|r|fwd?|wg|tr|rv|enc)\s*(?:\[\d+\])?\s*:\s*)+", re.I)
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|vs|antw|odp|r)\s*(?:\[\d+\])?\s*:", re.I)
_FORWARD_PREFIX = re.compile(r"^\s*(?:(?:re|aw)\s*:\s*)*(?:fwd?|wg|tr|rv|enc)\s*:", re.I)
_LIST_TAG = re.compile(r"^\s*\[([A-Za-z][\w .+/&'-]{0,38}[\w.])\]")
_LIST_TAG_STOP = frozenset(
    {
        "patch", "rfc", "pull", "git pull", "ann", "announce", "external", "ext", "spam", "suspected spam",
        "possible spam", "bulk", "warning", "caution", "secure", "encrypt", "confidential", "sensitive",
        "important", "urgent", "fwd", "fw", "ad", "advertisement", "werbung", "marketing", "sent via",
        "image", "off-list", "ot", "offtopic", "off topic", "long", "resend", "repost", "test",
    }
)
"""Bracketed subject prefixes that are NOT a mailing list's name."""

_TRANSACTIONAL_SUBJECT = re.compile(
    r"\b(?:receipt|invoice|order\s*(?:confirm\w*|#|no\b|number|status|shipped|received|update)|your\s+order"
    r"|payment\s*(?:received|confirm\w*|failed|due|reminder)|password|passcode|verification|verify\s+your"
    r"|confirm\s+your|confirmation|activate\s+your|activation|one[- ]time\s+code"
    r"|security\s+(?:alert|code|notice)|sign[- ]?in\s+(?:attempt|alert)|log[- ]?in\s+(?:attempt|alert)"
    r"|your\s+account|account\s+(?:update|notice|statement|activity|suspended|locked)|statement"
    r"|renewal|expir(?:e|es|ing|ation)|reminder|shipped|shipping\s+confirm\w*|delivery\s+notice"
    r"|tracking\s+number|booking\s+confirm\w*|reservation|itinerary|e-?ticket|request\s+submitted"
    r"|enrol+ment|registration|signed\s+up|subscription\s+(?:confirm\w*|renew\w*)"
    r"|undeliverable|undelivered|delivery\s+status|delivery\s+failure|returned\s+mail"
    r"|failure\s+notice|mail\s+delivery|rechnung|bestellung|passwort|kennwort|zahlung|facture|commande"
    r"|mot\s+de\s+passe|pedido|factura|contrase[ñn]a|fattura|ordine)",
    re.I,
)
"""Subject words of receipts, orders, account and delivery notices (from automated-looking senders)."""

_AUTOMATED_SUBJECT = re.compile(
    r"^\s*automated\b|\bdo\s+not\s+reply\b|\bundeliverable\b|\bdelivery\s+status\s+notification"
    r"|\breturned\s+mail\b|\bmail\s+delivery\s+(?:failed|failure|system)|\byou'?re\s+signed\s+up\b"
    r"|\bthanks?\s+(?:you\s+)?for\s+(?:signing\s+up|subscribing|registering|your\s+order)"
    r"|\b(?:confirm|verify)\s+your\s+(?:e-?mail|subscription|account|registration|address)"
    r"|\b(?:reset|change)\s+your\s+password|\bpassword\s+reset\b|\byour\s+(?:verification|security)\s+code",
    re.I,
)
"""Subjects that say a machine wrote the message, whoever the sender is."""

_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]{1,80}\]\s*)?"
    r"(?:auto(?:matic)?[- ]?(?:reply|response|antwort)|out\s+of\s+(?:the\s+)?office(?:\s+auto-?reply)?"
    r"|abwesenheitsnotiz|r[ée]ponse\s+automatique|respuesta\s+autom[áa]tica|risposta\s+automatica"
    r"|automatisch\s+antwoord)\s*:",
    re.I,
)
"""Subject prefixes of auto-replies (Outlook, Exchange, Gmail …)."""

class _Phrases:
    """Body phrases, each behind a cheap substring test: ``(hint, regex or None)``.

    Bodies are lower-cased with whitespace collapsed (:func:`_body_text`), so the
    patterns use single spaces. A phrase matches when its hint occurs and its
    regex (if any) finds a match.
    """

    def __init__(self, *entries: tuple[str, str | None]) -> None:
        self.entries = [(hint, re.compile(pattern) if pattern else None) for hint, pattern in entries]

    def search(self, text: str) -> bool:
        return any(hint in text and (rx is None or rx.search(text) is not None) for hint, rx in self.entries)


_NEWSLETTER_BODY = _Phrases(
    ("unsubscri", None),
    ("to receiv", r"(?:longer|not|n't) (?:wish|want) to (?:continue )?(?:to )?receiv"),
    ("rather not receive", None),
    ("not receive", r"not (?:to )?receive (?:future|further|these|our|any more) "),
    ("because", r"receiv\w* this (?:e-?mail|message|newsletter|mailing) because"),
    ("subscribed", r"you (?:have )?subscribed (?:to|for) "),
    ("signed up", r"you (?:have )?signed up (?:to|for) "),
    ("remove", r"removed? (?:yourself )?from (?:this|our|the) (?:mailing |e-?mail )?list"
               r"|remove your (?:e-?mail )?(?:address|name) from"),
    ("preferences",
     r"(?:manage|update|change) (?:your )?(?:e-?mail |subscription |newsletter |mailing list )?preferences"),
    ("subscriptions", r"manage (?:your )?(?:e-?mail )?subscriptions?"),
    ("options", r"(?:update|change) your (?:e-?mail |mailing list |subscription |newsletter )options"),
    ("settings", r"(?:update|change|manage) your (?:e-?mail|subscription|newsletter|notification) settings"),
    ("opt", r"opt[- ]out (?:of )?(?:receiving|(?:future|these|our) (?:e-?mails|messages|mailings))"),
    ("display", r"not display(?:ing)? (?:properly|correctly)"),
    ("browser", r"(?:view|read|launch|open) (?:it|this (?:e-?mail|message|newsletter|issue|version))"
                r" (?:online|in (?:your|a) (?:web )?browser)"),
    ("trouble", r"trouble (?:viewing|reading) this"),
    ("subscribe", r"(?:word|text) ['\"]?(?:un)?subscribe|subscribe['\"]? in the (?:subject|body)"),
    ("abbestellen", None), ("abmelden", None), ("se désabonner", None), ("se desabonner", None),
    ("désinscri", None), ("desinscri", None), ("darse de baja", None), ("cancelar la suscrip", None),
    ("disiscriv", None), ("uitschrijven", None), ("afmelden", None),
)
"""Newsletter phrases: unsubscribe / opt-out footers, "view it in your browser" headers."""

_AUTOMATED_BODY = _Phrases(
    ("reply to this", r"do not reply to this (?:e-?mail|message|address|notification)"),
    ("respond to this", r"do not respond to this (?:e-?mail|message|address|notification)"),
    ("not monitored", r"(?:mailbox|account|address) is not monitored"),
    ("automat", r"this (?:is an? )?(?:automated|automatically generated)"
                r" (?:e-?mail|message|notification|notice|reminder)"
               r"|this (?:e-?mail|message) was (?:sent )?automatically"),
    ("generated", r"this (?:is an? )?(?:auto|system)[- ]generated (?:e-?mail|message|notification|notice|reminder)"
                  r"|this (?:e-?mail|message) was (?:auto-?generated|generated automatically)"),
    (" time", r"receive this (?:e-?mail|message|notification) (?:each|every) time"),
    ("because you", r"because you (?:are|were) (?:listed|selected|assigned|named) as"),
    ("ready for", r"(?:is|are) (?:now )?ready for (?:your )?(?:approval|review|signature)"),
    ("pending", r"(?:is|are) (?:now )?pending (?:for )?(?:your )?(?:approval|review|signature)"),
)
"""Phrases of machine-written notices ("this mailbox is not monitored")."""

_GROUP_FOOTER = _Phrases(
    ("/listinfo", None),
    ("unsubscribe from this group", None),
    ("subscribed to the google groups", None),
    ("non-text portions of this message have been removed", None),
    ("yahoo! groups links", None), ("yahoo groups links", None), ("yahoo! groups sponsor", None),
)
"""Footers that discussion-list software appends (Mailman, Yahoo / Google Groups)."""

BODY_HEAD, BODY_TAIL = 3000, 6000
"""Characters of the body read from its start ("view in browser") and its end (footers)."""

_MACHINE_LOCAL = re.compile(r"[#=]|^\d|^[a-z]{0,2}[-_.]\d")
_DIGITS = re.compile(r"\d")
_TMDA = frozenset({"dated", "exp", "confirm", "keyword", "sender"})
_TOKEN_SPLIT = re.compile(r"[._\-+]+|(?<=\D)(?=\d)|(?<=\d)(?=\D)")
_LIST_LOCAL_SUFFIXES = (
    "-l", "-list", "_list", ".list", "-users", "-user", "-devel", "-dev", "-talk", "-discuss", "-general",
    "-help", "-announce", "-digest", "-request", "-owner", "-bounces", "-admin", "-forum", "-members",
    "-team", "-all", "-group", "-commits", "-patches", "-bugs",
)
_LIST_LOCAL_PREFIXES = ("owner-", "list-", "lists-")
_LIST_DOMAINS = ("yahoogroups.com", "googlegroups.com", "groups.io", "freelists.org", "groups.msn.com")
_LIST_DOMAIN_LABELS = frozenset({"lists", "list", "listserv", "listes", "mailman", "ml", "groups"})
_ANNOUNCE = re.compile(r"announce|newsletter|bulletin|^news|news$|[-_.]news|advisor(?:y|ies)", re.I)
_MAILTO = re.compile(r"<\s*mailto:\s*([^>?\s]+)", re.I)


# --------------------------------------------------------------------------- helpers


def _split_email(email: str | None) -> tuple[str, str]:
    if not email or "@" not in email:
        return "", ""
    local, _at, domain = email.rpartition("@")
    return local.lower(), domain.lower().rstrip(".")


def _tokens(local: str) -> list[str]:
    return [t for t in _TOKEN_SPLIT.split(local.partition("+")[0]) if t]


def _subdomain_labels(domain: str) -> list[str]:
    """Labels left of the registrable domain (approximation without the PSL)."""
    labels = domain.split(".")
    keep = 3 if len(labels) >= 3 and labels[-2] in _TWO_LEVEL_SUFFIXES and len(labels[-1]) == 2 else 2
    return labels[:-keep]


def _domain_in(domain: str, domains: Iterable[str]) -> bool:
    return any(domain == d or domain.endswith("." + d) for d in domains)


def is_generated_local(local: str) -> bool:
    """True for machine-made local parts (VERP, per-recipient tokens): ``Online#3.19578.34-Ug…``,
    ``2.20290.44-t9bs…``, ``body_216095411795471888``, ``R-1-270241-…``. TMDA-style dated
    addresses of people (``jason-exp-1031164464.7f11b3``) are not."""
    base = local.partition("+")[0]
    if len(base) < 12:
        return False
    tokens = _tokens(base)
    if len(tokens) > 1 and tokens[1] in _TMDA:
        return False
    digits = len(_DIGITS.findall(base))
    if _MACHINE_LOCAL.search(base) and digits >= 4:
        return True
    return digits >= 8 and digits / len(base) >= 0.3


def _is_broadcast_local(local: str) -> bool:
    tokens = [t for t in _tokens(local) if not t.isdigit()]
    if any(t in _BROADCAST_WORDS for t in tokens):
        return True
    compact = "".join(tokens)
    return any(compact.startswith(a) or compact.endswith(a) for a in _BROADCAST_AFFIXES)


def _is_notifier_local(local: str) -> bool:
    tokens = [t for t in _tokens(local) if not t.isdigit()]
    if any(t in _NOTIFIER_WORDS for t in tokens):
        return True
    compact = "".join(tokens)
    return any(compact.endswith(w) for w in ("system", "notify", "notification", "notifications", "daemon", "robot"))


def looks_like_list_address(email: str) -> bool:
    """True when an address has the shape of a mailing list (``linux-xfs@oss.sgi.com`` does not,
    ``rpm-list@…``, ``owner-announce@…``, ``*@yahoogroups.com``, ``*@lists.example.org`` do)."""
    local, domain = _split_email(email)
    if not local:
        return False
    if _domain_in(domain, _LIST_DOMAINS) or any(label in _LIST_DOMAIN_LABELS for label in _subdomain_labels(domain)):
        return True
    return local.endswith(_LIST_LOCAL_SUFFIXES) or local.startswith(_LIST_LOCAL_PREFIXES) or local.endswith("list")


# --------------------------------------------------------------------------- message tags


def tag_message(record: MessageRecord) -> list[str]:
    """Tags of one message from its headers, addresses, subject and body.

    Returns ``[]`` for ordinary person-to-person mail, otherwise one kind
    (``newsletter``, ``transactional``, ``group`` or ``social``), or
    ``["group", "transactional"]`` for a machine's message relayed by a list.
    """
    return _Message(record).classify()


class _Message:
    """The facts about one message that the rules read (computed once)."""

    def __init__(self, record: MessageRecord) -> None:
        self.record = record
        self.h: Mapping[str, str] = record.headers or {}
        self.names = "\n".join(self.h)
        sender = record.sender or next(
            (p for p in record.points if p.field in (Field.SENDER, Field.RESENT_FROM)), None
        )
        self.email = sender.email.lower() if sender else ""
        self.name = (sender.name or "") if sender else ""
        self.local, self.domain = _split_email(self.email)
        self.subject = record.subject or ""
        self.bare_subject = _SUBJECT_PREFIX.sub("", self.subject)
        self.is_reply = bool(_REPLY_PREFIX.match(self.subject) or record.in_reply_to or record.references)
        self.is_forward = bool(_FORWARD_PREFIX.match(self.subject))
        self.recipients = [p.email.lower() for p in record.points if p.field in (Field.TO, Field.CC)]
        self.no_reply = bool(self.local) and is_no_reply(self.local)

    # -- header helpers

    def header(self, name: str) -> str:
        value = self.h.get(name)
        return value.strip() if isinstance(value, str) else ""

    def has_prefix(self, prefixes: tuple[str, ...]) -> bool:
        """Some header name starts with one of ``prefixes``."""
        return _prefix_pattern(prefixes).search(self.names) is not None

    # -- the decision list

    def classify(self) -> list[str]:
        if _domain_in(self.domain, _SOCIAL_DOMAINS) or self.has_prefix(_SOCIAL_HEADER_PREFIXES):
            return [SOCIAL]
        machine = self.machine_made()
        listed = self.list_kind(machine)
        if listed is not None:
            return listed
        if machine:
            return [TRANSACTIONAL]
        bulk = self.bulk_kind()
        if bulk is not None:
            return bulk
        if self.is_reply:
            return [GROUP] if self.list_traffic_signs() else []
        return self.sender_kind()

    def machine_made(self) -> bool:
        """Bounces, receipts, auto-replies and notification systems."""
        content_type = self.header("content-type").lower()
        auto_submitted = self.header("auto-submitted").lower()
        return (
            any(t in content_type for t in _REPORT_TYPES)
            or bool(auto_submitted and not auto_submitted.startswith("no"))
            or any(n in self.h for n in _AUTOMATION_HEADERS)
            or self.has_prefix(_NOTIFIER_HEADER_PREFIXES)
            or bool(_NOTIFIER_MESSAGE_ID.search(self.record.message_id or ""))
            or any(_NOTIFIER_MESSAGE_ID.search(ref) for ref in self.record.references[:3])
            or bool(_AUTO_REPLY_SUBJECT.match(self.subject))
            or (self.local in ("mailer-daemon", "postmaster") and bool(_TRANSACTIONAL_SUBJECT.search(self.subject)))
            or any(t in _MACHINE_WORDS for t in _tokens(self.local))
        )

    def list_address_sets(self) -> tuple[set[str], set[str]]:
        """(named, derived) mailing-list addresses of this message.

        *named*: what list headers say outright — List-Post, X-BeenThere,
        X-Mailing-List, Yahoo's ``Mailing-List: list X``, a recipient that
        List-Id names (``<name.host>`` → ``name@host``), a Sender that is also
        a recipient (LISTSERV, LetterRip). *derived*: list addresses read off
        list-admin addresses (``owner-X@``, ``X-request@``, ``X-admin@`` …) in
        Sender, Errors-To, Return-Path and Mailing-List's contact.
        """
        named: set[str] = set()
        derived: set[str] = set()
        post = _mailto(self.header("list-post"))
        if post:
            named.add(post)
        for name in ("x-beenthere", "x-mailing-list"):
            address = _first_address(self.header(name))
            if address:
                named.add(address)
        mailing_list = self.header("mailing-list").lower()
        if mailing_list.startswith("list "):
            address = _first_address(mailing_list)
            if address:
                named.add(address)
        for address in _ADDRESS.findall(mailing_list):
            derived.add(_list_of_admin(address) or address)
        list_id = _LIST_ID.search(self.header("list-id"))
        if list_id:
            ident = (list_id.group(1) or list_id.group(2)).lower()
            named.update(r for r in self.recipients if _list_id_matches(ident, r))
        envelope = [_first_address(self.header("errors-to")), _first_address(self.header("return-path"))]
        senders = [p.email.lower() for p in self.record.points if p.field is Field.SENDER]
        for address in filter(None, envelope + senders):
            admin_of = _list_of_admin(address)
            if admin_of:
                derived.add(admin_of)
        for address in senders:
            if address in self.recipients and address != self.email:
                named.add(address)  # LISTSERV / LetterRip: the list itself is the Sender
        return named, derived

    def list_addresses(self) -> set[str]:
        """Every address the headers point to as the list this message went through."""
        named, derived = self.list_address_sets()
        return named | derived

    def list_kind(self, machine: bool) -> list[str] | None:
        """Tags of mail that came through a mailing list, None when it did not."""
        lists = self.list_addresses()
        list_post = self.header("list-post")
        post_open = bool(list_post) and not list_post.lower().startswith("no")
        mailing_list = self.header("mailing-list").lower()
        admin_of = _list_of_admin(self.email) if self.email else None
        if admin_of:
            lists.add(admin_of)
        from_list = bool(self.email) and (
            self.email in lists or bool(admin_of) or any(self.local == a.partition("@")[0] for a in lists)
        )
        addressed = any(r in lists for r in self.recipients)
        discussion = (
            post_open
            or mailing_list.startswith("list ")
            or self.has_prefix(_GROUP_HEADER_PREFIXES)
            or (addressed and not from_list)
        )
        if not (discussion or from_list or (list_post and not post_open)):
            return None
        if machine:
            return [GROUP, TRANSACTIONAL] if discussion else [TRANSACTIONAL]
        announce = (
            (bool(list_post) and not post_open)
            or any(_ANNOUNCE.search(a.partition("@")[0]) for a in lists)
            or bool(_ANNOUNCE_NAME.search(self.header("list-id")))
        )
        if self.is_reply and discussion and not announce:
            return [GROUP]
        if announce or self.has_prefix(_MARKETING_HEADER_PREFIXES):
            return [NEWSLETTER]
        if from_list:
            # the list speaks for itself: a digest of a discussion list, else a bulletin
            if _DIGEST.search(self.subject) and discussion:
                return [GROUP]
            if _TRANSACTIONAL_SUBJECT.search(self.bare_subject):
                return [TRANSACTIONAL]  # list administrivia (membership reminders, confirmations)
            if _OWNER_LOCAL.search(self.local):
                return [GROUP]  # the list owner posting to the list
            return [GROUP] if post_open and not _DIGEST.search(self.subject) else [NEWSLETTER]
        if not post_open and self.strong_broadcaster():
            return [NEWSLETTER]  # e.g. newsletter@ posting to its own Majordomo list
        return [GROUP]

    def bulk_kind(self) -> list[str] | None:
        """Headers of bulk senders (no list seen): newsletter, or a relay notice."""
        h = self.h
        x_mailer = (self.header("x-mailer") or self.header("user-agent")).lower()
        marketing = self.has_prefix(_MARKETING_HEADER_PREFIXES) or any(m in x_mailer for m in _BULK_MAILERS)
        has_unsubscribe = "list-unsubscribe" in h
        list_headers = "list-id" in h or "x-beenthere" in h or "x-mailman-version" in h or "mailing-list" in h
        precedence = self.header("precedence").lower()
        bulk_precedence = precedence in _PRECEDENCE_BULK
        if self.is_reply and not marketing and (has_unsubscribe or list_headers or bulk_precedence):
            return [GROUP]  # a conversation on a list whose headers were not kept
        if not marketing and _TRANSACTIONAL_SUBJECT.search(self.bare_subject) and self.notifier():
            return [TRANSACTIONAL]  # e.g. a list server's membership reminder
        if marketing or has_unsubscribe or list_headers:
            return [NEWSLETTER]
        if self.has_prefix(_RELAY_ESP_HEADER_PREFIXES) or "feedback-id" in h or "x-feedback-id" in h:
            return [TRANSACTIONAL]  # relay ESP without List-Unsubscribe: a notification, not a campaign
        if self.is_reply:
            return None
        if _AUTOMATED_SUBJECT.search(self.subject):
            return [TRANSACTIONAL]
        errors_to = self.header("errors-to").lower()
        if bulk_precedence or (errors_to and _list_of_admin(_first_address(errors_to) or "") is None):
            if _TRANSACTIONAL_SUBJECT.search(self.bare_subject) and self.notifier():
                return [TRANSACTIONAL]
            if self.list_traffic_signs() and not self.broadcaster():
                return [GROUP]
            return [NEWSLETTER]
        return None

    def sender_kind(self) -> list[str]:
        """Weak signs from the sender, the recipients and the body (no bulk headers)."""
        if _TRANSACTIONAL_SUBJECT.search(self.bare_subject) and (self.notifier() or is_role(self.local)):
            return [TRANSACTIONAL]
        body = "" if self.is_forward else _body_text(self.record.body)
        if _GROUP_FOOTER.search(body):
            return [GROUP]
        if _NEWSLETTER_BODY.search(body):
            return [NEWSLETTER]
        if _AUTOMATED_BODY.search(body):
            return [TRANSACTIONAL]
        if self.broadcaster() or (
            not self.is_forward and (self.blind_copy_blast() or _NEWSLETTER_SUBJECT.search(self.subject))
        ):
            return [NEWSLETTER]
        if self.list_traffic_signs():
            return [GROUP]
        return []

    # -- sender and recipient shapes

    def strong_broadcaster(self) -> bool:
        """Sender shapes that only one-to-many senders have."""
        tokens = [t for t in _tokens(self.local) if not t.isdigit()]
        return (
            self.no_reply
            or (bool(self.local) and is_generated_local(self.local))
            or any(t in _STRONG_BROADCAST_WORDS for t in tokens)
            or any(w in _STRONG_BROADCAST_WORDS for w in _WORD.findall(self.name.lower()))
        )

    def broadcaster(self) -> bool:
        """Any sign that the sender mails many people at once."""
        return (
            self.strong_broadcaster()
            or (bool(self.local) and _is_broadcast_local(self.local))
            or any(label in _BULK_DOMAIN_LABELS for label in _subdomain_labels(self.domain))
        )

    def notifier(self) -> bool:
        """The sender looks like a machine that sends notices (no-reply, billing@, notify@, VERP)."""
        local = self.local
        return self.no_reply or (bool(local) and (_is_notifier_local(local) or is_generated_local(local)))

    def blind_copy_blast(self) -> bool:
        """Sent to the sender's own address only: everyone else was blind-copied."""
        return bool(self.email) and self.recipients == [self.email]

    def list_traffic_signs(self) -> bool:
        """Weak group signs: a ``[list]`` subject tag, or a list-shaped recipient."""
        match = _LIST_TAG.match(self.bare_subject) or _LIST_TAG.match(self.subject)
        if match and match.group(1).strip().lower() not in _LIST_TAG_STOP and "#" not in match.group(1):
            return True
        return any(looks_like_list_address(r) for r in self.recipients)


_ADDRESS = re.compile(r"[\w.+=!#$%&'*/?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_LIST_ID = re.compile(r"<([^<>\s]+)>|^\s*([^\s<>]+)\s*$")
_WORD = re.compile(r"[a-z]+")
_DIGEST = re.compile(r"\bdigest\b", re.I)
_OWNER_LOCAL = re.compile(r"^owner-|-owner$|-request$")
_ANNOUNCE_NAME = re.compile(r"\bannounce|\bnewsletter|\bbulletin", re.I)
_NEWSLETTER_SUBJECT = re.compile(
    r"\bnewsletter\b|\be-?news\b|\bdigest\b|\b(?:vol\.?|volume)\s*\d+\s*,?\s*(?:no\.?|number|issue|#)\s*\d+"
    r"|\bissue\s*(?:#|no\.?\s*)\d+",
    re.I,
)
"""Subjects of periodicals (only read when no header says more)."""
_ADMIN_LOCAL = re.compile(r"^(?:owner-(?P<a>.+)|(?P<b>.+?)-(?:owner|request|admin|bounces?|help|errors?))$")


@cache
def _prefix_pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("^(?:" + "|".join(map(re.escape, prefixes)) + ")", re.M)


def _mailto(value: str) -> str | None:
    match = _MAILTO.search(value)
    return match.group(1).lower() if match else None


def _first_address(value: str | None) -> str | None:
    if not value:
        return None
    match = _ADDRESS.search(value)
    return match.group(0).lower() if match else None


def _list_of_admin(address: str) -> str | None:
    """``owner-foo@x`` / ``foo-request@x`` / ``foo-admin@x`` … → ``foo@x``; else None."""
    local, _at, domain = address.lower().rpartition("@")
    match = _ADMIN_LOCAL.match(local)
    if not match or not domain:
        return None
    name = match.group("a") or match.group("b")
    return f"{name}@{domain}" if name and name not in ("mailer", "mailman", "postmaster") else None


def _list_id_matches(list_id: str, address: str) -> bool:
    """RFC 2919: List-Id ``<name.host>`` names the list ``name@host`` (by convention)."""
    local, _at, domain = address.rpartition("@")
    return bool(local) and list_id in (f"{local}.{domain}", f"{local}.list-id.{domain}")


def _body_text(body: str | None) -> str:
    """Start and end of the body, lower-cased, quoted (``>``) lines dropped, whitespace collapsed."""
    if not body:
        return ""
    if len(body) > BODY_HEAD + BODY_TAIL:
        body = body[:BODY_HEAD] + "\n" + body[-BODY_TAIL:]
    lines = (line for line in body.lower().splitlines() if not line.lstrip().startswith(">"))
    return " ".join(" ".join(lines).split())


def list_addresses(record: MessageRecord) -> list[str]:
    """Mailing-list addresses a message names (lower case, sorted).

    The List-Post / X-BeenThere / X-Mailing-List / Yahoo ``Mailing-List``
    addresses, the recipient that List-Id names (vger lists have no List-Post:
    ``List-Id: <linux-kernel.vger.kernel.org>`` + ``Cc: linux-kernel@vger.kernel.org``),
    and recipients that list-admin addresses point to (``Sender: owner-foo@x``
    + ``To: foo@x``). The refine stage tags these addresses ``group``; extract
    may add them as ``list_post`` points of contact.
    """
    message = _Message(record)
    named, derived = message.list_address_sets()
    return sorted(named | (derived & set(message.recipients)))


# --------------------------------------------------------------------------- person tags


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
