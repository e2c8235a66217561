"""fetch-dispatch's routes for the IMAP fetcher (Cloudflare mode only): how the fetcher container
(or, locally, the fetcher process) hands what it reads to the pipeline. Authenticated by the
mining's fetcher token (``Authorization: Bearer``; only its sha256 is stored), not by a user's
JWT. The handlers are :class:`leadminer.adapters.cloudflare.remote_fetch.RemoteFetch`: the
flow's own fetch bookkeeping (R2 raw batch, extract message, ledger counters, fan-in).

``POST /internal/fetcher/{mining_id}/begin | batch | end`` → 200 in the API envelope; 400 a body
that is not the JSON the route reads, 401 a wrong token, 409 a batch out of order, 410 the
mining has ended (the fetcher quits).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from leadminer.adapters.cloudflare.d1 import D1Driver
from leadminer.adapters.cloudflare.remote_fetch import RemoteFetch, RemoteFetchError, RemoteFetches
from leadminer.flow import MiningFlow

from .envelope import ApiError, ok

_CODES = {400: "bad_request", 401: "unauthorized", 409: "conflict", 410: "gone"}


def fetcher_router(backend: Any) -> APIRouter:
    """The routes over ``backend`` (a :class:`~leadminer_api.cloudflare.CloudflareBackend`)."""
    router = APIRouter(prefix="/internal/fetcher/{mining_id}", include_in_schema=False)

    async def handle(step: str, mining_id: str, authorization: str | None, request: Request) -> Any:
        token = (authorization or "").removeprefix("Bearer ").strip()
        try:
            body = await request.json() if step != "begin" else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "the body must be a JSON object")
        async with backend.services() as services:
            remote = RemoteFetch(MiningFlow(services), RemoteFetches(D1Driver(backend.env.DB)))
            try:
                return ok(await getattr(remote, step)(mining_id, token, *([body] if step != "begin" else [])))
            except RemoteFetchError as exc:
                raise ApiError(exc.status, _CODES.get(exc.status, "error"), str(exc)) from None

    @router.post("/begin")
    async def begin(mining_id: str, request: Request, authorization: Annotated[str | None, Header()] = None) -> Any:
        return await handle("begin", mining_id, authorization, request)

    @router.post("/batch")
    async def batch(mining_id: str, request: Request, authorization: Annotated[str | None, Header()] = None) -> Any:
        return await handle("batch", mining_id, authorization, request)

    @router.post("/end")
    async def end(mining_id: str, request: Request, authorization: Annotated[str | None, Header()] = None) -> Any:
        return await handle("end", mining_id, authorization, request)

    return router
