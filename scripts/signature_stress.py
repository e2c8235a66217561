"""Robustness ("stress") variants of annotated signature cases (issue 11).

Each transformation reproduces one kind of miss seen on unseen mail while the
annotated fields stay valid (the field texts, or a phone's digits, still occur
in the sender's block):

* ``trailer``  — after the block: a confidentiality/legal notice, an
  ``Enclosure:`` line, attachment markers (`` - file.DOC``, ``<< File: x.doc >>``)
  or a few lines of prose / a P.S.;
* ``inline``   — the block given inside the text: prose, "My coordinates:"
  (or a like lead-in), the block, then more prose;
* ``directory`` — the From display name rewritten in directory order with other
  parts than the signed name ("Last, First", "Last Second, First", a middle
  initial added or removed);
* ``title_org`` — the title and organisation lines joined on one line
  ("Title, Organisation", "Title - Department", "Title | Org");
* ``phones``   — other phone formats and labels (Tel:, Direct:, Cell, (o), ph.,
  dots/spaces, +1, ext.) and phone + fax on one line;
* ``combined`` — a message under several at once: directory-order name, phone
  formats, title and organisation joined, then a trailer or the block inside the text;
* ``unsigned`` — the ``trailer`` texts under the own text of a message that has no
  sender signature (precision: every field found there is a false positive).

Texts and formats are generic templates written for this file (not taken from
the corpus); every choice is made by a ``random.Random`` seeded with
``SEED``, the transformation and the message name, so runs are reproducible.
"""

from __future__ import annotations

import dataclasses
import random
import re
from typing import Callable

from leadminer.signature import split_lines, top_zone
from nameparser import HumanName

SEED = 11

NOTICES = [
    ["CONFIDENTIALITY NOTICE: This e-mail and any files sent with it are confidential and meant only for",
     "the person or entity to whom it is addressed. If you received it by mistake, please tell the sender",
     "and delete it. Any other use, copying or distribution is not allowed."],
    ["This message may contain privileged or confidential information. If you are not the intended "
     "recipient, you must not read, copy, forward or rely on it; please inform the sender at once and "
     "destroy every copy."],
    ["*" * 60,
     "The information in this communication is confidential and may be legally privileged. It is intended",
     "solely for the addressee. Access to this e-mail by anyone else is unauthorised.",
     "*" * 60],
    ["Disclaimer: statements in this e-mail are not a binding offer or acceptance. The company accepts no",
     "liability for loss or damage caused by software viruses transmitted with this message."],
    ["NOTICE: This transmission is intended only for the named recipient and may contain information that is",
     "privileged, confidential and exempt from disclosure under applicable law."],
]
FILE_STEMS = ["proposal_v2", "Term Sheet draft", "Q3 schedule", "budget 2001", "meeting notes", "site map",
              "agreement rev3", "price list", "contract summary", "project plan"]
FILE_EXTS = ["DOC", "doc", "xls", "pdf", "ppt"]
ENCLOSURES = [
    lambda f, g: [f"Enclosure: {f}"],
    lambda f, g: ["Enclosures:", f"  {f}", f"  {g}"],
    lambda f, g: [f"Enclosure - {f}", f"cc: File"],
    lambda f, g: [f"Attachments: {f}; {g}"],
]
MARKERS = [
    lambda f, g: [f" - {f}"],
    lambda f, g: [f" - {f}", f" - {g}"],
    lambda f, g: [f"<< File: {f} >>"],
    lambda f, g: [f"<< File: {f} >> << File: {g} >>"],
    lambda f, g: [f"<<{f}>>"],
]
PROSE = [
    ["P.S. I will be out of the office on Friday, so please call my assistant if anything comes up."],
    ["PS - the meeting has moved to the third floor conference room."],
    ["Let me know if the dates above do not work for you and I will look for another slot.",
     "Thanks again for your help with this."],
    ["P.S. Please forward this to anyone on your team who should be involved."],
    ["I am travelling next week but will check my messages in the evenings."],
]
LEAD_INS = ["My coordinates:", "My contact details:", "My contact details are:", "You can reach me at:",
            "Contact details below:", "Here are my details:"]
PROSE_BEFORE = [
    "Please use the details below for the paperwork and the delivery.",
    "If you need to reach me before the meeting, the details are below.",
    "For the invoice, please address it to me directly.",
    "I have changed offices, so please update your records.",
]
PROSE_AFTER = [
    "I will send the signed copy tomorrow morning. Please let me know if anything is missing.",
    "Looking forward to working with you on this project.",
    "Thanks in advance, and have a good weekend.",
    "We can discuss the remaining points on Monday's call.",
]
EXTRA_SURNAMES = ["Moreno", "Hall", "Santos", "Keller", "Novak", "Garcia", "Brandt", "Lopez"]
TITLE_ORG_SEPARATORS = [", ", " - ", " | ", " – ", ", "]
PHONE_FORMATS = ["({a}) {b}-{c}", "{a}.{b}.{c}", "{a} {b} {c}", "+1 {a} {b} {c}", "+1-{a}-{b}-{c}",
                 "1-{a}-{b}-{c}", "+1 ({a}) {b}-{c}", "{a}-{b}-{c}", "+1.{a}.{b}.{c}"]
PHONE_LABELS = ["Tel: {n}", "Direct: {n}", "Cell {n}", "{n} (o)", "ph. {n}", "Phone: {n}", "Office: {n}",
                "Mobile: {n}", "T: {n}", "Direct Line: {n}", "{n} (direct)", "Cell: {n}"]
FAX_LABELS = ["Fax: {n}", "Fax {n}", "F: {n}", "{n} (f)", "fax {n}", "Facsimile: {n}"]
EXTENSIONS = [" ext. {e}", " x{e}", " Ext {e}"]
PHONE_FAX_JOINS = ["{p} | {f}", "{p}   {f}", "{p}, {f}", "{p} / {f}", "{p}  -  {f}"]

TRANSFORMS = ("trailer", "inline", "directory", "title_org", "phones", "combined", "unsigned")


def _rng(kind: str, name: str, variant: str = "") -> random.Random:
    return random.Random(f"{SEED}:{kind}:{variant}:{name}")


def _block(case, lines: list[str]) -> tuple[int, int] | None:
    """[start, end) of the annotated sender signature (lines with a signature or field span)."""
    gold = case.gold_lines_with_fields or case.gold_lines
    if not gold:
        return None
    return min(gold), max(gold) + 1


def _joined(lines: list[str]) -> str:
    return "\n".join(lines)


def _file(rng: random.Random) -> str:
    return f"{rng.choice(FILE_STEMS)}.{rng.choice(FILE_EXTS)}"


def _trailer(case, lines, block, rng, variant):
    kind = variant
    f, g = _file(rng), _file(rng)
    if kind == "notice":
        added = ["", *rng.choice(NOTICES)]
    elif kind == "enclosure":
        added = ["", *rng.choice(ENCLOSURES)(f, g)]
    elif kind == "attachment":
        added = ["", *rng.choice(MARKERS)(f, g)]
    else:
        added = ["", *rng.choice(PROSE)]
    _, end = block
    return lines[:end] + added + lines[end:], case.sender_name


def _inline(case, lines, block, rng, variant):
    start, end = block
    # the signed name right above the annotated block (a closing) moves with it
    name = (case.gold_fields.get("Name") or [""])[0].strip()
    if name:
        start = next((i for i in range(start, max(0, start - 4) - 1, -1) if name in lines[i]), start)
    before = ["", rng.choice(PROSE_BEFORE), rng.choice(LEAD_INS)]
    if rng.random() < 0.5:
        before.append("")
    after = ["", rng.choice(PROSE_AFTER), ""]
    return lines[:start] + before + lines[start:end] + after + lines[end:], case.sender_name


def _directory(case, lines, block, rng, variant):
    signed = (case.gold_fields.get("Name") or [None])[0]
    if not signed:
        return None
    name = HumanName(signed)
    first, middle, last = name.first, name.middle, name.last
    if not first or not last:
        return None
    if variant == "last_first":
        display = f"{last}, {first}"
    elif variant == "extra_surname":
        display = f"{last} {rng.choice(EXTRA_SURNAMES)}, {first}"
    elif variant == "opaque_address":  # only the display name can tell who signs
        extra = rng.choice(EXTRA_SURNAMES)
        display = f"{last} {extra}, {first}"
        domain = case.sender_email.partition("@")[2] or "example.com"
        address = f"{first[0]}{last[0]}{extra[0]}{rng.randint(1, 9)}@{domain}".lower()
        return lines, display, address
    elif middle:  # initial removed from the signed name
        display = f"{last}, {first}"
        if display == case.sender_name:
            return None
    else:  # initial added
        display = f"{last}, {first} {rng.choice('ABCDEHJKLMPRSTW')}."
    return lines, display


def _line_with(lines: list[str], block: tuple[int, int], text: str) -> int | None:
    for i in range(*block):
        if lines[i].strip() and lines[i].strip().rstrip(",;") == text.strip():
            return i
    return None


def _title_org(case, lines, block, rng, variant):
    titles, orgs = case.gold_fields.get("Position", []), case.gold_fields.get("Organisation", [])
    if not titles or not orgs:
        return None
    t, o = _line_with(lines, block, titles[0]), _line_with(lines, block, orgs[0])
    if t is None or o is None or t == o:
        return None
    indent = lines[t][: len(lines[t]) - len(lines[t].lstrip())]
    joined = f"{indent}{titles[0].strip()}{rng.choice(TITLE_ORG_SEPARATORS)}{orgs[0].strip()}"
    out = list(lines)
    out[t] = joined
    del out[o]
    return out, case.sender_name


_DIGITS = re.compile(r"\D")


def _formatted(number: str, rng: random.Random) -> str | None:
    digits = _DIGITS.sub("", number)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        return None
    text = rng.choice(PHONE_FORMATS).format(a=digits[:3], b=digits[3:6], c=digits[6:])
    return text


def _phones(case, lines, block, rng, variant):
    out = list(lines)
    rewritten: dict[str, int] = {}
    for kind in ("Phone", "Fax"):
        for number in case.gold_fields.get(kind, []):
            new = _formatted(number, rng)
            at = next((i for i in range(*block) if number in out[i]), None)
            if new is None or at is None:
                continue
            rest = out[at].replace(number, " ")
            words = re.findall(r"[A-Za-z]{2,}", rest)
            label_only = len(words) <= 2 and not re.search(r"\d", rest)
            if kind == "Phone" and rng.random() < 0.25:
                new += rng.choice(EXTENSIONS).format(e=rng.randint(100, 9999))
            if label_only:
                indent = out[at][: len(out[at]) - len(out[at].lstrip())]
                labels = PHONE_LABELS if kind == "Phone" else FAX_LABELS
                out[at] = indent + rng.choice(labels).format(n=new)
                rewritten.setdefault(kind, at)
            else:
                out[at] = out[at].replace(number, new)
    if not rewritten and out == lines:
        return None
    if "Phone" in rewritten and "Fax" in rewritten and rewritten["Phone"] != rewritten["Fax"]:
        p, f = rewritten["Phone"], rewritten["Fax"]
        out[p] = rng.choice(PHONE_FAX_JOINS).format(p=out[p].rstrip(), f=out[f].strip())
        del out[f]
    return out, case.sender_name


def _combined(case, lines, block, rng, variant):
    """Directory name, phone formats and joined title/organisation, then a trailer
    (``variant`` names the trailer kind) or the block inside the text."""
    steps = [(_directory, rng.choice(("last_first", "extra_surname", "initial"))), (_phones, "formats"),
             (_title_org, "joined"), (_inline, "inline") if variant == "inline" else (_trailer, variant)]
    sender = case.sender_name
    for transform, step in steps:
        result = transform(dataclasses.replace(case, sender_name=sender), lines, block, rng, step)
        if result is None:
            continue
        new_lines, sender = result
        if transform in (_phones, _title_org):  # lines joined inside the block
            block = (block[0], block[1] - (len(lines) - len(new_lines)))
        lines = new_lines
    return lines, sender


VARIANTS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "trailer": (_trailer, ("notice", "enclosure", "attachment", "prose")),
    "inline": (_inline, ("inline",)),
    "directory": (_directory, ("last_first", "extra_surname", "initial", "opaque_address")),
    "title_org": (_title_org, ("joined",)),
    "phones": (_phones, ("formats",)),
    "combined": (_combined, ("notice", "enclosure", "attachment", "prose", "inline")),
    "unsigned": (_trailer, ("notice", "enclosure", "attachment", "prose")),
}


def stressed(case, kind: str) -> list:
    """The variants of ``case`` under transformation ``kind`` (empty when it does not apply)."""
    lines = split_lines(case.body)
    if kind == "unsigned":
        if case.has_gold_signature:
            return []
        own = [i for i in top_zone(case.body).own if lines[i].strip()]
        block = (own[-1], own[-1] + 1) if own else None  # the trailer goes under the own text
    elif not case.has_gold_signature or not case.gold_fields:
        return []
    else:
        block = _block(case, lines)
    if block is None:
        return []
    transform, variants = VARIANTS[kind]
    out = []
    for variant in variants:
        result = transform(case, lines, block, _rng(kind, case.name, variant), variant)
        if result is None:
            continue
        new_lines, sender_name, *address = result
        sender_email = address[0] if address else case.sender_email
        if new_lines == lines and sender_name == case.sender_name and sender_email == case.sender_email:
            continue
        out.append(dataclasses.replace(
            case, name=f"{case.name}#{kind}:{variant}", body=_joined(new_lines), sender_name=sender_name,
            sender_email=sender_email, gold_lines=set(), gold_lines_with_fields=set(),
        ))
    return out
