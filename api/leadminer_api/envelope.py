"""Leadminer's JSON envelope: ``{"error": null, "data": …}``, errors
``{"error": {"message", "code"}, "data": null}`` with the right HTTP status.

The same mapping as the command line's error boundary: every failure a client can
cause or meet is one sentence and a status; anything else is a 500 whose message
names no internals (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("leadminer.api")


class ApiError(Exception):
    """An error for the client: HTTP ``status``, a stable ``code`` and one sentence."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": None, "data": data}, status_code=status, headers=headers)


def failure(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "code": code}, "data": None}, status_code=status, headers=headers)


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "rate_limited"}  # fmt: skip


def install(app: FastAPI) -> None:
    """Every error of the app goes out in the envelope."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return failure(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return failure(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'] if p != 'body') or 'body'}: {error['msg']}" for error in exc.errors()
        )
        return failure(422, "invalid", f"invalid request: {problems}")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        from leadminer.storage import StoreUnavailable

        if isinstance(exc, StoreUnavailable):
            log.warning("%s %s: %s", request.method, request.url.path, exc)
            return failure(503, "unavailable", "a storage service is unreachable; try again shortly", {"Retry-After": "5"})
        log.exception("%s %s failed", request.method, request.url.path)
        return failure(500, "internal", "internal error; it was logged")
