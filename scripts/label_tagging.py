"""Build tests/data/tagging_labels.csv: ground truth for message and person tags.

The labels are decided WITHOUT the tagger: by the source corpus, by the
identity of the channel a message came through (a hand-made table of the
mailing lists and newsletter senders found in the corpora), and by hand review
of single messages. docs/quality-tagging.md explains every rule and lists what
was reviewed by hand. Only labels and file references are written — never
message content.

Columns: corpus, path (inside the corpus folder), sender (From address, lower
case), label (newsletter | transactional | group | group+transactional |
social | personal | unclear), sender_is (person | list | automated: what the
From address is, which fixes the expected PERSON tag), how (the rule used),
half (tuning | held-out: see :func:`assign_halves`).

Usage:  python scripts/label_tagging.py [--check]
        (--check: fail when the written file would change)
"""

from __future__ import annotations

import argparse
import csv
import email
import hashlib
import email.policy
import io
import pathlib
import re
import sys
from email.utils import getaddresses

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.corpora import extract_corpus  # noqa: E402

OUT = ROOT / "tests" / "data" / "tagging_labels.csv"
FIELDS = ("corpus", "path", "sender", "label", "sender_is", "how", "half")
HALVES = ("tuning", "held-out")

# --------------------------------------------------------------------------- hand-made tables

DISCUSSION_LISTS = {
    # key searched (lower case) in the list headers, To/Cc and subject tag → list name
    "fork.xent.com": "FoRK", "fork@": "FoRK",
    "rpm-zzzlist": "freshrpms rpm-list",
    "spamassassin-talk": "SpamAssassin talk", "[satalk]": "SpamAssassin talk",
    "spamassassin-devel": "SpamAssassin devel", "[sadev]": "SpamAssassin devel",
    "spamassassin-commits": "SpamAssassin commits", "[sacvs]": "SpamAssassin commits",
    "exmh-users": "exmh users", "exmh-workers": "exmh workers",
    "razor-users": "Razor users", "[razor-users]": "Razor users",
    "ilug.linux.ie": "ILUG", "ilug@linux.ie": "ILUG", "[ilug]": "ILUG",
    "social.linux.ie": "ILUG social", "[ilug-social]": "ILUG social", "social@linux.ie": "ILUG social",
    "webdev.linux.ie": "ILUG webdev",
    "secprog": "SecurityFocus secprog",
    "iiu.iiu.taint.org": "IIU", "irregulars": "TBTF irregulars", "sitescooper": "sitescooper",
    "crackmice": "crackmice", "spambayes": "Spambayes", "[spambayes]": "Spambayes",
    "zzzzteana": "Forteana (Yahoo group)", "dns-swap": "DNS-swap", "0xdeadbeef": "0xdeadbeef",
    "dcc@calcite": "DCC", "tmda-users": "TMDA users",
    "notmuch": "notmuch", "aur-general": "aur-general",
}
"""Discussion lists of the easy-ham and notmuch corpora (group)."""

LIST_AUTOMATED_SENDERS = {
    "bugzilla-daemon@hughes-family.org": "bug-tracker notice",
    "mailer-daemon@mx1.yipes.com": "delivery-status notice sent to the list",
    "mailer-daemon@prodigy.net": "bounce sent to the list",
    "pine-robot@docserver.cac.washington.edu": "mail robot's answer sent to the list",
    "postmaster@jpci.net": "content-filter bounce sent to the list",
}
"""Machines whose messages reached a discussion list (group+transactional; each read)."""

EASY_HAM_NEWSLETTERS = {
    "rssfeeds@spamassassin.taint.org": "RSS-to-mail feed items",
    "pudge@perl.org": "use Perl daily headlines",
    "guterman@mediaunspun.imakenews.net": "Media Unspun newsletter",
    "nobody@dogma.slashnull.org": "blog-item feed mail",
    "tips@spesh.com": "NTK weekly (ezmlm announce list)",
    "webster@ryanairmail.com": "Ryanair offers",
    "distribution@ximian.com": "Ximian update announcements",
}
"""Easy-ham senders that are newsletters or feeds (reviewed: every message of each)."""

EASY_HAM_PERSONAL = {
    "00033": "direct reply to the user",
    "00046": "direct note to the user and a colleague",
    "00065": "direct note to the user",
}
"""Easy-ham messages with no list or feed channel: read one by one."""

HARD_HAM = {
    # file number → (label, sender_is, reason); every other hard-ham message is a newsletter
    "00002": ("transactional", "automated", "sweepstakes prize notice to the entrant"),
    "00003": ("transactional", "automated", "domain renewal reminder"),
    "00039": ("personal", "person", "colleague's work mail (Japanese)"),
    "00042": ("personal", "person", "colleague's reply on a support ticket"),
    "00154": ("group", "person", "post to a Yahoo group"),
    "00161": ("group", "list", "digest of the ISC firewalls discussion list, sent by the list"),
    "00165": ("group", "person", "reply on the nessus list"),
    "00167": ("group", "person", "post to an MSN group"),
    "00169": ("group", "person", "reply in an MSN group"),
    "00170": ("group", "person", "reply in an MSN group"),
    "00174": ("group", "person", "forward posted to a Yahoo group"),
    "00175": ("group", "person", "post to the melbwireless list"),
    "00176": ("group", "person", "reply in an MSN group"),
    "00183": ("group", "person", "post to SpamAssassin talk"),
    "00189": ("group", "person", "reply on linux-xfs"),
    "00208": ("group", "person", "post to linux-xfs"),
    "00210": ("group", "person", "question on pgsql-sql"),
    "00211": ("group", "person", "question on pgsql-novice"),
    "00217": ("group", "person", "question on openssl-users"),
    "00219": ("transactional", "automated", "subscription confirmation"),
    "00222": ("group", "person", "forward posted to melbwireless"),
    "00224": ("group", "person", "Yahoo 'send to a friend' mail addressed to the FoRK list"),
    "00225": ("group", "person", "reply on ILUG social"),
    "00228": ("transactional", "automated", "Mailman membership reminder (password)"),
    "00231": ("transactional", "automated", "administrator password for a QuickTopic topic"),
    "00232": ("group", "person", "post to freshrpms rpm-list"),
    "00233": ("group", "person", "reply on freshrpms rpm-list"),
    "00241": ("group", "person", "reply on Razor users"),
}
"""Hard ham, reviewed message by message (sender, subject, recipients, first lines)."""

ENRON_SENDERS = {
    # sender → (label, sender_is, reason); every other Enron message is personal mail
    "enron.announcements@enron.com": ("newsletter", "automated", "company-wide announcements"),
    "announcements.enron@enron.com": ("newsletter", "automated", "company-wide announcements"),
    "40enron@enron.com": ("newsletter", "automated", "company-wide IT / executive broadcasts"),
    "no.address@enron.com": ("newsletter", "automated", "HR / community newsletters"),
    "public.relations@enron.com": ("newsletter", "automated", "PR broadcasts"),
    "coo.jeff@enron.com": ("newsletter", "automated", "executive memo to all employees"),
    "arsystem@mailman.enron.com": ("transactional", "automated", "access-request approval notices"),
    "mbx_iscinfra@enron.com": ("transactional", "automated", "unmonitored payment-proposal notice"),
    "isc.registrar@enron.com": ("transactional", "automated", "course enrolment status"),
    "exchange.administrator@enron.com": ("transactional", "automated", "undeliverable notice"),
    "perfmgmt@enron.com": ("transactional", "automated", "performance-review system notices"),
    "support@datek.com": ("transactional", "automated", "broker account statement notice"),
    "truorange@aol.com": ("newsletter", "automated", "True Orange fan newsletter"),
    "people@venturewire.com": ("newsletter", "automated", "VentureWire People"),
    "announcements@provantage.com": ("newsletter", "automated", "shop newsletter"),
    "toysrus.com@toysrus.com": ("newsletter", "automated", "shop promotion"),
    "gift@amazon.com": ("newsletter", "automated", "shop promotion"),
    "health-html@emazing.com": ("newsletter", "automated", "tip-of-the-day newsletter"),
    "issuealert@scientech.com": ("newsletter", "automated", "IssueAlert newsletter"),
    "fool@motleyfool.com": ("newsletter", "automated", "Motley Fool newsletter"),
    "pmadpr@worldnet.att.net": ("newsletter", "automated", "daily power report"),
    "navigator@nisource.com": ("newsletter", "automated", "pipeline notices to all parties"),
    "exchangeinfo@nymex.com": ("newsletter", "automated", "exchange member notices"),
    "rocky.emery@painewebber.com": ("newsletter", "automated", "broker research mailing"),
    "art@heimbachresearch.com": ("newsletter", "automated", "survey solicitation to executives"),
    "bill@friedwire.com": ("newsletter", "automated", "product announcement to prospects"),
    "sbuchanan@mwe.com": ("newsletter", "automated", "law-firm client alert"),
    "vernesia.a.gipson@dynegy.com": ("newsletter", "automated", "trading-platform customer notice"),
    "franklevy@fairair.com": ("newsletter", "automated", "investor update mailing"),
    "rlstone@bpa.gov": ("newsletter", "automated", "OASIS posting notices (announce list)"),
    "owner-evmba_social@haas.berkeley.edu": ("group", "list", "class mailing list"),
    "owner-eveningmba@haas.berkeley.edu": ("group", "list", "class mailing list"),
    "enron_update@concureworkplace.com": ("transactional", "automated", "expense-report approval notice"),
    "feedback@intcx.com": ("newsletter", "automated", "exchange status notice to a users' list"),
    "wincash@play4keeps.com": ("newsletter", "automated", "unsolicited product promotion"),
    "george.ellis@americas.bnpparibas.com": ("unclear", "person", "broker's blind-copied note to clients"),
    "creddick@svmg.org": ("unclear", "person", "association's note to its members"),
    "outlook-migration-team@enron.com": ("unclear", "automated", "calendar entry created by a migration"),
}
"""Enron senders that are not individuals writing (all their messages reviewed)."""

ENRON_FILES = {
    "haedicke-m_sent_577.txt": ("group", "person", "reply addressed to a mailing list (lists.michbar.org)"),
    "pimenov-v_inbox_293.txt": ("transactional", "automated", "report-system notice sent in a person's name"),
}
"""Single Enron messages whose label differs from their sender's."""

MALFORMED = {
    "flanker/bounce/": ("transactional", "automated", "bounce (delivery status) fixture"),
    "flanker/complaints/": ("transactional", "automated", "ISP feedback-loop complaint"),
    "cpython/msg_05.eml": ("transactional", "automated", "delivery-status report fixture"),
    "cpython/msg_16.eml": ("transactional", "automated", "postmaster's delivery failure report"),
    "cpython/msg_36.eml": ("newsletter", "automated", "IETF Internet-Drafts announcement"),
    "mail-parser/mail_test_13.eml": ("newsletter", "automated", "webinar invitation sent by Mailchimp"),
    "mail-parser/mail_test_5.eml": ("newsletter", "automated", "shop newsletter sent by rapidmail"),
    "cpython/msg_42.eml": ("transactional", "automated",
                           "'Mail Delivery Subsystem' returning a message (bounce shape, body read)"),
    "mail-parser/mail_test_7.eml": ("personal", "person",
                                    "accountant forwarding a client's order question to a colleague"),
}
"""Malformed-corpus messages that are clearly one kind (the rest are test fixtures, spam or
phishing: not labelled)."""

NOTMUCH_FILES = {
    "threading/ghost-root/1532672447.R3166642290392477575.len_2,S.eml":
        ("transactional", "automated", "ticket-system auto-reply (Request Tracker)"),
    "threading/ghost-root/1532672447.R6968667928580738175.len_2,S.eml":
        ("transactional", "automated", "ticket-system auto-reply (Request Tracker)"),
}


# --------------------------------------------------------------------------- helpers


def _message(path: pathlib.Path) -> email.message.Message:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)


def _addresses(msg: email.message.Message, *names: str) -> list[str]:
    values = [str(v) for name in names for v in (msg.get_all(name) or [])]
    return [a.lower() for _n, a in getaddresses(values) if "@" in a]


def _sender(msg: email.message.Message) -> str:
    found = _addresses(msg, "from") or _addresses(msg, "sender")
    return found[0] if found else ""


def _channel_text(msg: email.message.Message) -> str:
    """Everything that names the list a message came through (lower case)."""
    names = ("list-id", "list-post", "mailing-list", "x-mailing-list", "x-beenthere", "list-unsubscribe",
             "to", "cc", "delivered-to", "x-apparently-to", "sender")
    parts = [str(v) for n in names for v in (msg.get_all(n) or [])]
    subject = str(msg.get("subject") or "")
    tag = re.match(r"\s*(?:(?:re|fwd?)\s*:\s*)*(\[[^\]]+\])", subject, re.I)
    if tag:
        parts.append(tag.group(1))
    return "\n".join(parts).lower()


def _discussion_list(msg: email.message.Message) -> str | None:
    text = _channel_text(msg)
    return next((name for key, name in DISCUSSION_LISTS.items() if key in text), None)


def _row(corpus, rel, sender, label, sender_is, how):
    return {"corpus": corpus, "path": rel, "sender": sender, "label": label, "sender_is": sender_is, "how": how}


# --------------------------------------------------------------------------- per corpus


def label_newsletters(root: pathlib.Path):
    for path in sorted(root.glob("*.eml")):
        yield _row("newsletters", path.name, _sender(_message(path)), "newsletter", "automated",
                   "source: newsletter corpus (every file a newsletter); all 14 read")


def label_lkml(root: pathlib.Path):
    for path in sorted((root / "cur").iterdir()):
        msg = _message(path)
        yield _row("lkml", f"cur/{path.name}", _sender(msg), "group", "person",
                   "source: kernel mailing-list archive; posts by people (20 read)")


def label_spamassassin(root: pathlib.Path):
    for path in sorted((root / "ham" / "easy-ham-1").iterdir()):
        rel = f"ham/easy-ham-1/{path.name}"
        msg = _message(path)
        sender = _sender(msg)
        number = path.name[:5]
        if sender in EASY_HAM_NEWSLETTERS:
            yield _row("spamassassin", rel, sender, "newsletter", "automated",
                       f"channel table: {EASY_HAM_NEWSLETTERS[sender]}")
            continue
        name = _discussion_list(msg)
        if name:
            machine = LIST_AUTOMATED_SENDERS.get(sender)
            yield _row("spamassassin", rel, sender, "group+transactional" if machine else "group",
                       "automated" if machine else "person",
                       f"channel table: discussion list {name}" + (f"; hand: {machine}" if machine else ""))
            continue
        if number in EASY_HAM_PERSONAL:
            yield _row("spamassassin", rel, sender, "personal", "person", f"hand: {EASY_HAM_PERSONAL[number]}")
            continue
        raise SystemExit(f"unlabelled easy-ham message {rel} from {sender}: extend the tables")
    for path in sorted((root / "ham" / "hard-ham-1").iterdir()):
        rel = f"ham/hard-ham-1/{path.name}"
        sender = _sender(_message(path))
        label, sender_is, reason = HARD_HAM.get(path.name[:5], ("newsletter", "automated", "commercial or newsletter mail"))
        yield _row("spamassassin", rel, sender, label, sender_is, f"hand (all 250 hard-ham read): {reason}")


def label_enron(root: pathlib.Path):
    for path in sorted(root.glob("*.txt")):
        msg = _message(path)
        sender = _sender(msg)
        label, sender_is, reason = ENRON_FILES.get(path.name) or ENRON_SENDERS.get(
            sender, ("personal", "person", "an individual writing")
        )
        yield _row("quagga-enron-train", path.name, sender, label, sender_is,
                   f"hand (every non-individual sender reviewed): {reason}")


def label_malformed(root: pathlib.Path):
    for prefix, (label, sender_is, reason) in MALFORMED.items():
        paths = sorted((root / prefix).glob("*.eml")) if prefix.endswith("/") else [root / prefix]
        for path in paths:
            yield _row("malformed", str(path.relative_to(root)), _sender(_message(path)), label, sender_is, f"hand: {reason}")


def label_notmuch(root: pathlib.Path):
    for path in sorted((root / "default").rglob("*.eml")):
        msg = _message(path)
        name = _discussion_list(msg)
        if name is None:
            continue  # a stray test message with no list (read: not labelled)
        yield _row("notmuch-threading", str(path.relative_to(root)), _sender(msg), "group", "person",
                   f"channel table: discussion list {name}")
    for rel, (label, sender_is, reason) in NOTMUCH_FILES.items():
        yield _row("notmuch-threading", rel, _sender(_message(root / rel)), label, sender_is, f"hand: {reason}")


LABELLERS = {
    "newsletters": label_newsletters,
    "lkml": label_lkml,
    "spamassassin": label_spamassassin,
    "quagga-enron-train": label_enron,
    "malformed": label_malformed,
    "notmuch-threading": label_notmuch,
}


# --------------------------------------------------------------------------- tuning / held-out split

_TWO_LEVEL_SUFFIXES = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go"})


def sender_domain(sender: str) -> str:
    """Registrable domain of a sender address (``mailman.enron.com`` → ``enron.com``;
    ``x.co.uk`` kept whole); ``""`` when there is no address."""
    labels = sender.rpartition("@")[2].lower().rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and labels[-2] in _TWO_LEVEL_SUFFIXES and len(labels[-1]) == 2 else 2
    return ".".join(labels[-keep:])


def assign_halves(rows: list[dict[str, str]]) -> dict[str, str]:
    """Sender domain → ``tuning`` or ``held-out``: a stratified split by sender domain.

    Every message of one registrable sender domain lands in the same half, so
    no sender (and no sending system) is in both. A domain's stratum is the
    rarest kind among its labels (transactional < personal < newsletter <
    group, by count); within a stratum the domains, ordered by the SHA-256 of
    their name, alternate between the halves. Each half so gets the same number
    of sender domains of every kind. The split reads the labels only, never the
    tagger.
    """
    kinds: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for row in rows:
        if row["label"] == "unclear":
            continue
        labels = row["label"].split("+")
        kinds.setdefault(sender_domain(row["sender"]), set()).update(labels)
        for kind in labels:
            counts[kind] = counts.get(kind, 0) + 1
    strata: dict[str, list[str]] = {}
    for domain, labels in kinds.items():
        strata.setdefault(min(labels, key=lambda k: (counts[k], k)), []).append(domain)
    halves: dict[str, str] = {}
    for domains in strata.values():
        ordered = sorted(domains, key=lambda d: hashlib.sha256(d.encode("utf-8")).hexdigest())
        for rank, domain in enumerate(ordered):
            halves[domain] = HALVES[rank % 2]
    return halves


def build() -> str:
    rows = [row for corpus, labeller in LABELLERS.items() for row in labeller(extract_corpus(corpus))]
    halves = assign_halves(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        half = "" if row["label"] == "unclear" else halves[sender_domain(row["sender"])]
        writer.writerow({**row, "half": half})
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the labels file is out of date")
    args = parser.parse_args()
    text = build()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date; run scripts/label_tagging.py", file=sys.stderr)
            return 1
        print("labels up to date")
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    counts: dict[str, int] = {}
    for row in csv.DictReader(io.StringIO(text)):
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    print(f"wrote {OUT.relative_to(ROOT)}: {sum(counts.values())} messages", counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
