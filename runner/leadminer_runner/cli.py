"""`leadminer` command line (embedded mode). Its options and outputs are a contract used by other tools."""

from __future__ import annotations

import getpass
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from leadminer.adapters.sqlite import SchemaVersionError, SqliteMainStore, connect
from leadminer.mx import DnsMxChecker

from .embedded import MiningLocked, MiningSummary, mine
from .sources import SourceSpecError, open_message_source

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Mine contacts from a mailbox (embedded mode; `selfhost` for PostgreSQL + Redis).")
console = Console(stderr=True)

DEFAULT_DB = Path("leadminer.db")
DbOption = Annotated[Path, typer.Option("--db", help="SQLite database of the embedded mode.")]
UserOption = Annotated[str, typer.Option("--user", help="User id the contacts belong to.")]


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


LLM_VARIABLES = ("LEADMINER_LLM_URL", "LEADMINER_LLM_MODEL", "LEADMINER_LLM_API_KEY")


def _llm_extractor():
    """``LlmSignatureExtractor(...).extract`` configured from the environment (the key is never shown)."""
    from leadminer.signature import LlmSignatureExtractor

    url, model, key = (os.environ.get(name, "") for name in LLM_VARIABLES)
    if not url or not model:
        raise _fail("--llm-signatures needs LEADMINER_LLM_URL and LEADMINER_LLM_MODEL (and LEADMINER_LLM_API_KEY)")
    return LlmSignatureExtractor(url, key, model).extract


def _run_mining(
    source_spec: str, db: Path, identities: list[str], user: str, quiet: bool, check_mx: bool = False,
    llm_signatures: bool = False,
) -> MiningSummary:  # fmt: skip
    try:
        source, implied = open_message_source(source_spec, user_id=user, password_prompt=getpass.getpass)
    except SourceSpecError as exc:
        raise _fail(str(exc)) from None
    identities = [*identities, *implied]
    columns = [
        TextColumn("[bold]{task.fields[stage]:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>7.0f} msg/s"),
        TextColumn("{task.fields[contacts]} addresses seen"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, disable=quiet, transient=False) as bar:
        task = bar.add_task("mining", total=None, stage="fetch", rate=0.0, contacts=0)

        def on_progress(p) -> None:
            bar.update(task, completed=p.fetched, total=p.total, stage=p.stage, rate=p.rate, contacts=p.contacts)

        try:
            mx = DnsMxChecker() if check_mx else None
            extractor = _llm_extractor() if llm_signatures else None
            return mine(
                source, db_path=db, identities=identities, user_id=user, progress=on_progress, mx=mx,
                signature_extractor=extractor,
            )  # fmt: skip
        except (SourceSpecError, MiningLocked, SchemaVersionError) as exc:
            raise _fail(str(exc)) from None


def _print_summary(summary: MiningSummary) -> None:
    table = Table(title=f"Mined {summary.source}", show_header=False)
    rate = summary.fetched / summary.seconds if summary.seconds else 0
    rows = [
        ("messages read", f"{summary.fetched}"),
        ("messages mined", f"{summary.extracted}"),
        ("already mined before", f"{summary.already_mined}"),
        ("duplicate Message-IDs", f"{summary.duplicates}"),
        ("failed (with reason)", f"{summary.failed}"),
        ("contacts refined", f"{summary.persons}"),
        ("signatures found", f"{summary.signatures}"),
        ("your addresses", ", ".join(summary.identities) or "none known"),
        ("tags (all contacts)", ", ".join(f"{t} {n}" for t, n in summary.tags.items()) or "-"),
        ("time", f"{summary.seconds:.1f} s ({rate:.0f} messages/s)"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    if not summary.identities:
        console.print(
            "[yellow]note:[/] none of your own addresses is known (no --identity, no Delivered-To), "
            "so messages you sent, your replies and temperatures cannot be told apart; add --identity YOU@EXAMPLE"
        )
    for failure in summary.failures[:10]:
        console.print(f"  [yellow]failed[/] {failure.folder}/{failure.uid}: {failure.reason}")
    if len(summary.failures) > 10:
        console.print(f"  … and {len(summary.failures) - 10} more (see `leadminer failures`)")


@app.command("mine")
def mine_command(
    source: Annotated[str, typer.Argument(help="mbox file, Maildir, .eml folder, .zip/.tar.gz, or imap://user@host[:port][/FOLDER]")],
    identity: Annotated[list[str], typer.Option("--identity", help="An address of yours (repeatable).")] = [],  # noqa: B006
    db: DbOption = DEFAULT_DB,
    user: UserOption = "local",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    json_summary: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    check_mx: Annotated[
        bool, typer.Option("--check-mx", help="Look up each domain's MX records (network); otherwise status is 'unknown'.")
    ] = False,
    llm_signatures: Annotated[
        bool,
        typer.Option(
            "--llm-signatures",
            help="Read signatures with an OpenAI-compatible model (LEADMINER_LLM_URL/_MODEL/_API_KEY); "
            "its answers are checked against the text.",
        ),
    ] = False,
) -> None:
    """Mine SOURCE into the database; a second run on the same db only adds new mail."""
    _emit_summary(_run_mining(source, db, identity, user, quiet, check_mx, llm_signatures), json_summary)


@app.command("export")
def export_command(
    format: Annotated[str, typer.Option("--format", "-f", help="csv | vcard | json")] = "json",
    csv_style: Annotated[
        str, typer.Option("--csv-style", help="outlook (imports in Outlook and Google Contacts) | google (keeps every phone, tags as labels)")
    ] = "outlook",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: stdout).")] = None,
    db: DbOption = DEFAULT_DB,
    user: UserOption = "local",
) -> None:
    """Export the refined contacts."""
    from leadminer.export import FORMATS, write_export

    if format not in FORMATS:
        raise _fail(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if csv_style not in ("outlook", "google"):
        raise _fail(f"unknown CSV style {csv_style!r}; choose outlook or google")
    options = {"style": csv_style} if format == "csv" else {}
    if not db.exists():
        raise _fail(f"no database at {db}; run `leadminer mine` first")
    conn = connect(db)
    try:
        persons = SqliteMainStore(conn).persons(user)
    finally:
        conn.close()
    if output is None:
        write_export(persons, format, sys.stdout, **options)
    else:
        write_export(persons, format, output, **options)
        console.print(f"wrote {len(persons)} contacts to {output}")


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
    console.print(f"generated {mbox} ({messages} messages, seed {seed})")
    summary = _run_mining(str(mbox), db, list(info.identities), "local", quiet=False)
    _print_summary(summary)
    conn = connect(db)
    try:
        persons = SqliteMainStore(conn).persons("local")
    finally:
        conn.close()
    table = Table(title="Top contacts (by temperature)")
    table.add_column("contact (name, address, signature)", overflow="fold")
    table.add_column("msgs / replied", justify="right")
    table.add_column("temp", justify="right")
    table.add_column("tags")
    for p in persons[:12]:
        work = ", ".join(x for x in (p.job_title, p.organization) if x)
        lines = [p.name or "", f"[dim]{p.email}[/]", f"[italic]{work}[/]" if work else ""]
        table.add_row("\n".join(x for x in lines if x), f"{p.occurrence} / {p.replied_conversations}", str(p.temperature), "\n".join(p.tags))
    Console().print(table)
    console.print(f"export with: leadminer export --db {db} --format csv -o contacts.csv")


@app.command("signature")
def signature_command(path: Annotated[Path, typer.Argument(help="A .eml file.")]) -> None:
    """Print the signature fields of a message's sender as JSON (export field names)."""
    from leadminer.extract import ExtractError
    from leadminer.pipeline import signature_of_message

    try:
        fields = signature_of_message(path.read_bytes())
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None
    except ExtractError as exc:
        raise _fail(f"{path} is not a readable message: {exc}") from None
    typer.echo(json.dumps(fields, indent=2, ensure_ascii=False))


@app.command("minings")
def minings_command(db: DbOption = DEFAULT_DB) -> None:
    """List the minings recorded in the database (JSON lines) with their counts."""
    if not db.exists():
        raise _fail(f"no database at {db}")
    conn = connect(db)
    try:
        for m in SqliteMainStore(conn).minings():
            typer.echo(json.dumps(m, ensure_ascii=False))
    finally:
        conn.close()


@app.command("failures")
def failures_command(
    mining: Annotated[str | None, typer.Argument(help="A mining id (default: every mining).")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """List the messages that could not be mined, with the reason (JSON lines)."""
    if not db.exists():
        raise _fail(f"no database at {db}")
    conn = connect(db)
    try:
        for f in SqliteMainStore(conn).failures(mining):
            typer.echo(json.dumps({"mining_id": f.mining_id, "folder": f.folder, "uid": f.uid, "reason": f.reason}, ensure_ascii=False))
    finally:
        conn.close()


# self-host mode ------------------------------------------------------------------
selfhost_app = typer.Typer(
    no_args_is_help=True,
    help="Self-host mode: PostgreSQL (LEADMINER_DATABASE_URL, LEADMINER_TEMP_DATABASE_URL) and Redis "
    "(LEADMINER_REDIS_URL); start as many `worker`s as you like.",
)
app.add_typer(selfhost_app, name="selfhost")
QUEUE_PREFIX_VARIABLE = "LEADMINER_QUEUE_PREFIX"


def _selfhost_services():
    """Stores and queues from the environment, or exit 2 with a message (never a password)."""
    import redis

    from .postgres import stores_from_env
    from .redis_queue import client_from_env, redacted, redis_url
    from .selfhost import redis_queues

    try:
        stores = stores_from_env()
    except (RuntimeError, ConnectionError) as exc:  # SchemaVersionError is a RuntimeError
        raise _fail(str(exc)) from None
    client = client_from_env(socket_connect_timeout=3, socket_timeout=30)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise _fail(f"cannot connect to Redis at {redacted(redis_url())} (LEADMINER_REDIS_URL): {exc}") from None
    return stores, redis_queues(client, prefix=os.environ.get(QUEUE_PREFIX_VARIABLE, ""))


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
            console.print(f"{self.signal}: stopping after the current message")
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
    source: Annotated[str, typer.Argument(help="mbox file, Maildir, .eml folder, .zip/.tar.gz, or imap://user@host[:port][/FOLDER]")],
    identity: Annotated[list[str], typer.Option("--identity", help="An address of yours (repeatable).")] = [],  # noqa: B006
    user: UserOption = "local",
    wait: Annotated[
        bool, typer.Option("--wait", help="Also work in this process until the mining is done, then print the summary.")
    ] = False,
    json_summary: Annotated[bool, typer.Option("--json", help="With --wait: the summary as JSON on stdout.")] = False,
) -> None:
    """Read SOURCE into the queues (the workers mine it); prints the mining id."""
    from .selfhost import mining_summary, run_worker, start_mining

    stores, queues = _selfhost_services()
    try:
        src, implied = open_message_source(source, user_id=user, password_prompt=getpass.getpass)
        mining_id = start_mining(src, user, [*identity, *implied], stores, queues)
    except SourceSpecError as exc:
        raise _fail(str(exc)) from None
    if not wait:
        typer.echo(mining_id)
        console.print("queued; `leadminer selfhost worker` processes mine it")
        return
    main = stores[1]
    with _stop_on_signals() as stopping:
        run_worker(stores, queues, stop=lambda: stopping() or main.mining(mining_id)["status"] != "running")
    summary = mining_summary(main, mining_id)
    if summary is None:
        mining = main.mining(mining_id)
        if mining["status"] == "running":  # stopped by a signal: the other workers go on
            raise _fail(f"stopped waiting; mining {mining_id} goes on in the other workers")
        raise _fail(f"mining {mining_id} {mining['status']}: {mining['stats'].get('error', '')}")
    _emit_summary(summary, json_summary)


def _emit_summary(summary: MiningSummary, json_summary: bool) -> None:
    if json_summary:
        data = {name: getattr(summary, name) for name in summary.__slots__}
        data["failures"] = [{"folder": f.folder, "uid": f.uid, "reason": f.reason} for f in summary.failures]
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_summary(summary)


@selfhost_app.command("worker")
def selfhost_worker_command(
    check_mx: Annotated[bool, typer.Option("--check-mx", help="Look up each domain's MX records (network).")] = False,
    llm_signatures: Annotated[
        bool, typer.Option("--llm-signatures", help="Read signatures with an OpenAI-compatible model (see `mine`).")
    ] = False,
) -> None:
    """Handle every stage's messages until Ctrl-C or SIGTERM (then stops after the current message)."""
    from .selfhost import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stores, queues = _selfhost_services()
    mx = DnsMxChecker() if check_mx else None
    extractor = _llm_extractor() if llm_signatures else None
    with _stop_on_signals() as stopping:
        # printed once the signal handlers are in place: from this line on, SIGTERM stops gracefully
        console.print(f"worker {queues.stages['extract'].consumer} started (Ctrl-C to stop)")
        handled = run_worker(stores, queues, stop=stopping, mx=mx, signature_extractor=extractor)
    console.print(f"worker stopped after {handled} messages")


@selfhost_app.command("cleanup")
def selfhost_cleanup_command(
    stale_minutes: Annotated[
        float, typer.Option("--stale-minutes", help="A running mining without progress this long is dead.")
    ] = 60.0,
) -> None:
    """End dead minings as 'interrupted' and drop their temporary rows (prints their ids)."""
    from .selfhost import cleanup_dead_minings

    stores, _queues = _selfhost_services()
    for mining_id in cleanup_dead_minings(stores, stale_seconds=stale_minutes * 60):
        typer.echo(mining_id)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    main()
