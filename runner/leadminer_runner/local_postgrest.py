"""A local stand-in for Supabase's PostgREST: the smallest endpoint that
:class:`~leadminer.adapters.postgrest.PostgrestMainStore` needs, over a local PostgreSQL.

Only ``POST /rest/v1/rpc/{function}``, for the functions of ``schemas/postgres/main_api.sql``.
As PostgREST does, it verifies the HS256 JWT (``Authorization: Bearer``, else ``apikey``; none:
the ``anon`` role), and runs each call in one transaction under ``SET LOCAL ROLE <role claim>``
with ``request.jwt.claims`` (and ``request.jwt.claim.sub``) set, so row level security applies
as on Supabase. Errors come in PostgREST's shape ``{code, message, details, hint}``: 401 for a
bad or expired token, 404 for an unknown function, 400 for bad arguments, 403 for a refused
statement, 503 when the database cannot be reached.

Run it: ``SUPABASE_JWT_SECRET=… python -m leadminer_runner.local_postgrest --database-url URL --port P``
(:mod:`leadminer_runner.local_supabase` starts it for the local Cloudflare stack).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
from typing import Any

import jwt
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from leadminer.schemas import schema_sql

from .postgres import MAIN_API_SCHEMA

FUNCTIONS = frozenset(re.findall(r"CREATE OR REPLACE FUNCTION (lm_\w+)\(", schema_sql(MAIN_API_SCHEMA)))
"""The functions that may be called: those of main_api.sql."""
ROLES = frozenset({"anon", "authenticated", "service_role"})


def _error(status: int, code: str, message: str, details: str | None = None, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": details, "hint": hint}, status_code=status)


def _claims(request: Request, secret: str) -> dict | JSONResponse:
    """The verified claims of the request's token ({'role': 'anon'} without one)."""
    authorization = request.headers.get("authorization", "")
    token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else request.headers.get("apikey")
    if not token:
        return {"role": "anon"}
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_aud": False})
    except jwt.ExpiredSignatureError:
        return _error(401, "PGRST303", "JWT expired")
    except jwt.InvalidTokenError as error:
        return _error(401, "PGRST301", f"JWT invalid: {error}")
    if claims.get("role") not in ROLES:
        return _error(401, "PGRST301", f"JWT role {claims.get('role')!r} is not one of {', '.join(sorted(ROLES))}")
    return claims


def _argument(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict | list) else value


class LocalPostgrest:
    """The ASGI app (``.app``) over one database; one connection, calls one at a time."""

    def __init__(self, database_url: str, jwt_secret: str):
        self.database_url = database_url
        self.jwt_secret = jwt_secret
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self.app = Starlette(routes=[Route("/rest/v1/rpc/{function}", self.rpc, methods=["POST"])])

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def rpc(self, request: Request) -> Response:
        function = request.path_params["function"]
        if function not in FUNCTIONS:
            return _error(404, "PGRST202", f"Could not find the function public.{function} in the schema cache")
        claims = _claims(request, self.jwt_secret)
        if isinstance(claims, JSONResponse):
            return claims
        try:
            arguments = json.loads(await request.body() or b"{}")
        except ValueError as error:
            return _error(400, "PGRST102", f"Empty or invalid json: {error}")
        if not isinstance(arguments, dict) or not all(re.fullmatch(r"p_\w+", k) for k in arguments):
            return _error(400, "PGRST102", "the body must be a JSON object of named arguments (p_…)")
        async with self._lock:
            return await self._call(function, arguments, claims)

    async def _call(self, function: str, arguments: dict, claims: dict) -> Response:
        call = sql.SQL("SELECT {}({})").format(
            sql.Identifier(function),
            sql.SQL(", ").join(sql.SQL("{} => %s").format(sql.Identifier(k)) for k in arguments),
        )
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True)
            conn = self._conn
            async with conn.transaction():
                await conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(claims["role"])))
                await conn.execute(
                    "SELECT set_config('request.jwt.claims', %s, true), set_config('request.jwt.claim.sub', %s, true)",
                    (json.dumps(claims), str(claims.get("sub") or "")),
                )
                cur = await conn.execute(call, [_argument(v) for v in arguments.values()])
                (result,) = await cur.fetchone()
        except psycopg.OperationalError as error:
            await self.close()
            return _error(503, "PGRST000", f"Database connection error: {error}".strip())
        except psycopg.errors.UndefinedFunction as error:  # no such arguments
            return _error(404, "PGRST202", f"Could not find the function public.{function} with these arguments",
                          hint=str(error).splitlines()[0])  # fmt: skip
        except psycopg.Error as error:
            diag = error.diag
            status = 403 if diag.sqlstate == "42501" else 400
            return _error(status, diag.sqlstate or "", diag.message_primary or str(error), diag.message_detail, diag.message_hint)
        return Response(json.dumps(result), media_type="application/json")


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--jwt-secret", default=os.environ.get("SUPABASE_JWT_SECRET"),
                        help="default: $SUPABASE_JWT_SECRET (an argument is visible to other local users)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=54321)
    args = parser.parse_args(argv)
    if not args.jwt_secret:
        parser.error("no JWT secret: set SUPABASE_JWT_SECRET or pass --jwt-secret")
    uvicorn.run(LocalPostgrest(args.database_url, args.jwt_secret).app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
