"""The ASGI app: Leadminer's mining routes over the mining flow.

``create_app(settings, backend)`` is written against :class:`~leadminer_api.backend.MiningBackend`
only; the self-host backend (PostgreSQL + Redis) is the default. The app only accepts,
validates and enqueues: a worker reads every source (an uploaded mailbox from the spool
folder, an IMAP account) and runs every stage. No mining state lives in this process.
"""

# no `from __future__ import annotations`: FastAPI reads the route signatures, whose
# dependency aliases are local to create_app
import asyncio
import hashlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError, field_validator

from leadminer.flow import MiningFlow, MiningOptions, describe
from leadminer.settings import Settings
from leadminer.sources import mining_spool, remove_spooled

from . import envelope
from .auth import require_same_user, user_from_token
from .backend import IdempotencyConflict, IdempotencyPending, MailboxError, MiningBackend
from .envelope import ApiError, ok
from .events import Snapshot, changes, ending
from .imports import ContactsImport
from .uploads import UPLOAD_OPENAPI, read_limited, refuse_announced_size, spool_multipart, sweep_abandoned

VERSION = "0.1.0"
PROGRESS_POLL_SECONDS = 0.5
DELETE_WAIT_SECONDS = 120.0  # a user's deletion waits this long for the stages of their stopped minings


def _git_revision() -> str | None:
    """``LEADMINER_REVISION`` (set by a deploy), else the checkout's commit read from ``.git``
    (files only: no subprocess, so the app imports where none can start, as in a Worker)."""
    if revision := os.environ.get("LEADMINER_REVISION"):
        return revision
    git = Path(__file__).resolve().parents[2] / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            if (git / ref).is_file():
                return (git / ref).read_text().strip()[:12]
            packed = (git / "packed-refs").read_text() if (git / "packed-refs").is_file() else ""
            return next((line.split()[0][:12] for line in packed.splitlines() if line.endswith(" " + ref)), None)
        return head[:12]
    except OSError:  # not a checkout (a wheel, a Worker bundle)
        return None


class MiningSourceRef(BaseModel):
    email: str


class ImapMiningRequest(BaseModel):
    miningSource: MiningSourceRef  # noqa: N815 - Leadminer's field names
    boxes: list[str] | None = None
    extractSignatures: bool = True  # noqa: N815
    cleaningEnabled: bool = True  # noqa: N815
    since: date | None = None  # only messages received on or after this day

    @field_validator("since", mode="before")
    @classmethod
    def _day_of(cls, value: Any) -> Any:
        """An ISO date, or an ISO date-time (Leadminer's web app sends one): its day."""
        if isinstance(value, str) and "T" in value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
            except ValueError:
                raise ValueError(f"not an ISO date: {value!r}") from None
        return value


class ImapAccount(BaseModel):
    email: str = Field(min_length=3)
    host: str = Field(min_length=1)
    port: int = Field(993, ge=1, le=65535)
    secure: bool | str = True  # True: TLS (imaps), False: STARTTLS, or "ssl" | "starttls" | "plain"
    password: str = Field(min_length=1, repr=False)


class MailboxRef(BaseModel):
    email: str


class StopRequest(BaseModel):
    processes: list[str] = Field(default_factory=list)
    endEntireTask: bool = True  # noqa: N815


def create_app(settings: Settings | None = None, backend: MiningBackend | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if backend is None:
            from .selfhost import SelfHostBackend

            app.state.backend = SelfHostBackend(settings)
        else:
            app.state.backend = backend
        if hasattr(app.state.backend, "open"):
            await app.state.backend.open()
        sweep_abandoned(app.state.backend.spool_dir)  # uploads a dead API process left half-received
        try:
            yield
        finally:
            if hasattr(app.state.backend, "close"):
                await app.state.backend.close()

    app = FastAPI(title="Leadminer mining API", version=VERSION, lifespan=lifespan)
    envelope.install(app)
    revision = _git_revision()

    async def get_backend(request: Request) -> MiningBackend:  # async: a sync dependency runs in a thread
        return request.app.state.backend

    async def current_user(authorization: Annotated[str | None, Header()] = None) -> str:
        return user_from_token(authorization, settings.supabase_jwt_secret)

    def limited(kind: str):
        count, window = settings.mining_rate if kind == "mining" else settings.contacts_rate

        async def check(user: Annotated[str, Depends(current_user)], backend: Annotated[MiningBackend, Depends(get_backend)]) -> str:
            wait = await backend.hit(f"{kind}:{user}", count, window)
            if wait is not None:
                raise ApiError(429, "rate_limited", f"too many requests: {count} per {window} s", {"Retry-After": str(wait)})
            return user

        return check

    MiningUser = Annotated[str, Depends(limited("mining"))]
    ContactsUser = Annotated[str, Depends(limited("contacts"))]
    Backend = Annotated[MiningBackend, Depends(get_backend)]

    async def owned_mining(backend: MiningBackend, user: str, mining_id: str) -> dict:
        async with backend.services() as services:
            mining = await services.main.mining(mining_id)
        if mining is None or mining["user_id"] != user:
            raise ApiError(404, "not_found", "no such mining")
        return mining

    def accepted(mining_id: str, kind: str) -> Any:
        return ok(
            {"miningId": mining_id, "statusUrl": f"/api/imap/mine/{kind}/{mining_id}",
             "progressUrl": f"/api/imap/mine/{kind}/{mining_id}/progress"},
            status=202,
        )  # fmt: skip

    # health ----------------------------------------------------------------------------------
    @app.get("/health")
    async def health(backend: Backend) -> Any:
        checks = await backend.health()
        healthy = all(check["ok"] for check in checks.values())
        return ok({"version": VERSION, "revision": revision, "dependencies": checks}, status=200 if healthy else 503)

    # mailboxes (IMAP): before the minings' routes, whose /api/imap/mine/{user_id} would take "sources"
    @app.post("/api/imap/mine/sources/imap")
    async def add_imap_source(account: ImapAccount, user: MiningUser, backend: Backend) -> Any:
        """Check the login against the server, then store the mailbox, its password encrypted."""
        async with backend.services() as services:
            try:
                saved = await backend.save_mailbox(services, user, account.model_dump(exclude={"password"}), account.password)
            except MailboxError as exc:
                raise ApiError(exc.status, _MAILBOX_CODES.get(exc.status, "unreachable"), str(exc)) from None
        return ok(saved, status=201)

    @app.get("/api/imap/mine/sources")
    async def list_sources(user: MiningUser, backend: Backend) -> Any:
        async with backend.services() as services:
            return ok(await backend.mailboxes(services, user))

    @app.post("/api/imap/boxes")
    async def mailbox_folders(ref: MailboxRef, user: MiningUser, backend: Backend) -> Any:
        """The stored mailbox's folder tree, with message counts and special-use flags."""
        async with backend.services() as services:
            try:
                tree = await backend.mailbox_tree(services, user, ref.email)
            except MailboxError as exc:
                raise ApiError(exc.status, _MAILBOX_CODES.get(exc.status, "unreachable"), str(exc)) from None
        if tree is None:
            raise ApiError(404, "not_found", f"no stored mailbox {ref.email}")
        return ok(tree)

    # minings ----------------------------------------------------------------------------------
    @app.post("/api/imap/mine/file/{user_id}", status_code=202, openapi_extra=UPLOAD_OPENAPI)
    async def mine_file(
        user_id: str,
        user: MiningUser,
        backend: Backend,
        request: Request,
        idempotency_key: Annotated[str | None, Header()] = None,
        content_length: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Mine an uploaded mailbox (multipart field ``file``: mbox, .eml, .pst, .zip/.tar.gz of
        messages or a Maildir), or import contacts (JSON ``{name, contacts}``, Leadminer's CSV
        import): read only once the token is checked, refused at once when it
        announces more than the size limit, streamed to the spool folder under that limit,
        checked to be mail, then queued. The body is read here, not by FastAPI, which would
        spool it before authenticating."""
        require_same_user(user_id, user)
        content_type = request.headers.get("content-type", "")
        if not content_type:
            raise ApiError(422, "invalid", "invalid request: send a mailbox (multipart field 'file') or contacts (JSON)")
        refuse_announced_size(content_length, settings.upload_limit_mb)
        if content_type.split(";")[0].strip().lower() == "application/json":
            return await import_contacts(user, backend, request, idempotency_key)
        upload = await spool_multipart(content_type, request.stream(), backend.spool_dir, settings.upload_limit_mb)
        try:
            _check_mailbox(upload.path)
            options = MiningOptions(extract_signatures=_form_boolean(upload.fields, "extractSignatures", True))
        except BaseException:
            shutil.rmtree(upload.folder, ignore_errors=True)
            raise

        async def start() -> str:
            async with backend.services() as services:
                flow = MiningFlow(services)
                mining_id = await flow.start(user_id=user, source=f"upload:{upload.filename}", options=options)
                try:  # the upload moves to the mining's own folder, deleted when the mining ends
                    spooled = mining_spool(backend.spool_dir, mining_id)
                    upload.folder.rename(spooled)
                    await flow.enqueue_fetch(mining_id, {"kind": "file", "path": str(spooled / upload.path.name)})
                except BaseException as exc:
                    await flow.end(mining_id, "failed", f"the upload could not be queued: {describe(exc)}")
                    raise
                return mining_id

        try:
            fingerprint = f"file:{upload.sha256}:{json.dumps(options.to_json(), sort_keys=True)}"
            mining_id = await _idempotent(backend, user, idempotency_key, fingerprint, start)
        finally:  # moved into the mining's folder when it started; else not needed (a retry, a failure)
            shutil.rmtree(upload.folder, ignore_errors=True)
        return accepted(mining_id, "file")

    async def import_contacts(user: str, backend: MiningBackend, request: Request, idempotency_key: str | None) -> Any:
        """Leadminer's contacts import: rows from a file its web app parsed, validated (422
        naming the bad row), then cleaned and refined by a worker (no extract)."""
        raw = await read_limited(request.stream(), settings.upload_limit_mb)
        try:
            body = ContactsImport.model_validate_json(raw)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        contacts = [row.contact() for row in body.contacts]

        async def start() -> str:
            async with backend.services() as services:
                return await MiningFlow(services).start_import(user_id=user, name=body.name, contacts=contacts)

        mining_id = await _idempotent(backend, user, idempotency_key, f"import:{hashlib.sha256(raw).hexdigest()}", start)
        return accepted(mining_id, "file")

    @app.get("/api/imap/mine/{user_id}")
    async def list_minings(user_id: str, user: MiningUser, backend: Backend) -> Any:
        """The user's minings, running and recent, with counters and a state per stage."""
        require_same_user(user_id, user)
        async with backend.services() as services:
            minings = await services.main.minings(user_id=user, newest_first=True, limit=50)
            flow = MiningFlow(services)
            out = []
            for mining in minings:
                progress = await flow.progress(mining["id"]) if mining["status"] == "running" else None
                out.append(_mining_view(mining, progress))
        return ok(out)

    @app.get("/api/imap/mine/{kind}/{mining_id}")
    async def mining_status(kind: str, mining_id: str, user: MiningUser, backend: Backend) -> Any:
        mining = await owned_mining(backend, user, mining_id)
        async with backend.services() as services:
            progress = await MiningFlow(services).progress(mining_id) if mining["status"] == "running" else None
        return ok(_mining_view(mining, progress))

    @app.get("/api/imap/mine/{kind}/{mining_id}/progress")
    async def progress_stream(
        kind: str,
        mining_id: str,
        user: Annotated[str, Depends(current_user)],
        backend: Backend,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        """Server-Sent Events of the mining's counters until it ends (``mining-completed`` or
        ``mining-failed``). Read from the run ledger at each poll: any API process can serve
        any client, and a client reconnecting with ``Last-Event-ID`` gets only what is new."""
        await owned_mining(backend, user, mining_id)
        resume_from = int(last_event_id) if last_event_id and last_event_id.isdigit() else -1

        async def events() -> AsyncIterator[str]:
            sent = Snapshot()
            while True:
                async with backend.services() as services:
                    flow = MiningFlow(services)
                    progress = await flow.progress(mining_id)
                    if progress is None:  # ended
                        mining = await services.main.mining(mining_id)
                        yield ending(mining, await flow.summary(mining_id), mining_id)
                        return
                now = Snapshot.of(progress)
                for event in changes(mining_id, sent, now, after=resume_from):
                    yield event
                sent = now  # what the client has (or had before it reconnected)
                await asyncio.sleep(PROGRESS_POLL_SECONDS)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    @app.post("/api/imap/mine/{kind}/{user_id}/{mining_id}")
    async def stop_mining(kind: str, user_id: str, mining_id: str, user: MiningUser, backend: Backend, body: StopRequest | None = None) -> Any:
        """Stop a mining: the fetch stops at its next batch, queued work of the mining is
        dropped, its temporary rows go; contacts already refined stay."""
        require_same_user(user_id, user)
        await owned_mining(backend, user, mining_id)
        async with backend.services() as services:
            stopped = await MiningFlow(services).stop(mining_id)
            mining = await services.main.mining(mining_id)
        if not stopped:
            raise ApiError(409, "conflict", f"the mining has already ended ({mining['status']})")
        return ok(_mining_view(mining, None))

    # contacts -----------------------------------------------------------------------------------
    @app.post("/api/contacts/export/{fmt}")
    async def export_contacts(fmt: str, user: ContactsUser, backend: Backend, request: Request) -> Response:
        """The user's contacts as csv, vcard or json: the same bytes as ``leadminer export``."""
        from leadminer.export import FORMATS, render

        if fmt not in FORMATS:
            raise ApiError(400, "bad_request", f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        body = await _json_body(request)
        wanted = None if body.get("exportAllContacts") or not body.get("ids") else [str(e).lower() for e in body["ids"]]
        async with backend.services() as services:
            persons = await services.main.persons_for_export(user, wanted)
        text = render(persons, fmt)
        media = {"csv": "text/csv", "vcard": "text/vcard", "json": "application/json"}.get(fmt, "text/plain")
        filename = {"vcard": "contacts.vcf"}.get(fmt, f"contacts.{fmt}")
        return Response(  # rendered whole; a StreamingResponse would read a sync iterator in a thread
            text.encode("utf-8"),
            media_type=f"{media}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )


    @app.post("/api/imap/mine/email/{user_id}", status_code=202)
    async def mine_mailbox(
        user_id: str,
        request_body: ImapMiningRequest,
        user: MiningUser,
        backend: Backend,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Mine a stored mailbox (all folders but Junk, Trash and Drafts, or ``boxes``): queued
        for a worker, which reads it."""
        require_same_user(user_id, user)
        email = request_body.miningSource.email
        fingerprint = hashlib.sha256(request_body.model_dump_json().encode()).hexdigest()

        async def start() -> str:
            async with backend.services() as services:
                label = await backend.mailbox_label(services, user, email)
                if label is None:
                    raise ApiError(404, "not_found", f"no stored mailbox {email}: add it first (sources/imap)")
                flow = MiningFlow(services)
                options = MiningOptions(extract_signatures=request_body.extractSignatures)
                mining_id = await flow.start(user_id=user, source=label, identities=[email], options=options)
                spec = {"kind": "imap", "email": email}
                if request_body.boxes:
                    spec["folders"] = request_body.boxes
                if request_body.since:
                    spec["since"] = request_body.since.isoformat()
                await flow.enqueue_fetch(mining_id, spec)
                return mining_id

        return accepted(await _idempotent(backend, user, idempotency_key, f"imap:{fingerprint}", start), "email")

    # contacts -----------------------------------------------------------------------------------
    @app.get("/api/contacts/{user_id}")
    async def contacts_page(
        user_id: str,
        user: ContactsUser,
        backend: Backend,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        sort: str = "temperature",
        tags: Annotated[list[str] | None, Query()] = None,
        min_temperature: Annotated[int | None, Query(alias="minTemperature", ge=0, le=100)] = None,
        q: str | None = None,
    ) -> Any:
        """One page of the user's contacts (keyset: ``next`` goes in ``after``), sorted by
        temperature, last_seen, name or email, filtered by tags (all of them), a minimum
        temperature and a text search. Read through row level security where the store has it."""
        from leadminer.contracts import to_dict

        require_same_user(user_id, user)
        async with backend.services() as services:
            async with _as_user(services.main, user) as main:
                try:
                    persons, cursor = await main.persons_page(
                        user, after=after, limit=limit, sort=sort, tags=tags or (), min_temperature=min_temperature, search=q
                    )
                except ValueError as exc:
                    raise ApiError(400, "bad_request", str(exc)) from None
        return ok({"contacts": [to_dict(p) for p in persons], "next": cursor})

    @app.delete("/api/auth/users")
    async def delete_user(user: Annotated[str, Depends(current_user)], backend: Backend) -> Any:
        """Remove every piece of the caller's data: running minings are stopped first (and a
        stage of theirs still writing is waited for, so nothing comes back), then their
        mailboxes, minings and contacts are deleted."""
        async with backend.services() as services:
            flow = MiningFlow(services)
            stopped = [m["id"] for m in await services.main.minings(status="running", user_id=user)]
            for mining_id in stopped:
                await flow.stop(mining_id)
        deadline = asyncio.get_running_loop().time() + DELETE_WAIT_SECONDS
        for mining_id in stopped:  # polled with a pooled service per try, never held while waiting
            while not await _settled(backend, mining_id):
                if asyncio.get_running_loop().time() > deadline:
                    raise ApiError(503, "unavailable", "a stage of a stopped mining is still writing; try again", {"Retry-After": "30"})
                await asyncio.sleep(0.2)
        async with backend.services() as services:
            minings = [m["id"] for m in await services.main.minings(user_id=user)]
            deleted = await services.main.delete_user(user)
        for mining_id in minings:  # uploads of ended minings went with them; what is left goes now
            remove_spooled(backend.spool_dir, mining_id)
        return ok({"deleted": deleted})

    return app


async def _settled(backend: MiningBackend, mining_id: str) -> bool:
    async with backend.services() as services:
        return await MiningFlow(services).settled(mining_id)


@asynccontextmanager
async def _as_user(main: Any, user: str) -> AsyncIterator[Any]:
    """The main store read as ``user`` through row level security when it offers it (PostgreSQL),
    so that a bug in a route cannot show another user's rows; else the store itself."""
    if hasattr(main, "as_user"):
        async with main.as_user(user) as scoped:
            yield scoped
    else:
        yield main


_MAILBOX_CODES = {401: "wrong_credentials", 422: "invalid", 501: "not_available", 504: "timeout"}


def _mining_view(mining: dict, progress: Any) -> dict:
    """A mining as Leadminer's web app reads it: counters and a state per stage."""
    stats = mining.get("stats") or {}
    stages = ("fetch", "extract", "clean", "signature", "refine")
    if progress is not None:
        done = {"fetch"} if progress.fetch_done else set()
        if progress.fetch_done and progress.stage != "extract":
            done.add("extract")
        done |= set(progress.steps)
        state = {s: "done" if s in done else "running" if s == progress.stage else "waiting" for s in stages}
        counters = {"fetched": progress.fetched, "total": progress.total, "extracted": progress.extracted,
                    "failed": progress.failed, "contacts": progress.contacts}  # fmt: skip
    else:
        final = "done" if mining["status"] == "done" else mining["status"]
        state = dict.fromkeys(stages, final)
        counters = {k: stats.get(k) for k in ("fetched", "extracted", "failed", "persons", "signatures") if k in stats}
    return {
        "miningId": mining["id"], "userId": mining["user_id"], "source": mining["source"], "status": mining["status"],
        "startedAt": mining["started_at"], "finishedAt": mining["finished_at"], "stages": state, "counters": counters,
        "error": stats.get("error"),
    }  # fmt: skip


async def _json_body(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "bad_request", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return body


def _check_mailbox(path: Path) -> None:
    """415 unless the spooled upload is a mailbox (an Outlook file, read by the worker with
    libpff, by its signature; the rest sniffed by the core)."""
    from leadminer.sources import SourceError, open_source

    try:
        if path.stat().st_size == 0:
            raise ApiError(415, "unsupported_media_type", "the upload is empty")
        if not _outlook_file(path):
            open_source(path)
    except SourceError:
        raise ApiError(
            415, "unsupported_media_type",
            "the upload is not a mailbox: send an mbox file, an .eml message, an Outlook .pst, "
            "or a .zip / .tar.gz of messages or a Maildir",
        ) from None  # fmt: skip


def _form_boolean(fields: dict[str, str], name: str, default: bool) -> bool:
    """A multipart form's boolean field (``true``/``false``, as a browser's FormData sends it); 422 otherwise."""
    value = fields.get(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word in ("true", "1", "yes", "on"):
        return True
    if word in ("false", "0", "no", "off"):
        return False
    raise ApiError(422, "invalid", f"invalid request: {name}: expected true or false, got {value[:40]!r}")


def _outlook_file(path: Path) -> bool:
    """An Outlook data file (.pst / .ost), by its signature."""
    with path.open("rb") as handle:
        return handle.read(4) == b"!BDN"


async def _idempotent(backend: MiningBackend, user: str, key: str | None, fingerprint: str, create) -> str:
    if not key:
        return await create()
    try:
        return await backend.once(f"start:{user}", key, fingerprint, create)
    except (IdempotencyConflict, IdempotencyPending) as exc:
        if isinstance(exc, IdempotencyPending):
            raise ApiError(409, "idempotency_pending", "a request with this Idempotency-Key is still being handled; retry later", {"Retry-After": "5"}) from None
        raise ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with another request") from None
