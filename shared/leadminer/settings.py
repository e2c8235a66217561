"""Every setting of every mode, in one object built from the environment.

docs/env.md documents each variable. ``STORAGE_MODE`` selects the mode:
``sqlite`` (embedded, the default), ``postgresql`` (self-host: PostgreSQL +
Redis Streams) or ``cloudflare`` (Workers: D1, R2, Queues, Supabase). Values
that hold secrets (database and Redis URLs, API keys) are left out of ``repr``
and must be shown only through a redacting function.

Pure Python, so a Worker builds it from its bindings' variables too.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

MODES = ("sqlite", "postgresql", "cloudflare")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and is meant for the user."""


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum:g}, not {raw!r}")
    return value


def _rate(env: Mapping[str, str], name: str, default: tuple[int, int]) -> tuple[int, int]:
    """``N/SECONDS`` (e.g. ``10/60``): N requests per window of SECONDS."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    count, _, seconds = raw.partition("/")
    try:
        rate = (int(count), int(seconds))
    except ValueError:
        raise SettingsError(f"{name} must look like 10/60 (requests/seconds), not {raw!r}") from None
    if rate[0] < 1 or rate[1] < 1:
        raise SettingsError(f"{name} must be positive, not {raw!r}")
    return rate


def _secret_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """``LEADMINER_SECRET_KEY``: Fernet keys (url-safe base64 of 32 bytes), comma-separated;
    checked here without the cryptography package (the core runs under Pyodide)."""
    keys = tuple(key.strip() for key in (env.get("LEADMINER_SECRET_KEY") or "").split(",") if key.strip())
    for n, key in enumerate(keys, 1):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
        except (binascii.Error, UnicodeEncodeError, ValueError):
            valid = False
        if not valid:  # never the key itself in the message
            raise SettingsError(
                f"LEADMINER_SECRET_KEY: key {n} of {len(keys)} is not a Fernet key (url-safe base64 of 32 bytes); "
                f"make one with {GENERATE_SECRET_KEY}"
            )
    return keys


GENERATE_SECRET_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


@dataclass(frozen=True, slots=True)
class Settings:
    storage_mode: str = "sqlite"
    database_url: str | None = field(default=None, repr=False)  # main PostgreSQL (self-host)
    temp_database_url: str | None = field(default=None, repr=False)  # temp PostgreSQL (self-host)
    redis_url: str = field(default=DEFAULT_REDIS_URL, repr=False)
    queue_prefix: str = ""  # keeps installations apart on one Redis
    claim_idle_ms: int = 300_000  # a delivery unacked this long is taken over by another worker
    queue_max_attempts: int = 3  # deliveries of a message before it is a dead letter (its mining fails)
    outage_limit_seconds: float = 600.0  # a delivery waits this long for an unreachable store, then is left for later
    stale_minutes: float = 60.0  # a running mining without progress this long is dead
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    # the HTTP API
    supabase_jwt_secret: str | None = field(default=None, repr=False)  # verifies the users' tokens (HS256)
    upload_limit_mb: float = 2048.0
    mining_rate: tuple[int, int] = (10, 60)  # mining routes: requests per seconds, per user
    contacts_rate: tuple[int, int] = (100, 900)  # contact routes: requests per seconds, per user
    # Fernet keys that encrypt stored mailbox passwords: the first encrypts, all decrypt (rotation)
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    spool_dir: str | None = None  # folder the API spools uploaded files into, for the workers

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        mode = (env.get("STORAGE_MODE") or "sqlite").strip().lower()
        if mode not in MODES:
            raise SettingsError(f"STORAGE_MODE must be one of {', '.join(MODES)}, not {mode!r}")
        return cls(
            storage_mode=mode,
            database_url=env.get("LEADMINER_DATABASE_URL") or None,
            temp_database_url=env.get("LEADMINER_TEMP_DATABASE_URL") or None,
            redis_url=env.get("LEADMINER_REDIS_URL") or DEFAULT_REDIS_URL,
            queue_prefix=env.get("LEADMINER_QUEUE_PREFIX", ""),
            claim_idle_ms=int(_number(env, "LEADMINER_CLAIM_IDLE_SECONDS", 300, minimum=1) * 1000),
            queue_max_attempts=int(_number(env, "LEADMINER_QUEUE_MAX_ATTEMPTS", 3, minimum=1)),
            outage_limit_seconds=_number(env, "LEADMINER_OUTAGE_LIMIT_SECONDS", 600.0, minimum=1),
            stale_minutes=_number(env, "LEADMINER_STALE_MINUTES", 60.0, minimum=0),
            llm_url=env.get("LEADMINER_LLM_URL") or None,
            llm_model=env.get("LEADMINER_LLM_MODEL") or None,
            llm_api_key=env.get("LEADMINER_LLM_API_KEY") or None,
            supabase_jwt_secret=env.get("SUPABASE_JWT_SECRET") or None,
            upload_limit_mb=_number(env, "LEADMINER_UPLOAD_LIMIT_MB", 2048.0, minimum=0.001),
            mining_rate=_rate(env, "LEADMINER_MINING_RATE", (10, 60)),
            contacts_rate=_rate(env, "LEADMINER_CONTACTS_RATE", (100, 900)),


            secret_keys=_secret_keys(env),
            spool_dir=env.get("LEADMINER_SPOOL_DIR") or None,
        )

    def require_secret_keys(self) -> tuple[str, ...]:
        """The keys that encrypt stored mailbox passwords, or a clear error when unset."""
        if not self.secret_keys:
            raise SettingsError(
                f"LEADMINER_SECRET_KEY is needed to store mailbox passwords encrypted; make one with {GENERATE_SECRET_KEY}"
            )
        return self.secret_keys

    def require_spool_dir(self) -> str:
        """The folder uploaded files are spooled into, or a clear error when unset."""
        if not self.spool_dir:
            raise SettingsError("LEADMINER_SPOOL_DIR (the folder the API spools uploaded files into) is not set")
        return self.spool_dir

    def require_postgresql(self) -> tuple[str, str]:
        """The temp and main database URLs of the self-host mode, or a clear error."""
        missing = [
            name
            for name, value in (("LEADMINER_TEMP_DATABASE_URL", self.temp_database_url), ("LEADMINER_DATABASE_URL", self.database_url))
            if not value
        ]
        if missing:
            raise SettingsError(f"self-host mode (STORAGE_MODE=postgresql) needs {' and '.join(missing)} (see docs/env.md)")
        return self.temp_database_url, self.database_url  # type: ignore[return-value]

    def llm_extractor(self):
        """The LLM signature extractor these settings describe, or a clear error when incomplete."""
        from .signature import LlmSignatureExtractor

        if not self.llm_url or not self.llm_model:
            raise SettingsError("LLM signatures need LEADMINER_LLM_URL and LEADMINER_LLM_MODEL (and LEADMINER_LLM_API_KEY)")
        return LlmSignatureExtractor(self.llm_url, self.llm_api_key or "", self.llm_model).extract
