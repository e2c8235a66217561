"""Supabase JWTs: HS256 signed with ``SUPABASE_JWT_SECRET``, audience ``authenticated``,
``sub`` = the user id, ``exp`` required and checked. Every route but ``/health`` needs one."""

from __future__ import annotations

import time

import jwt

from .envelope import ApiError

AUDIENCE = "authenticated"


def user_from_token(authorization: str | None, secret: str | None) -> str:
    """The user id of a ``Bearer`` token, or a 401 ApiError saying why not."""
    if not secret:
        raise ApiError(503, "not_configured", "authentication is not configured (SUPABASE_JWT_SECRET)")
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "unauthorized", "missing bearer token", {"WWW-Authenticate": "Bearer"})
    token = authorization[7:].strip()
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], audience=AUDIENCE, options={"require": ["exp", "sub", "aud"]}
        )
    except jwt.ExpiredSignatureError:
        raise ApiError(401, "token_expired", "the token has expired", {"WWW-Authenticate": "Bearer"}) from None
    except jwt.PyJWTError as exc:
        raise ApiError(401, "invalid_token", f"invalid token: {exc}", {"WWW-Authenticate": "Bearer"}) from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise ApiError(401, "invalid_token", "invalid token: no subject", {"WWW-Authenticate": "Bearer"})
    return subject


def require_same_user(path_user: str, token_user: str) -> None:
    """A ``user_id`` in the path must be the token's subject."""
    if path_user != token_user:
        raise ApiError(403, "forbidden", "this token does not belong to that user")


def mint_token(user_id: str, secret: str, *, seconds: int = 3600) -> str:
    """A token as Supabase signs it for ``user_id`` (HS256, audience ``authenticated``, expiring
    in ``seconds``): for trying the API against a self-hosted install (``leadminer token``)."""
    claims = {"sub": user_id, "aud": AUDIENCE, "role": AUDIENCE, "exp": int(time.time()) + seconds}
    return jwt.encode(claims, secret, algorithm="HS256")
