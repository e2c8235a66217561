"""Signature stage: the sender's own signature block and what it says.

Default path is pure rules (stdlib + ``phonenumbers`` + ``nameparser``), no
network. :class:`~leadminer.signature.llm.LlmSignatureExtractor` is an optional
extractor for an OpenAI-compatible endpoint, off unless a caller builds one.

>>> sig = extract_signature("See you.\\n\\nJane Doe\\nCTO, Acme Inc.\\n+1 415 555 0100",
...                         sender_email="jane@acme.com", sender_name="Jane Doe")
>>> sig.job_title, sig.organization, sig.telephone
('CTO', 'Acme Inc.', ['+14155550100'])
"""

from __future__ import annotations

import re

from ..contracts import SIGNATURE_FIELDS, Signature
from . import lexicon as lx
from .detect import SignatureLines, find_signature_lines, locate
from .fields import Fields, clean_name, extract_fields, extract_phones, region_for
from .identity import Identity
from .llm import LlmError, LlmSignatureExtractor
from .quotes import split_lines, strip_quoted, top_zone

__all__ = [
    "Fields",
    "LlmError",
    "LlmSignatureExtractor",
    "SignatureLines",
    "attributed_to_sender",
    "extract_fields",
    "extract_phones",
    "extract_signature",
    "find_signature_lines",
    "region_for",
    "split_lines",
    "strip_quoted",
    "top_zone",
]

MAX_BODY_CHARS = 64_000  # the stage reads a capped body; the signature is near the top anyway


def attributed_to_sender(found: SignatureLines, identity: Identity) -> bool:
    """True when the block can be the sender's: any name or address it carries
    (block or closing) must be compatible with the From identity (a role address
    such as "info@acme.com" names nobody)."""
    if found.block is None:
        return False
    spans = [found.block] + ([found.closing] if found.closing else [])
    compatible = foreign = False
    for start, end in spans:
        for i in range(start, end):
            info = found.infos[i]
            if info.blank:
                continue
            if info.name:
                compatible = True
            elif info.person:
                foreign = True
            for address in lx.EMAIL.findall(found.lines[i]):
                if identity.matches_email(address):
                    compatible = True
                elif not lx.is_role_address(address):
                    foreign = True
    return compatible or not foreign


def _name_above_block(found: SignatureLines, identity: Identity) -> str | None:
    """The sender's full name on the line right above the block, under the sign-off
    ("Best regards,\nJane Doe\nCTO, Acme") or after it ("Best regards, Jane Doe\nCTO,
    Acme"): the block itself starts below it."""
    above = found.block[0] - 1 if found.block else -1
    while found.closing and above > found.closing[0] and not found.lines[above].strip():
        above -= 1  # "Best regards,\n\nJane Doe\n\nCTO"
    if not found.closing or not found.closing[0] <= above < found.closing[1]:
        return None
    info = found.infos[above]
    if info.name and info.words >= 2 and not info.strong:
        return clean_name(found.lines[above])
    if info.sign_off:
        m = lx.SIGN_OFF.match(found.lines[above])
        rest = (m.group("rest") or "").strip(" .!-–—") if m else ""
        if len(rest.split()) >= 2 and identity.matches_name(rest):
            return clean_name(rest)
    return None


_EDGE_PUNCTUATION = " \t|-–—:*•·,;/\\"
_DANGLING = re.compile(r"(?:^|\s)(?:and|&|of|for|the|at|de|du|des|und|et|y|e|di|van|von)$", re.IGNORECASE)


def tidy_value(value: str | None) -> str | None:
    """A field value without separator debris at its ends ("| Systems Programmer |",
    "-  Staff"); None when nothing meaningful is left or it stops mid-phrase ("Systems and")."""
    if not value:
        return None
    value = value.strip(_EDGE_PUNCTUATION)
    if len(value) < 2 or _DANGLING.search(value):
        return None
    return value


def extract_signature(
    body: str, *, sender_email: str, sender_name: str | None = None, message_id: str = ""
) -> Signature | None:
    """The sender's own signature in ``body`` (text/plain of their latest message).

    Returns None when there is no signature block in the sender's own text, or
    when the block names someone else (a forwarded or quoted signature).
    """
    if not isinstance(body, str):
        raise TypeError(f"body must be str, not {type(body).__name__}")
    if not body.strip():
        return None
    identity = Identity.of(sender_email, sender_name)
    found = locate(top_zone(body[:MAX_BODY_CHARS]), identity)
    if found.block is None or not attributed_to_sender(found, identity):
        return None
    fields = extract_fields(found.block_lines(), identity, name_above=_name_above_block(found, identity))
    fields.job_title = tidy_value(fields.job_title)
    fields.organization = tidy_value(fields.organization)
    fields.address = tidy_value(fields.address)

    found_fields = {name: getattr(fields, name) for name in SIGNATURE_FIELDS}
    if not (any(found_fields.values()) or any(not lx.is_role_address(e) for e in fields.emails)):
        return None
    return Signature(
        email=identity.email,
        message_id=message_id,
        name=fields.name,
        emails=fields.emails,
        lines=found.cleaned_span(),
        **found_fields,
    )
