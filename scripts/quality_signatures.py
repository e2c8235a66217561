#!/usr/bin/env python3
"""Quality and speed of the signature stage on the public gold corpora.

* quagga-enron-train: the gold sender signature is every ``Body/Signature``
  span that starts before the first ``Header`` span (the top ``Body`` zone).
  Line-level block detection and field-level P/R/F1 (name, job title,
  organisation, phone, fax, e-mail, address; URL is not annotated there).
* forge-signatures: line-level P/R/F1 against the ``#sig#`` marks (which count
  the sign-off and name as signature, so the closing is included there).

A line counts as a signature line when its characters (newline excluded)
overlap a gold span; blank lines are ignored on both sides.

**Field items (issue 11).** Per message, the gold fields are the
``Body/Signature/<Field>`` spans above the first quoted ``Header``; a message
whose sender signature carries no field span is skipped. Phones = Phone + Fax
spans by their last 10 digits against ``telephone`` + ``fax`` (one item per
number); name, job title and organisation are one item each, a hit when the
folded token sets overlap by at least half of the larger one. An empty
prediction where a field is annotated is a miss; a prediction where none is
annotated is a false positive (not for the name). Micro-F1 over all items.

**Folds.** Messages are split into 5 folds by sender address (crc32 % 5), so a
sender's repeated signature never sits on both sides. Fold 0 is the locked
held-out set: its errors are never printed (``--errors``/``--fields`` refuse it)
and rules are not developed on it. Folds 1-2 are the development folds (errors
read), folds 3-4 the check folds (only their figures are read: a rule is kept
when they improve or hold). The report also gives, per fold k, the figures of
fold k against those of the other four (training vs held-out).

**Quoted signatures** (a second, harder check): the ``Body/Signature`` fields
annotated *below* a quoted header, i.e. other people's signatures in the
threads, each scored as the signature of the person in that header's From (the
text from the header to the next one, quote marks removed). Such a case belongs
to the quoted person's fold (crc32 of their folded name), and to the locked fold
0 when it sits in a fold-0 message. Folds 1-4 of this set are development
(``--quoted-fields 1|2|3|4`` prints their errors); fold 0 is never printed.

**Stress** (``--stress``): the issue 11 items on transformed copies of the
annotated messages (scripts/signature_stress.py: a notice / enclosure / P.S.
after the block, the block inside the text, directory-order display names, title
and organisation on one line, other phone formats, trailers under unsigned
text), per transformation, next to the untransformed sources; fold 0
transformed is the check (``--stress-fields`` reads folds 1-4 only). Usage::

    .venv/bin/python scripts/quality_signatures.py [--json] [--errors 1|2|forge] [--fields 1|2] [--quoted-fields 1|2]
    .venv/bin/python scripts/quality_signatures.py --stress [--json] | --stress-fields 1|2|3|4
"""

from __future__ import annotations

import argparse
import email
import email.policy
import email.utils
import json
import pathlib
import re
import sys
import time
import unicodedata
import zlib
from collections import defaultdict
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT / "scripts"))

from leadminer.signature import (  # noqa: E402
    attributed_to_sender,
    extract_signature,
    find_signature_lines,
    split_lines,
)
from leadminer.signature.identity import Identity  # noqa: E402
from corpora import extract_corpus  # noqa: E402
from signature_stress import TRANSFORMS, stressed  # noqa: E402

FIELDS = {
    "name": "Name",
    "job_title": "Position",
    "organization": "Organisation",
    "telephone": "Phone",
    "fax": "Fax",
    "emails": "Mail",
    "address": "Address",
}
ITEM_FIELDS = {"name": "Name", "job_title": "Position", "organization": "Organisation"}
_QP_ESCAPE = re.compile(r"=([0-9A-Fa-f]{2})")
FOLDS = 5
LOCKED_FOLD = 0  # never inspected while developing rules
DEVELOPMENT_FOLDS = (1, 2)  # errors read
CHECK_FOLDS = (3, 4)  # figures only: a rule is kept when they improve or hold


def fold_of(sender_email: str) -> int:
    """The sender's fold (deterministic: crc32 of the address)."""
    return zlib.crc32(sender_email.encode()) % FOLDS


# --- corpus readers -------------------------------------------------------------


@dataclass
class Case:
    """One body with its sender and gold signature lines (and fields for Quagga)."""

    name: str
    body: str
    sender_email: str
    sender_name: str | None
    gold_lines: set[int]
    gold_lines_with_fields: set[int] = field(default_factory=set)
    fold: int = 0
    gold_fields: dict[str, list[str]] = field(default_factory=dict)
    has_gold_signature: bool = False


def _ascii_escape(m: re.Match[str]) -> str:
    code = int(m.group(1), 16)
    return chr(code) if code < 128 else m.group(0)


def qp_lines(text: str) -> str:
    """Decode quoted-printable escapes line by line, keeping the line structure
    (soft breaks are dropped, not joined) so gold line numbers stay valid."""
    out = []
    for line in text.split("\n"):
        if line.endswith("=") and not line.endswith("=="):
            line = line[:-1]
        out.append(_QP_ESCAPE.sub(_ascii_escape, line))
    return "\n".join(out)


def line_extents(text: str) -> list[tuple[int, int]]:
    extents, pos = [], 0
    for line in split_lines(text):
        extents.append((pos, pos + len(line)))
        pos += len(line) + 1
    return extents


def overlapping_lines(text: str, spans: list[tuple[int, int]]) -> set[int]:
    lines = split_lines(text)
    out = set()
    for n, (a, b) in enumerate(line_extents(text)):
        if lines[n].strip() and any(a < e and s < b for s, e in spans):
            out.add(n)
    return out


def sender_of(header_from: str, x_from: str | None) -> tuple[str, str | None]:
    name, address = email.utils.parseaddr(header_from)
    x_name = None
    if x_from:
        x_from = re.sub(r"</?O=[^>]*>", "", x_from)
        x_name, x_address = email.utils.parseaddr(x_from)
        x_name = x_name or (x_from.strip() if "@" not in x_from else None)
    return address.lower(), (name or x_name or None)


def _annotated(folder: pathlib.Path):
    """(name, annotation, raw message, is quoted-printable) of every Quagga message."""
    for ann_path in sorted(folder.glob("*.txt.ann")):
        ann = json.loads(ann_path.read_text("utf-8"))
        message = email.message_from_bytes(ann_path.with_suffix("").read_bytes(), policy=email.policy.compat32)
        qp = "quoted-printable" in str(message.get("Content-Transfer-Encoding", "")).lower()
        yield ann_path.name.removesuffix(".txt.ann"), ann, message, qp


def read_quagga(folder: pathlib.Path) -> list[Case]:
    cases = []
    for name, ann, message, qp in _annotated(folder):
        text = qp_lines(ann["text"]) if qp else ann["text"]
        den = ann["denotations"]
        headers = [d["start"] for d in den if d["type"] == "Header"]
        first_header = min(headers) if headers else len(ann["text"]) + 1
        sigs = [(d["start"], d["end"]) for d in den if d["type"] == "Body/Signature" and d["start"] < first_header]
        # Field spans count wherever they are in the top zone: a few messages
        # annotate the fields of the sender's signature but not its block span.
        gold_fields: dict[str, list[str]] = defaultdict(list)
        field_spans = []
        for d in den:
            kind = d["type"]
            if kind.startswith("Body/Signature/") and d["start"] < first_header and not kind.endswith("Disclaimer"):
                gold_fields[d["type"].removeprefix("Body/Signature/")].append(d["text"])
                field_spans.append((d["start"], d["end"]))
        sender_email, sender_name = sender_of(str(message.get("From", "")), message.get("X-From"))
        cases.append(
            Case(
                name=name,
                body=text,
                sender_email=sender_email,
                sender_name=sender_name,
                gold_lines=overlapping_lines(ann["text"], sigs),
                gold_lines_with_fields=overlapping_lines(ann["text"], sigs + field_spans),
                fold=fold_of(sender_email),
                gold_fields=dict(gold_fields),
                has_gold_signature=bool(sigs or gold_fields),
            )
        )
    return cases


_QUOTE_MARKS = re.compile(r"^(?:[ \t]*>)+ ?")
_HEADER_ADDRESS = re.compile(r"[\w.'+-]+@[\w-]+(?:\.[\w-]+)+")
_HEADER_NOISE = re.compile(r"[\w.'+-]*@\S*|<[^>]*>|\"|/.*$|\s+on\s+\d.*$")


def read_quoted(folder: pathlib.Path) -> list[Case]:
    """Other people's annotated signatures inside the threads (see "Quoted signatures")."""
    cases = []
    for name, ann, message, qp in _annotated(folder):
        message_fold = fold_of(sender_of(str(message.get("From", "")), message.get("X-From"))[0])
        text, den = ann["text"], ann["denotations"]
        headers = sorted((d["start"], d["end"]) for d in den if d["type"] == "Header")
        for n, (start, end) in enumerate(headers):
            stop = headers[n + 1][0] if n + 1 < len(headers) else len(text)
            froms = [d["text"] for d in den if d["type"] == "Header/Person/From" and start <= d["start"] < end]
            gold_fields: dict[str, list[str]] = defaultdict(list)
            for d in den:
                kind = d["type"]
                if kind.startswith("Body/Signature/") and end <= d["start"] < stop and not kind.endswith("Disclaimer"):
                    gold_fields[kind.removeprefix("Body/Signature/")].append(d["text"])
            if not gold_fields or not froms:
                continue
            zone = qp_lines(text[end:stop]) if qp else text[end:stop]
            address = _HEADER_ADDRESS.search(froms[0])
            person = " ".join(_HEADER_NOISE.sub(" ", froms[0]).split())
            person_fold = zlib.crc32(re.sub(r"\W", "", person.lower()).encode()) % FOLDS
            cases.append(Case(
                name=f"{name}@{start}",
                body="\n".join(_QUOTE_MARKS.sub("", line) for line in zone.split("\n")),
                sender_email=address.group(0).lower() if address else "",
                sender_name=person or None,
                gold_lines=set(),
                fold=LOCKED_FOLD if message_fold == LOCKED_FOLD else person_fold,
                gold_fields=dict(gold_fields),
                has_gold_signature=True,
            ))
    return cases


def read_forge(folder: pathlib.Path) -> list[Case]:
    cases = []
    for body_path in sorted(folder.glob("[PN]/*_body")):
        marked = body_path.read_text("utf-8", errors="replace")
        lines = split_lines(marked)
        gold = {n for n, line in enumerate(lines) if line.startswith("#sig#") and line[5:].strip()}
        body = "\n".join(line[5:] if line.startswith("#sig#") else line for line in lines)
        sender_line = body_path.with_name(body_path.name.replace("_body", "_sender")).read_text("utf-8").strip()
        mailto = re.search(r"\[mailto:([^\]]+)\]", sender_line)
        name, address = email.utils.parseaddr(sender_line)
        if mailto:
            address, name = mailto.group(1), sender_line[: mailto.start()].strip()
        elif "@" not in address:
            address, name = "", sender_line.strip('" ')
        cases.append(Case(f"{body_path.parent.name}/{body_path.name}", body, address.lower(), name or None, gold))
    return cases


# --- scoring -------------------------------------------------------------------


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set, gold: set) -> None:
        self.tp += len(predicted & gold)
        self.fp += len(predicted - gold)
        self.fn += len(gold - predicted)

    def prf(self) -> dict[str, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {
            "precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3),
            "tp": self.tp, "fp": self.fp, "fn": self.fn,
        }


def norm_text(value: str) -> str:
    value = unicodedata.normalize("NFKD", value.lower())
    value = "".join(ch for ch in value if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", value).split())


def norm_phone(value: str) -> str:
    return re.sub(r"\D", "", value)[-10:]


def predicted_lines(case: Case, *, include_closing: bool) -> set[int]:
    found = find_signature_lines(case.body, case.sender_email, case.sender_name)
    if not include_closing and not attributed_to_sender(found, Identity.of(case.sender_email, case.sender_name)):
        return set()
    return found.line_numbers(include_closing=include_closing)


def field_values(case: Case) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(predicted, gold) normalised values per field for one Quagga case."""
    sig = extract_signature(case.body, sender_email=case.sender_email, sender_name=case.sender_name)
    predicted: dict[str, set[str]] = {}
    gold: dict[str, set[str]] = {}
    for attr, kind in FIELDS.items():
        norm = norm_phone if attr in ("telephone", "fax") else norm_text
        value = getattr(sig, attr) if sig else None
        values = value if isinstance(value, list) else ([value] if value else [])
        predicted[attr] = {norm(v) for v in values if norm(v)}
        gold_values = case.gold_fields.get(kind, [])
        if attr == "emails":  # "other" addresses: the sender's own is not repeated
            gold_values = [v for v in gold_values if v.strip().lower() != case.sender_email]
        gold[attr] = {norm(v) for v in gold_values if norm(v)}
    predicted["phone_or_fax"] = predicted["telephone"] | predicted["fax"]
    gold["phone_or_fax"] = gold["telephone"] | gold["fax"]
    return predicted, gold


def score_quagga(cases: list[Case]) -> dict:
    lines = Counts()
    lines_with_fields = Counts()
    lines_unattributed = Counts()
    fields = defaultdict(Counts)
    scored = 0
    for case in cases:
        predicted = predicted_lines(case, include_closing=False)
        lines.add(predicted, case.gold_lines)
        lines_with_fields.add(predicted, case.gold_lines_with_fields)
        found = find_signature_lines(case.body, case.sender_email, case.sender_name)
        lines_unattributed.add(found.line_numbers(), case.gold_lines)
        # Field scoring: messages with no gold signature (every prediction is a
        # false positive) and gold signatures whose fields were annotated.
        if case.has_gold_signature and not case.gold_fields:
            continue
        scored += 1
        predicted, gold = field_values(case)
        for attr in predicted:
            if attr in ("telephone", "fax", "emails", "phone_or_fax"):
                fields[attr].add(predicted[attr], gold[attr])
            else:  # single-valued: right if it equals one of the gold values
                c = fields[attr]
                hit = bool(predicted[attr] & gold[attr])
                c.tp += hit
                c.fp += bool(predicted[attr]) and not hit
                c.fn += bool(gold[attr]) and not hit
    return {
        "messages": len(cases),
        "gold_signatures": sum(bool(c.gold_lines) for c in cases),
        "lines": lines.prf(),
        "lines_gold_with_field_spans": lines_with_fields.prf(),
        "lines_before_attribution": lines_unattributed.prf(),
        "fields_scored_messages": scored,
        "fields": {attr: c.prf() for attr, c in fields.items()},
    }


def field_scored(case: Case) -> bool:
    """Issue 11: a sender signature without any field annotation is skipped."""
    return not (case.has_gold_signature and not case.gold_fields)


def token_hit(predicted: str, gold_values: list[str]) -> bool:
    """The folded token sets overlap by at least half of the larger one (any gold span)."""
    mine = set(norm_text(predicted).split())
    for value in gold_values:
        theirs = set(norm_text(value).split())
        if mine and theirs and 2 * len(mine & theirs) >= max(len(mine), len(theirs)):
            return True
    return False


def item_counts(case: Case) -> dict[str, Counts]:
    """Issue 11 items of one message: phones (Phone + Fax by last 10 digits), name,
    job title and organisation (one item each, token-overlap hit)."""
    sig = extract_signature(case.body, sender_email=case.sender_email, sender_name=case.sender_name)
    counts = {"phone": Counts()}
    predicted_phones = {norm_phone(v) for v in ((sig.telephone + sig.fax) if sig else []) if norm_phone(v)}
    gold_phones = case.gold_fields.get("Phone", []) + case.gold_fields.get("Fax", [])
    counts["phone"].add(predicted_phones, {norm_phone(v) for v in gold_phones if norm_phone(v)})
    for attr, kind in ITEM_FIELDS.items():
        c = counts[attr] = Counts()
        value = getattr(sig, attr) if sig else None
        gold = [v for v in case.gold_fields.get(kind, []) if norm_text(v)]
        if value and gold and token_hit(value, gold):
            c.tp += 1
            continue
        c.fn += bool(gold)
        c.fp += bool(value) and (bool(gold) or attr != "name")
    return counts


def score_items(cases: list[Case]) -> dict:
    """Per-field and micro P/R/F1 of the issue 11 items over ``cases``."""
    totals = {"phone": Counts(), **{attr: Counts() for attr in ITEM_FIELDS}}
    scored = [c for c in cases if field_scored(c)]
    for case in scored:
        for attr, c in item_counts(case).items():
            totals[attr].tp += c.tp
            totals[attr].fp += c.fp
            totals[attr].fn += c.fn
    micro = Counts(*(sum(getattr(c, k) for c in totals.values()) for k in ("tp", "fp", "fn")))
    return {
        "messages": len(scored),
        "signatures": sum(c.has_gold_signature for c in scored),
        "fields": {attr: c.prf() for attr, c in totals.items()},
        "micro": micro.prf(),
    }


def score_folds(cases: list[Case]) -> dict:
    """Issue 11 items per fold: each fold held out against the other four, the locked
    fold, the development and the check folds, and the held-out folds together (locked +
    check: the folds whose errors are never read)."""
    def of(folds) -> list[Case]:
        return [c for c in cases if c.fold in folds]

    per_fold = {}
    for k in range(FOLDS):
        per_fold[str(k)] = {
            "held_out": score_items(of({k})),
            "training": score_items(of(set(range(FOLDS)) - {k})),
        }
    return {
        "all": score_items(cases),
        "locked": score_items(of({LOCKED_FOLD})),
        "held_out": score_items(of({LOCKED_FOLD, *CHECK_FOLDS})),
        "development": score_items(of(set(DEVELOPMENT_FOLDS))),
        "check": score_items(of(set(CHECK_FOLDS))),
        "per_fold": per_fold,
    }


def score_quoted(cases: list[Case]) -> dict:
    """Issue 11 items of the quoted signatures: the locked fold and folds 1-4."""
    return {
        "locked": score_items([c for c in cases if c.fold == LOCKED_FOLD]),
        "development": score_items([c for c in cases if c.fold != LOCKED_FOLD]),
    }


def stress_cases(cases: list[Case], kind: str) -> tuple[list[Case], list[Case]]:
    """(sources, variants): the field-scored cases ``kind`` applies to, and their variants."""
    sources, variants = [], []
    for case in cases:
        if not field_scored(case):
            continue
        out = stressed(case, kind)
        if out:
            sources.append(case)
            variants.extend(out)
    return sources, variants


def score_stress(cases: list[Case]) -> dict:
    """Issue 11 items per stress transformation (scripts/signature_stress.py): the
    untransformed messages it applies to ("plain") next to their variants ("stress"),
    then every variant together against every source message."""
    report: dict = {}
    all_sources: dict[str, Case] = {}
    all_variants: list[Case] = []
    for kind in TRANSFORMS:
        sources, variants = stress_cases(cases, kind)
        report[kind] = {"plain": score_items(sources), "stress": score_items(variants)}
        all_sources.update((c.name, c) for c in sources)
        all_variants.extend(variants)
    report["overall"] = {"plain": score_items(list(all_sources.values())), "stress": score_items(all_variants)}
    return report


def score_stress_folds(cases: list[Case]) -> dict:
    """Stress figures of the locked fold (the check) and of folds 1-4 (development)."""
    return {
        "locked": score_stress([c for c in cases if c.fold == LOCKED_FOLD]),
        "development": score_stress([c for c in cases if c.fold != LOCKED_FOLD]),
    }


def score_forge(cases: list[Case]) -> dict:
    closing = Counts()
    block = Counts()
    for case in cases:
        closing.add(predicted_lines(case, include_closing=True), case.gold_lines)
        block.add(predicted_lines(case, include_closing=False), case.gold_lines)
    return {"bodies": len(cases), "lines": closing.prf(), "lines_block_only": block.prf()}


def throughput(bodies: list[tuple[str, str, str | None]], seconds: float = 2.0) -> dict:
    """Bodies per second of :func:`extract_signature` on one core."""
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for body, address, name in bodies:
            extract_signature(body, sender_email=address, sender_name=name)
        done += len(bodies)
    elapsed = time.perf_counter() - start
    return {"bodies": done, "seconds": round(elapsed, 2), "bodies_per_second": round(done / elapsed)}


def print_errors(cases: list[Case], *, include_closing: bool) -> None:
    for case in cases:
        predicted = predicted_lines(case, include_closing=include_closing)
        if predicted == case.gold_lines:
            continue
        lines = split_lines(case.body)
        print(f"=== {case.name}  sender={case.sender_email!r} {case.sender_name!r}")
        shown = sorted(predicted | case.gold_lines)
        lo, hi = max(0, shown[0] - 4), min(len(lines), shown[-1] + 3)
        for n in range(lo, hi):
            mark = ("P" if n in predicted else " ") + ("G" if n in case.gold_lines else " ")
            print(f"{mark} {n:4d} {lines[n][:110]!r}")


def _fold_arg(value: str) -> str:
    if value != "forge" and int(value) not in DEVELOPMENT_FOLDS:
        raise argparse.ArgumentTypeError(
            f"only the development folds {DEVELOPMENT_FOLDS} (or forge) are inspected; "
            f"fold {LOCKED_FOLD} is locked and folds {CHECK_FOLDS} are read by their figures only"
        )
    return value


def _stress_fold_arg(value: str) -> int:
    if int(value) == LOCKED_FOLD or not 0 <= int(value) < FOLDS:
        raise argparse.ArgumentTypeError(
            f"transformed and quoted cases are read on folds 1-{FOLDS - 1} only; fold {LOCKED_FOLD} is locked"
        )
    return int(value)


def print_field_errors(cases: list[Case]) -> None:
    for case in cases:
        if not field_scored(case):
            continue
        counts = item_counts(case)
        if not any(c.fp or c.fn for c in counts.values()):
            continue
        sig = extract_signature(case.body, sender_email=case.sender_email, sender_name=case.sender_name)
        print(f"=== {case.name}  sender={case.sender_email!r} {case.sender_name!r}")
        for attr, c in counts.items():
            if c.fp or c.fn:
                kinds = ["Phone", "Fax"] if attr == "phone" else [ITEM_FIELDS[attr]]
                value = (sig.telephone + sig.fax if attr == "phone" else getattr(sig, attr)) if sig else None
                gold = [v for kind in kinds for v in case.gold_fields.get(kind, [])]
                print(f"  {attr:13s} fp={c.fp} fn={c.fn} pred={value!r} gold={gold!r}")


def _row(label: str, c: dict) -> str:
    return (f"    {label:13s} P={c['precision']:.3f} R={c['recall']:.3f} F1={c['f1']:.3f} "
            f"(tp={c['tp']} fp={c['fp']} fn={c['fn']})")


def print_items(title: str, report: dict) -> None:
    print(f"{title} ({report['messages']} msgs, {report['signatures']} sender signatures):")
    print(_row("MICRO", report["micro"]))
    for attr, c in report["fields"].items():
        print(_row(attr, c))


def print_stress(report: dict) -> None:
    for part, title in (("locked", f"locked fold {LOCKED_FOLD}"), ("development", f"folds 1-{FOLDS - 1}")):
        print(f"stress, {title}: field items P/R/F1, plain (untransformed sources) -> stress (variants)")
        for kind, pair in report["stress"][part].items():
            plain, stress = pair["plain"], pair["stress"]
            print(f"  {kind} ({plain['messages']} msgs -> {stress['messages']} variants)")
            for attr in ("micro", *plain["fields"]):
                a = plain["micro"] if attr == "micro" else plain["fields"][attr]
                b = stress["micro"] if attr == "micro" else stress["fields"][attr]
                print(f"    {attr:13s} {a['precision']:.3f}/{a['recall']:.3f}/{a['f1']:.3f} -> "
                      f"{b['precision']:.3f}/{b['recall']:.3f}/{b['f1']:.3f} (tp={b['tp']} fp={b['fp']} fn={b['fn']})")
    t = report["throughput"]
    print(f"throughput: {t['bodies_per_second']} bodies/s on one core ({t['bodies']} bodies in {t['seconds']} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--errors", type=_fold_arg, help="print line-level errors of a development fold (or forge)")
    parser.add_argument("--fields", type=_fold_arg, help="print field-item errors of a development fold")
    parser.add_argument("--quoted-fields", type=_stress_fold_arg, metavar="FOLD",
                        help="print field-item errors of the quoted signatures of a fold 1-4")
    parser.add_argument("--stress", action="store_true",
                        help="robustness figures: field items per transformation, plain vs stress, "
                             f"locked fold {LOCKED_FOLD} and folds 1-{FOLDS - 1}")
    parser.add_argument("--stress-fields", type=_stress_fold_arg, metavar="FOLD",
                        help="print field-item errors of the transformed messages of a fold 1-4")
    args = parser.parse_args()

    quagga = read_quagga(extract_corpus("quagga-enron-train"))
    forge = read_forge(extract_corpus("forge-signatures"))
    if args.errors:
        subset = forge if args.errors == "forge" else [c for c in quagga if c.fold == int(args.errors)]
        print_errors(subset, include_closing=args.errors == "forge")
        return 0
    if args.fields:
        if args.fields == "forge":
            parser.error("forge has no field annotations")
        print_field_errors([c for c in quagga if c.fold == int(args.fields)])
        return 0

    if args.quoted_fields:
        quoted = read_quoted(extract_corpus("quagga-enron-train"))
        print_field_errors([c for c in quoted if c.fold == args.quoted_fields])
        return 0
    if args.stress_fields:
        print_field_errors([v for kind in TRANSFORMS
                            for v in stress_cases([c for c in quagga if c.fold == args.stress_fields], kind)[1]])
        return 0
    if args.stress:
        report = {"stress": score_stress_folds(quagga),
                  "throughput": throughput([(c.body, c.sender_email, c.sender_name) for c in quagga + forge])}
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print_stress(report)
        return 0

    report = {
        "quagga": {"lines_and_fields": score_quagga(quagga), "items": score_folds(quagga)},
        "quoted": score_quoted(read_quoted(extract_corpus("quagga-enron-train"))),
        "forge": score_forge(forge),
        "throughput": throughput([(c.body, c.sender_email, c.sender_name) for c in quagga + forge]),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    items = report["quagga"]["items"]
    print_items("quagga items, all folds", items["all"])
    print_items(f"quagga items, held out (folds {LOCKED_FOLD}, {CHECK_FOLDS}: errors never read)", items["held_out"])
    print_items(f"quagga items, locked held-out fold {LOCKED_FOLD}", items["locked"])
    print_items(f"quagga items, development folds {DEVELOPMENT_FOLDS}", items["development"])
    print_items(f"quagga items, check folds {CHECK_FOLDS}", items["check"])
    print("quagga items per fold, micro F1 (P/R): held-out fold | its training folds")
    for k, pair in items["per_fold"].items():
        h, t = pair["held_out"]["micro"], pair["training"]["micro"]
        print(f"    fold {k}: {h['f1']:.3f} ({h['precision']:.3f}/{h['recall']:.3f}) | "
              f"{t['f1']:.3f} ({t['precision']:.3f}/{t['recall']:.3f})")
    quoted = report["quoted"]
    print_items(f"quoted signatures, locked fold {LOCKED_FOLD}", quoted["locked"])
    print_items(f"quoted signatures, folds 1-{FOLDS - 1} (development)", quoted["development"])
    q = report["quagga"]["lines_and_fields"]
    ln = q["lines"]
    print(f"quagga lines ({q['messages']} msgs, {q['gold_signatures']} gold sigs): "
          f"P={ln['precision']:.3f} R={ln['recall']:.3f} F1={ln['f1']:.3f} "
          f"(tp={ln['tp']} fp={ln['fp']} fn={ln['fn']})")
    lf = q["lines_gold_with_field_spans"]
    print(f"    lines, gold incl. field spans: P={lf['precision']:.3f} R={lf['recall']:.3f} F1={lf['f1']:.3f}")
    print("quagga fields, exact match after folding (all folds):")
    for attr, c in q["fields"].items():
        print(_row(attr, c))
    fl = report["forge"]["lines"]
    print(f"forge  ({report['forge']['bodies']} bodies): lines P={fl['precision']:.3f} R={fl['recall']:.3f} "
          f"F1={fl['f1']:.3f} (tp={fl['tp']} fp={fl['fp']} fn={fl['fn']})")
    t = report["throughput"]
    print(f"throughput: {t['bodies_per_second']} bodies/s on one core ({t['bodies']} bodies in {t['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
