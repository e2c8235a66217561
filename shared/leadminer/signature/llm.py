"""Optional LLM signature extractor (OpenAI-compatible chat completions).

Off by default: nothing in the pipeline builds one. When used, it sends the
bottom of the sender's own text (quotes and footers already removed) to
``{base_url}/chat/completions`` with a JSON-schema response format, and then
keeps only what the text supports: every returned string must occur in the
text (phones are compared by digits), so an invented field is dropped. The
HTTP call goes through an injectable ``transport``; the default one imports
``urllib.request`` lazily, so nothing network-related is imported on the
Pyodide path unless this extractor is actually called.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import phonenumbers

from ..contracts import Signature
from . import lexicon as lx
from .detect import locate
from .fields import region_for
from .identity import Identity, fold
from .quotes import top_zone

# (url, headers, body, timeout seconds) -> response body
Transport = Callable[[str, dict[str, str], bytes, float], bytes]

MAX_PROMPT_LINES = 40

_STRING_OR_NULL = {"type": ["string", "null"]}
_STRINGS = {"type": "array", "items": {"type": "string"}}
SIGNATURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "has_signature", "name", "job_title", "organization", "telephone", "fax",
        "address", "url", "same_as", "emails",
    ],
    "properties": {
        "has_signature": {"type": "boolean"},
        "name": _STRING_OR_NULL,
        "job_title": _STRING_OR_NULL,
        "organization": _STRING_OR_NULL,
        "telephone": _STRINGS,
        "fax": _STRINGS,
        "address": _STRING_OR_NULL,
        "url": _STRING_OR_NULL,
        "same_as": _STRINGS,
        "emails": _STRINGS,
    },
}

_SYSTEM_PROMPT = (
    "You read the end of an e-mail written by the sender named below and extract the sender's own "
    "signature block. Copy values exactly as written; never guess, complete or reformat them. Use null "
    "or [] for anything absent. 'fax' holds only numbers labelled as fax. 'same_as' holds social-profile "
    "URLs (LinkedIn, X/Twitter, GitHub, …); 'url' the website. Set has_signature to false when there is "
    "no signature block or it belongs to someone other than the sender."
)


class LlmError(RuntimeError):
    """The endpoint failed or answered something that is not the expected JSON."""


def urllib_transport(url: str, headers: dict[str, str], body: bytes, timeout: float) -> bytes:
    """Default transport: a POST with the standard library (imported on first use)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (caller's URL)
            return response.read()
    except urllib.error.HTTPError as exc:
        raise LlmError(f"LLM endpoint answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise LlmError(f"LLM endpoint unreachable: {type(exc).__name__}") from None


def _squash(text: str) -> str:
    """Folded words only: line breaks, commas and spacing do not matter."""
    return " ".join(re.sub(r"[\W_]+", " ", fold(text)).split())


class LlmSignatureExtractor:
    """Signature extraction by an OpenAI-compatible model, checked against the text."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        transport: Transport | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not base_url or not model:
            raise ValueError("base_url and model are required")
        self.endpoint = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key  # never logged nor put in error messages
        self.model = model
        self.transport = transport or urllib_transport
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"LlmSignatureExtractor(endpoint={self.endpoint!r}, model={self.model!r})"

    def request_body(self, text: str, sender_email: str, sender_name: str | None) -> dict[str, Any]:
        sender = f"{sender_name} <{sender_email}>" if sender_name else sender_email
        return {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": _SYSTEM_PROMPT},
                {"role": "user", "content": f"Sender: {sender}\n\nEnd of the e-mail:\n{text}"},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "signature", "strict": True, "schema": SIGNATURE_SCHEMA},
            },
        }

    def _call(self, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        raw = self.transport(self.endpoint, headers, json.dumps(payload).encode("utf-8"), self.timeout)
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
            answer = json.loads(content) if isinstance(content, str) else content
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LlmError(f"unexpected LLM answer: {type(exc).__name__}") from None
        if not isinstance(answer, dict):
            raise LlmError("unexpected LLM answer: not a JSON object")
        return answer

    def extract(
        self, body: str, *, sender_email: str, sender_name: str | None = None, message_id: str = ""
    ) -> Signature | None:
        """Same contract as :func:`leadminer.signature.extract_signature`."""
        if not isinstance(body, str):
            raise TypeError(f"body must be str, not {type(body).__name__}")
        zone = top_zone(body)
        own = [zone.lines[i] for i in zone.own]
        while own and not own[-1].strip():
            own.pop()
        text = "\n".join(own[-MAX_PROMPT_LINES:])
        if not text.strip():
            return None
        answer = self._call(self.request_body(text, sender_email, sender_name))
        if not answer.get("has_signature"):
            return None
        identity = Identity.of(sender_email, sender_name)
        signature = _grounded(answer, text, identity, message_id)
        if signature is not None:
            found = locate(zone, identity)
            signature.lines = found.cleaned_span()
        return signature


def _grounded(answer: dict[str, Any], text: str, identity: Identity, message_id: str) -> Signature | None:
    """Keep only the values that occur in ``text``; refuse someone else's name."""
    haystack = _squash(text)
    digit_lines = [re.sub(r"\D", "", line) for line in text.splitlines()]

    def occurs(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return None
        return value.strip() if _squash(value) in haystack else None

    def phones(values: Any) -> list[str]:
        out = []
        for value in values if isinstance(values, list) else []:
            if not isinstance(value, str):
                continue
            try:
                number = phonenumbers.parse(value, region_for(identity.email))
            except phonenumbers.NumberParseException:
                continue
            national = str(number.national_number)
            if len(national) < 7 or not any(national in line for line in digit_lines):
                continue  # invented or altered number
            if phonenumbers.is_valid_number(number):
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                if e164 not in out:
                    out.append(e164)
        return out

    def strings(values: Any) -> list[str]:
        return [v for v in (occurs(x) for x in (values if isinstance(values, list) else [])) if v]

    name = occurs(answer.get("name"))
    if name and identity.known() and not identity.matches_name(name):
        return None  # a forwarded or quoted signature: never attach it to the sender
    emails = [e.lower() for e in strings(answer.get("emails")) if lx.EMAIL.fullmatch(e)]
    signature = Signature(
        email=identity.email,
        message_id=message_id,
        name=name,
        job_title=occurs(answer.get("job_title")),
        organization=occurs(answer.get("organization")),
        telephone=phones(answer.get("telephone")),
        fax=phones(answer.get("fax")),
        address=occurs(answer.get("address")),
        url=occurs(answer.get("url")),
        same_as=strings(answer.get("same_as")),
        emails=[e for e in emails if e != identity.email],
    )
    if not any(
        (signature.job_title, signature.organization, signature.telephone, signature.fax, signature.address,
         signature.url, signature.same_as, signature.emails)
    ):
        return None
    return signature
