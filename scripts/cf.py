"""scripts/cf: the Cloudflare mode's local stack, a mining through it, and the deploy (see scripts/cf)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from leadminer.export import write_export
from leadminer.flow import MiningFlow
from leadminer_runner import cloudflare_local
from leadminer_runner.local_supabase import LocalSupabase, migrate_main
from leadminer_runner.selfhost import enqueue_mining
from leadminer_runner.sources import open_message_source


async def mine(stack: cloudflare_local.Stack, source: str, user: str, identities: list[str], timeout: float) -> dict:
    """Fetch SOURCE here (a plain process, like the fetcher) into R2 and the extract queue; the
    Workers in the stack do the rest. Returns the mining row once it ended."""
    services = cloudflare_local.services(stack)
    src, implied = open_message_source(source, user_id=user, password_prompt=getpass.getpass)
    started = time.monotonic()
    mining_id = await enqueue_mining(services, src, user_id=user, identities=[*identities, *implied])
    while (mining := await services.main.mining(mining_id))["status"] == "running":
        if time.monotonic() - started > timeout:
            raise SystemExit(f"mining {mining_id} still running after {timeout:.0f} s")
        await asyncio.sleep(0.2)
    mining["seconds"] = round(time.monotonic() - started, 3)
    mining["persons"] = await services.main.persons(user)
    summary = await MiningFlow(services).summary(mining_id)
    mining["fetched"] = summary.fetched if summary else None
    return mining


def _delivery_log(stack: cloudflare_local.Stack, wait: float = 10.0) -> list[dict]:
    """The stack's deliveries, once refine's own is logged (refine ends the mining before its
    Worker returns and the delivery is logged)."""
    deadline = time.monotonic() + wait
    while True:
        messages = stack.call("log", {})["messages"]
        if any(m["queue"].startswith("mining-refine-") for m in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/cf")
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="the whole local stack, API on a local port")
    dev.add_argument("--port", type=int, default=8788)
    m = sub.add_parser("mine", help="one mining of a local mailbox through the local stack")
    m.add_argument("source")
    m.add_argument("--out", required=True, type=Path)
    m.add_argument("--identity", action="append", default=[])
    m.add_argument("--user", default="local")
    m.add_argument("--timeout", type=float, default=600)
    d = sub.add_parser("deploy", help="migrations, then every Worker")
    d.add_argument("--env", required=True, choices=("staging", "production"))
    d.add_argument("--dry-run", action="store_true")
    sub.add_parser("supabase-migrate", help="the main schema and its functions on Supabase ($SUPABASE_DB_URL)")
    for command in (dev, m):
        command.add_argument("--main-store", choices=("supabase", "d1"), default="supabase",
                             help="supabase (default): the local Supabase, PostgREST stand-in over PostgreSQL; "
                                  "d1: the SQLite schema on a local D1 (no PostgreSQL needed)")
        command.add_argument("--database-url", default=os.environ.get("LEADMINER_MAIN_DATABASE_URL"),
                             help="the local Supabase's PostgreSQL (default: $LEADMINER_MAIN_DATABASE_URL, "
                                  "else a throwaway one started for the run)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.command == "deploy":
        return deploy(args.env, dry_run=args.dry_run)
    if args.command == "supabase-migrate":
        return supabase_migrate()

    supabase = LocalSupabase.start(args.database_url, os.environ.get("SUPABASE_JWT_SECRET")) if args.main_store == "supabase" else None
    try:
        if args.command == "dev":
            stack = cloudflare_local.Stack(port=args.port, supabase=supabase)
            where = f", main store: local Supabase {supabase.url}" if supabase else ", main store: local D1"
            print(f"local Cloudflare stack on {stack.url}{where} (Ctrl-C stops it)", file=sys.stderr)
            try:
                return stack.process.wait()
            except KeyboardInterrupt:
                stack.close()
                return 0
        stack = cloudflare_local.Stack(supabase=supabase)
        try:
            mining = asyncio.run(mine(stack, args.source, args.user, args.identity, args.timeout))
            batches: dict[str, list[list[int]]] = {}  # queue → [wall ms, CPU ms] per batch
            for message in _delivery_log(stack):
                batches.setdefault(message["queue"], []).append([message["ms"], message["cpu_ms"]])
        finally:
            stack.close()
    finally:
        if supabase is not None:
            supabase.close()
    with args.out.open("w", encoding="utf-8") as out:
        write_export(mining["persons"], "json", out)
    rate = (mining["fetched"] or 0) / mining["seconds"] if mining["seconds"] else 0
    print(json.dumps({"mining_id": mining["id"], "status": mining["status"], "error": mining["stats"].get("error"),
                      "persons": len(mining["persons"]), "fetched": mining["fetched"], "main_store": args.main_store,
                      "seconds": mining["seconds"], "msg_per_s": round(rate, 1), "batch_ms": batches}))
    return 0 if mining["status"] == "done" else 1


# deploy -----------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "cloudflare"
WORKERS = ("fetch-dispatch", "extract", "clean", "signature", "refine")
PYTHON_MODULES = ROOT / "wrangler" / "python_modules"  # wrangler takes it from the config's folder (git-ignored)


def vendor(target: Path) -> list[str]:
    """Unzip the core's Pyodide wheels (scripts/pyodide_wheels.py: pure-Python ones and
    pydantic-core's wasm wheel) into ``target`` (python_modules/, which wrangler uploads with the
    Worker): what `pywrangler sync` would vendor, without its internet downloads."""
    import zipfile


    cloudflare_local.install()
    shutil.rmtree(target, ignore_errors=True)
    core = cloudflare_local.WHEELS[0]
    wheels = [core / name for name in json.loads((core / "manifest.json").read_text())["wheels"]]
    wheels += sorted(cloudflare_local.WHEELS[1].glob("*.whl"))  # the `workers` SDK, as pywrangler vendors it
    for path in wheels:
        with zipfile.ZipFile(path) as wheel:
            for member in wheel.namelist():
                if ".dist-info/" not in member:
                    wheel.extract(member, target)
    return [path.name for path in wheels]


def bundle(worker: str) -> Path:
    """build/cloudflare/<worker>/: entry.py, the core (with schemas/ inside, as in the wheel) and the
    API app (the dependencies are in wrangler/python_modules, see :func:`vendor`)."""

    out = BUILD / worker
    shutil.rmtree(out, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "workers" / worker, out, ignore=ignore)
    shutil.copytree(ROOT / "shared" / "leadminer", out / "leadminer", ignore=ignore)
    shutil.copytree(ROOT / "schemas", out / "leadminer" / "schemas", ignore=ignore)
    shutil.copytree(ROOT / "api" / "leadminer_api", out / "leadminer_api", ignore=ignore)
    return out


def migrations() -> list[Path]:
    """build/cloudflare/migrations/{temp,main}/<version>_*.sql: the D1 schemas (the SQL the local
    stack's migrate runs), for `wrangler d1 migrations apply`. The temp migration is numbered by the
    temp schema's version and the Cloudflare tables' revision (``000502`` = version 5, revision 2)."""
    from leadminer.adapters.cloudflare.d1 import (
        CLOUDFLARE_SQL, CLOUDFLARE_SQL_REVISION, CLOUDFLARE_TABLES, SET_VERSION, VERSIONS_SQL,
    )  # fmt: skip
    from leadminer.schemas import SCHEMA_VERSIONS, TEMP_TABLES, schema_sql

    written = []
    for name, schema, extra in (("temp", "sqlite/temp.sql", CLOUDFLARE_SQL), ("main", "sqlite/main.sql", "")):
        folder = BUILD / "migrations" / name
        shutil.rmtree(folder, ignore_errors=True)  # only this version's file (wrangler applies the new ones)
        folder.mkdir(parents=True)
        version = SCHEMA_VERSIONS[schema]
        record = SET_VERSION.replace("(?,?)", f"('{schema}', {version})")
        number = f"{version:04d}{CLOUDFLARE_SQL_REVISION:02d}" if name == "temp" else f"{version:06d}"
        path = folder / f"{number}_{name}.sql"
        # the temp tables and the mode's own are disposable: a new migration recreates them (CREATE …
        # IF NOT EXISTS alone would keep a table of the old version, without its new columns)
        drop = "".join(f"DROP TABLE IF EXISTS {t};\n" for t in (*TEMP_TABLES, *CLOUDFLARE_TABLES)) if name == "temp" else ""
        path.write_text(f"{drop}{schema_sql(schema)}\n{extra}\n{VERSIONS_SQL}\n{record};\n", encoding="utf-8")
        written.append(path)
    return written


def wrangler(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["npx", "--no-install", "wrangler", *args], cwd=cloudflare_local.STACK_DIR, text=True,
                          capture_output=True)  # fmt: skip


def supabase_migrate() -> int:
    """The main schema (``main.sql``) and its PostgREST functions (``main_api.sql``) on the Supabase
    database ``$SUPABASE_DB_URL`` names (created, upgraded, or checked: the self-host migration)."""
    url = os.environ.get("SUPABASE_DB_URL")
    if not url:
        print("SUPABASE_DB_URL (the Supabase database's connection string, a secret) is not set", file=sys.stderr)
        return 2
    asyncio.run(migrate_main(url))
    print("Supabase main schema: up to date", file=sys.stderr)
    return 0


DRY_RUN_IMAGE = "registry.cloudflare.com/leadminer-fetcher:dry-run"


@contextlib.contextmanager
def deploy_config(worker: str, *, dry_run: bool):
    """The Worker's config; for a dry run of a config with a container built from a Dockerfile
    (fetch-dispatch: the fetcher), a copy naming an image instead: `wrangler deploy --dry-run`
    builds Dockerfiles with Docker, which CI has and this offline check must not need (the
    Dockerfile is checked by tests/test_cloudflare.py). The copy sits beside the config
    (its paths are relative) as a dot file, which the local stack does not read."""
    config = ROOT / "wrangler" / f"{worker}.toml"
    text = config.read_text(encoding="utf-8")
    if not dry_run or "Dockerfile" not in text:
        yield config
        return
    copy = config.with_name(f".{worker}.dry-run.toml")
    copy.write_text(re.sub(r'^image = "[^"]*Dockerfile"', f'image = "{DRY_RUN_IMAGE}"', text, flags=re.MULTILINE), encoding="utf-8")
    print(f"{worker}: container image not built by the dry run (Docker), named {DRY_RUN_IMAGE}", file=sys.stderr)
    try:
        yield copy
    finally:
        copy.unlink(missing_ok=True)


def deploy(env: str, *, dry_run: bool) -> int:
    """Migrations first (the D1 temp tables, then Supabase's main schema and functions through
    ``$SUPABASE_DB_URL``), then every Worker; ``dry_run``: bundle and validate offline
    (`wrangler deploy --dry-run --outdir build/cloudflare/out/<worker>-<env>`)."""
    for path in migrations():
        if path.parent.name != "temp":
            continue  # the main D1 schema serves only a local stack's `--main-store d1`
        database = f"mining-temp-{env}"
        config = str(ROOT / "wrangler" / "fetch-dispatch.toml")
        if dry_run:
            print(f"would apply {path.relative_to(ROOT)} to D1 {database}", file=sys.stderr)
            continue
        done = wrangler("d1", "migrations", "apply", database, "--remote", "--env", env, "--config", config)
        if done.returncode:
            print(done.stdout + done.stderr, file=sys.stderr)
            return done.returncode
    if dry_run:
        print("would apply schemas/postgres/main.sql and main_api.sql to Supabase ($SUPABASE_DB_URL)", file=sys.stderr)
    elif supabase_migrate():
        return 2
    vendor(PYTHON_MODULES)
    for worker in WORKERS:
        bundle(worker)
        with deploy_config(worker, dry_run=dry_run) as config:
            args = ["deploy", "--config", str(config), "--env", env]
            if dry_run:
                args += ["--dry-run", "--outdir", str(BUILD / "out" / f"{worker}-{env}")]
            done = wrangler(*args)
        print(f"{worker} ({env}): {'ok' if done.returncode == 0 else 'FAILED'}", file=sys.stderr)
        if done.returncode:
            print(done.stdout[-3000:] + done.stderr[-3000:], file=sys.stderr)
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
