"""Stored mailbox passwords in the Cloudflare mode: AES-256-GCM through the Workers' WebCrypto
(``crypto.subtle``, the platform's own; the self-host modes' Fernet needs ``cryptography``, a
native extension the Workers' bundle does not carry).

Keys: the Worker secret ``LEADMINER_SECRET_KEY``, comma-separated, each 32 random bytes in
url-safe base64 (the form of a Fernet key: ``python -c "import base64, os;
print(base64.urlsafe_b64encode(os.urandom(32)).decode())"``). The first key encrypts, every key
decrypts, so keys can be rotated. A token is ``v1.`` + url-safe base64 of a 12-byte nonce and
the ciphertext with its tag (what ``cryptography``'s ``AESGCM`` reads too).

``js`` and ``pyodide`` are imported at call time: the core still imports on CPython.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from ...mailboxes import SecretError

PREFIX = "v1."


class WebCryptoBox:
    """:class:`leadminer.mailboxes.SecretBox` over ``crypto.subtle`` (async methods)."""

    def __init__(self, keys: str):
        self._keys = [_key_bytes(k) for k in keys.split(",") if k.strip()]
        if not self._keys:
            raise ValueError("LEADMINER_SECRET_KEY holds no key")

    def __repr__(self) -> str:
        return "WebCryptoBox(***)"

    async def encrypt(self, secret: str) -> str:
        nonce = os.urandom(12)
        sealed = await _subtle("encrypt", self._keys[0], nonce, secret.encode("utf-8"))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    async def decrypt(self, token: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(token.removeprefix(PREFIX).encode("ascii"))
        except ValueError:
            raw = b""
        for key in self._keys:
            try:
                return (await _subtle("decrypt", key, raw[:12], raw[12:])).decode("utf-8")
            except Exception:  # noqa: BLE001, S112 - WebCrypto's OperationError: another key may fit
                continue
        raise SecretError(
            "a stored mailbox password cannot be decrypted with LEADMINER_SECRET_KEY: the key was changed "
            "(keep the old key after the new one, comma-separated) or the row was altered; add the mailbox again"
        )


def _key_bytes(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError("each key of LEADMINER_SECRET_KEY must be 32 bytes in url-safe base64")
    return key


async def _subtle(operation: str, key: bytes, nonce: bytes, data: bytes) -> bytes:
    import js  # noqa: PLC0415 - Workers (Pyodide) only
    from pyodide.ffi import to_js  # noqa: PLC0415

    subtle = js.crypto.subtle
    usages = to_js([operation])
    imported = await subtle.importKey("raw", to_js(key), "AES-GCM", False, usages)
    params: Any = to_js({"name": "AES-GCM", "iv": to_js(nonce)}, dict_converter=js.Object.fromEntries)
    result = await getattr(subtle, operation)(params, imported, to_js(data))
    return bytes(result.to_bytes())
