"""`leadminer` command line. Its options, outputs and exit codes are a contract used by
other tools (docs/cli.md). Every failure goes through one boundary
(:mod:`leadminer_runner.errors`): one sentence on stderr, a documented exit code."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from leadminer.flow import MiningFlow, MiningSummary, StageWorker
from leadminer.settings import Settings
from leadminer.storage import MainStore

from .embedded import mine_async, temp_path
from .errors import (
    DEBUG_VARIABLE,
    EXIT_FAILED_MESSAGES,
    EXIT_MINING_FAILED,
    BoundaryGroup,
    UserError,
    say,
)
from .output import check_database_path, export_target
from .progress_display import MiningDisplay
from .services import embedded_services, main_store, mx_checker, signature_extractor
from .sources import open_message_source

T = TypeVar("T")
app = typer.Typer(
    cls=BoundaryGroup,
    rich_markup_mode=None,  # help texts and user data are plain text: "[/FOLDER]" is not markup
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Mine contacts from a mailbox (embedded mode; `selfhost` for PostgreSQL + Redis).",
)
console = Console(stderr=True, highlight=False)

DEFAULT_DB = Path("leadminer.db")
DbOption = Annotated[Path, typer.Option("--db", help="SQLite database of the embedded mode.")]
UserOption = Annotated[str, typer.Option("--user", help="User id the contacts belong to.")]
SourceArgument = Annotated[
    str, typer.Argument(help="mbox file, Maildir, .eml folder, .zip/.tar.gz, or imap://user@host[:port][/FOLDER]")
]
IdentityOption = Annotated[list[str], typer.Option("--identity", help="An address of yours (repeatable).")]
CheckMxOption = Annotated[
    bool, typer.Option("--check-mx", help="Look up each domain's MX records (network); otherwise status is 'unknown'.")
]
LlmOption = Annotated[
    bool,
    typer.Option(
        "--llm-signatures",
        help="Read signatures with an OpenAI-compatible model (LEADMINER_LLM_URL/_MODEL/_API_KEY); "
        "its answers are checked against the text.",
    ),
]


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error (also LEADMINER_DEBUG=1).")] = False,
) -> None:
    if debug:
        os.environ[DEBUG_VARIABLE] = "1"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine``; SIGTERM stops it like Ctrl-C (the mining in progress ends as
    'interrupted by the user', then KeyboardInterrupt reaches the error boundary)."""

    async def main() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        try:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        except (RuntimeError, ValueError):  # not the main thread: leave SIGTERM alone
            return await coroutine
        try:
            return await coroutine
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:  # SIGTERM (asyncio.run turns a Ctrl-C into KeyboardInterrupt itself)
        raise KeyboardInterrupt from None


def _settings() -> Settings:
    return Settings.from_env()  # a SettingsError names the bad variable (error boundary)


def _services_options(check_mx: bool, llm_signatures: bool) -> dict:
    """The MX checker and signature extractor the options ask for."""
    return {"mx": mx_checker(check_mx), "signature_extractor": signature_extractor(_settings(), llm_signatures)}


# embedded mode ----------------------------------------------------------------------
def _run_mining(
    source_spec: str, db: Path, identities: list[str], user: str, quiet: bool, check_mx: bool = False,
    llm_signatures: bool = False,
) -> MiningSummary:  # fmt: skip
    check_database_path(db, for_writing=True)
    source, implied = open_message_source(source_spec, user_id=user, password_prompt=getpass.getpass)
    options = _services_options(check_mx, llm_signatures)
    with MiningDisplay(console, quiet=quiet) as display:
        summary = run(
            mine_async(
                source, db_path=db, identities=[*identities, *implied], user_id=user,
                progress=display.on_fetch, stage_progress=display.on_stage, **options,
            )
        )  # fmt: skip
        display.done()
        return summary


def _print_summary(summary: MiningSummary) -> None:
    table = Table(title=Text(f"Mined {summary.source}"), show_header=False)
    rate = summary.fetched / summary.seconds if summary.seconds else 0
    rows = [
        ("messages read", f"{summary.fetched}"),
        ("messages mined", f"{summary.extracted}"),
        ("already mined before", f"{summary.already_mined}"),
        ("duplicate Message-IDs", f"{summary.duplicates}"),
        ("failed (with reason)", f"{summary.failed}"),
        ("skipped files (not mail)", f"{summary.skipped}"),
        ("contacts refined", f"{summary.persons}"),
        ("signatures found", f"{summary.signatures}"),
        ("your addresses", ", ".join(summary.identities) or "none known"),
        ("tags (all contacts)", ", ".join(f"{t} {n}" for t, n in summary.tags.items()) or "-"),
        ("time", f"{summary.seconds:.1f} s ({rate:.0f} messages/s)"),
    ]
    for label, value in rows:
        table.add_row(label, Text(value))  # user data: never markup
    console.print(table)
    if not summary.identities:
        say(
            "none of your own addresses is known (no --identity, no Delivered-To), so messages you sent, your "
            "replies and temperatures cannot be told apart; add --identity YOU@EXAMPLE",
            style="yellow",
            prefix="note:",
        )
    failed = [f for f in summary.failures if not f.skipped]
    for failure in failed[:10]:
        say(f"{failure.folder}/{failure.uid}: {failure.reason}", style="yellow", prefix="  failed")
    if len(failed) > 10 or summary.skipped:
        say(f"… {max(0, len(failed) - 10)} more failed and {summary.skipped} skipped (see `leadminer failures`)")


def _emit_summary(summary: MiningSummary, json_summary: bool) -> None:
    if json_summary:
        data = {name: getattr(summary, name) for name in summary.__slots__}
        data["failures"] = [{"folder": f.folder, "uid": f.uid, "reason": f.reason} for f in summary.failures]
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_summary(summary)


def _exit_for(summary: MiningSummary) -> None:
    """Exit code 1 when some messages could not be mined (they are listed by `leadminer failures`)."""
    if summary.failed:
        raise typer.Exit(EXIT_FAILED_MESSAGES)


@app.command("mine")
def mine_command(
    source: SourceArgument,
    identity: IdentityOption = [],  # noqa: B006
    db: DbOption = DEFAULT_DB,
    user: UserOption = "local",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    json_summary: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    check_mx: CheckMxOption = False,
    llm_signatures: LlmOption = False,
) -> None:
    """Mine SOURCE into the database; a second run on the same db only adds new mail.
    Exit code 0: done; 1: done, some messages failed (see `leadminer failures`)."""
    summary = _run_mining(source, db, identity, user, quiet, check_mx, llm_signatures)
    _emit_summary(summary, json_summary)
    _exit_for(summary)


def _read_main(db: Path, read: Callable[[MainStore], Awaitable[T]]) -> T:
    """``read(main store)`` of this mode (``STORAGE_MODE``; SQLite: ``--db``, opened read-only)."""
    settings = _settings()
    if settings.storage_mode == "sqlite":
        check_database_path(db, for_writing=False)

    async def go() -> T:
        async with main_store(settings, db) as main:
            return await read(main)

    return run(go())


@app.command("export")
def export_command(
    format: Annotated[str, typer.Option("--format", "-f", help="csv | vcard | json")] = "json",
    csv_style: Annotated[
        str, typer.Option("--csv-style", help="outlook (imports in Outlook and Google Contacts) | google (keeps every phone, tags as labels)")
    ] = "outlook",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default or '-': standard output).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    db: DbOption = DEFAULT_DB,
    user: UserOption = "local",
) -> None:
    """Export the refined contacts."""
    from leadminer.export import FORMATS, write_export

    if format not in FORMATS:
        raise UserError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if csv_style not in ("outlook", "google"):
        raise UserError(f"unknown CSV style {csv_style!r}; choose outlook or google")
    options = {"style": csv_style} if format == "csv" else {}
    target = export_target(output, db=db, force=force) if output is not None else None
    persons = _read_main(db, lambda main: main.persons(user))
    if target is None and output is not None and str(output) != "-":
        with open(output, "w", encoding="utf-8", newline="") as stream:  # a device or FIFO: in place
            write_export(persons, format, stream, **options)
    elif target is None:
        write_export(persons, format, sys.stdout, **options)
        return
    else:
        write_export(persons, format, target, **options)
    say(f"wrote {len(persons)} contacts to {output}")


@app.command("demo")
def demo_command(
    db: Annotated[Path, typer.Option("--db", help="Database to mine into.")] = Path("leadminer-demo/demo.db"),
    seed: Annotated[int, typer.Option(help="Seed of the generated mailbox.")] = 7,
    messages: Annotated[int, typer.Option(help="How many messages to generate.")] = 400,
) -> None:
    """Generate a realistic sample mailbox, mine it, and show the top contacts."""
    from leadminer_runner.demo import generate_demo_mailbox

    mbox = db.parent / "demo.mbox"
    info = generate_demo_mailbox(mbox, seed=seed, messages=messages)
    say(f"generated {mbox} ({messages} messages, seed {seed})")
    summary = _run_mining(str(mbox), db, list(info.identities), "local", quiet=False)
    _print_summary(summary)
    persons = _read_main(db, lambda main: main.persons("local"))
    table = Table(title="Top contacts (by temperature)")
    table.add_column("contact (name, address, signature)", overflow="fold")
    table.add_column("msgs / replied", justify="right")
    table.add_column("temp", justify="right")
    table.add_column("tags")
    for p in persons[:12]:
        work = ", ".join(x for x in (p.job_title, p.organization) if x)
        contact = Text(p.name or "")
        contact.append(("\n" if p.name else "") + p.email, style="dim")
        if work:
            contact.append("\n" + work, style="italic")
        table.add_row(contact, f"{p.occurrence} / {p.replied_conversations}", str(p.temperature), Text("\n".join(p.tags)))
    Console().print(table)
    say(f"export with: leadminer export --db {db} --format csv -o contacts.csv")


@app.command("signature")
def signature_command(path: Annotated[Path, typer.Argument(help="A .eml file.")]) -> None:
    """Print the signature fields of a message's sender as JSON (export field names)."""
    from leadminer.extract import ExtractError
    from leadminer.pipeline import signature_of_message

    try:
        fields = signature_of_message(path.read_bytes())
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    except ExtractError as exc:
        raise UserError(f"{path} is not a readable message: {exc}") from None
    typer.echo(json.dumps(fields, indent=2, ensure_ascii=False))


@app.command("minings")
def minings_command(db: DbOption = DEFAULT_DB) -> None:
    """List the minings recorded in the database (JSON lines) with their counts."""
    for m in _read_main(db, lambda main: main.minings()):
        typer.echo(json.dumps(m, ensure_ascii=False))


@app.command("failures")
def failures_command(
    mining: Annotated[str | None, typer.Argument(help="A mining id (default: every mining).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """List the messages that could not be mined, with the reason (JSON lines)."""
    for f in _read_main(db, lambda main: main.failures(mining)):
        typer.echo(json.dumps({"mining_id": f.mining_id, "folder": f.folder, "uid": f.uid, "reason": f.reason}, ensure_ascii=False))


# self-host mode ------------------------------------------------------------------
selfhost_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Self-host mode: PostgreSQL (LEADMINER_DATABASE_URL, LEADMINER_TEMP_DATABASE_URL) and Redis "
    "(LEADMINER_REDIS_URL); start as many `worker`s as you like.",
)
app.add_typer(selfhost_app, name="selfhost")


@asynccontextmanager
async def _selfhost(check_mx: bool = False, llm_signatures: bool = False):
    """The self-host services from the environment (errors name the variable, never a password)."""
    from .services import selfhost_services

    settings = _settings()
    async with selfhost_services(settings, **_services_options(check_mx, llm_signatures)) as services:
        yield settings, services


class _StopFlag:
    """Set by Ctrl-C or SIGTERM; the worker asks it between messages. The signal handler only
    sets it: printing there could hit stderr in the middle of another write (a reentrant
    call that kills the process), so the notice is printed by the first caller that sees it."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._told = False

    def __call__(self) -> bool:
        if self.signal and not self._told:
            self._told = True
            say(f"{self.signal}: stopping after the current message")
        return self.signal is not None


@contextmanager
def _stop_on_signals() -> Iterator[_StopFlag]:
    """A flag set by Ctrl-C or SIGTERM: the worker stops after the current message
    (a second Ctrl-C interrupts at once). The previous handlers come back at the end."""
    stopping = _StopFlag()

    def on_signal(signum, _frame) -> None:
        stopping.signal = signal.Signals(signum).name
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@selfhost_app.command("mine")
def selfhost_mine_command(
    source: SourceArgument,
    identity: IdentityOption = [],  # noqa: B006
    user: UserOption = "local",
    wait: Annotated[
        bool, typer.Option("--wait", help="Also work in this process until the mining is done, then print the summary.")
    ] = False,
    json_summary: Annotated[bool, typer.Option("--json", help="With --wait: the summary as JSON on stdout.")] = False,
) -> None:
    """Read SOURCE into the queues (the workers mine it); prints the mining id."""
    from .selfhost import enqueue_mining

    src, implied = open_message_source(source, user_id=user, password_prompt=getpass.getpass)

    async def go() -> tuple[str, MiningSummary | None, dict | None]:
        async with _selfhost() as (settings, services):
            mining_id = await enqueue_mining(services, src, user_id=user, identities=[*identity, *implied])
            if not wait:
                return mining_id, None, None
            flow, main = MiningFlow(services), services.main
            status = "running"

            async def watch() -> None:
                nonlocal status
                status = (await main.mining(mining_id))["status"]

            with _stop_on_signals() as stopping:
                worker = StageWorker(flow, outage_limit=settings.outage_limit_seconds)
                await worker.run(lambda: stopping() or status != "running", idle_wait=0.05, on_round=watch)
            return mining_id, await flow.summary(mining_id), await main.mining(mining_id)

    mining_id, summary, mining = run(go())  # SIGTERM during the fetch ends the mining like Ctrl-C
    if not wait:
        typer.echo(mining_id)
        say("queued; `leadminer selfhost worker` processes mine it")
        return
    if summary is None:
        if mining["status"] == "running":  # stopped by a signal: the other workers go on
            raise UserError(f"stopped waiting; mining {mining_id} goes on in the other workers")
        raise UserError(f"mining {mining_id} {mining['status']}: {mining['stats'].get('error', '')}", EXIT_MINING_FAILED)
    _emit_summary(summary, json_summary)
    _exit_for(summary)


@selfhost_app.command("worker")
def selfhost_worker_command(
    check_mx: CheckMxOption = False,
    llm_signatures: LlmOption = False,
) -> None:
    """Handle every stage's messages until Ctrl-C or SIGTERM (then stops after the current message);
    also ends minings without progress for LEADMINER_STALE_MINUTES."""
    from .selfhost import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def go() -> int:
        async with _selfhost(check_mx, llm_signatures) as (settings, services):
            with _stop_on_signals() as stopping:
                # printed once the signal handlers are in place: from this line on, SIGTERM stops gracefully
                say(f"worker {services.queues['extract'].consumer} started (Ctrl-C to stop)")
                return await run_worker(
                    services, stop=stopping, stale_seconds=settings.stale_minutes * 60,
                    outage_limit=settings.outage_limit_seconds,
                )  # fmt: skip

    handled = asyncio.run(go())
    say(f"worker stopped after {handled} messages")


@selfhost_app.command("cleanup")
def selfhost_cleanup_command(
    stale_minutes: Annotated[
        float, typer.Option("--stale-minutes", help="A running mining without progress this long is dead.")
    ] = 60.0,
) -> None:
    """End dead minings as 'interrupted' and drop their temporary rows (prints their ids)."""

    async def go() -> list[str]:
        async with _selfhost() as (_settings_, services):
            return await MiningFlow(services).cleanup(stale_seconds=stale_minutes * 60)

    for mining_id in asyncio.run(go()):
        typer.echo(mining_id)


# HTTP API --------------------------------------------------------------------------
API_SHUTDOWN_SECONDS = 10


@app.command("api")
def api_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (self-host mode: LEADMINER_DATABASE_URL, LEADMINER_TEMP_DATABASE_URL,
    LEADMINER_REDIS_URL, SUPABASE_JWT_SECRET). It only accepts, validates and queues: start
    `leadminer selfhost worker`s to mine. SIGTERM: in-flight requests finish (within 10 s), exit 0."""
    import uvicorn

    from leadminer_api.app import create_app

    settings = _settings()
    if not settings.supabase_jwt_secret:
        raise UserError("the API needs SUPABASE_JWT_SECRET (the secret that signs your users' tokens; docs/env.md)")
    settings.require_postgresql()
    settings.require_spool_dir()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings), host=host, port=port, log_level="info", timeout_graceful_shutdown=API_SHUTDOWN_SECONDS,
        server_header=False,
    )  # fmt: skip


@app.command("token")
def token_command(
    user: Annotated[str, typer.Option("--user", help="The user id the token is for (its 'sub').")],
    hours: Annotated[float, typer.Option("--hours", min=0.01, help="How long the token is valid.")] = 1.0,
) -> None:
    """Print a token for USER signed with SUPABASE_JWT_SECRET, as Supabase would issue it: for
    trying the API (curl -H "Authorization: Bearer $TOKEN"). Anyone with the secret can mint one."""
    from leadminer_api.auth import mint_token

    secret = _settings().supabase_jwt_secret
    if not secret:
        raise UserError("SUPABASE_JWT_SECRET is not set: it is the secret the API checks tokens with (docs/env.md)")
    if not user.strip():
        raise UserError("--user needs a user id")
    typer.echo(mint_token(user, secret, seconds=int(hours * 3600)))


# database ------------------------------------------------------------------------
db_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="The databases of the mode (STORAGE_MODE).")
app.add_typer(db_app, name="db")


@db_app.command("migrate")
def db_migrate_command(db: DbOption = DEFAULT_DB) -> None:
    """Create or upgrade the schemas of the mode's databases (done on first use too)."""
    settings = _settings()

    async def go() -> None:
        if settings.storage_mode == "postgresql":
            async with _selfhost():
                return
        check_database_path(db, for_writing=True)
        async with embedded_services(db, temp_path(db)):
            return

    run(go())
    say("the schemas are up to date")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    main()
