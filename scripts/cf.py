"""scripts/cf: the Cloudflare mode's local stack, a mining through it, and the deploy (see scripts/cf)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from leadminer.export import write_export
from leadminer.flow import MiningFlow
from leadminer_runner import cloudflare_local
from leadminer_runner.selfhost import enqueue_mining
from leadminer_runner.sources import open_message_source


async def mine(stack: cloudflare_local.Stack, source: str, user: str, identities: list[str], timeout: float) -> dict:
    """Fetch SOURCE here (a plain process, like the fetcher) into R2 and the extract queue; the
    Workers in the stack do the rest. Returns the mining row once it ended."""
    services = cloudflare_local.services(stack)
    src, implied = open_message_source(source, user_id=user, password_prompt=lambda prompt: "")
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
    args = parser.parse_args(argv)

    if args.command == "dev":
        stack = cloudflare_local.Stack(port=args.port)
        print(f"local Cloudflare stack on {stack.url} (Ctrl-C stops it)", file=sys.stderr)
        try:
            return stack.process.wait()
        except KeyboardInterrupt:
            stack.close()
            return 0
    if args.command == "mine":
        stack = cloudflare_local.Stack()
        try:
            mining = asyncio.run(mine(stack, args.source, args.user, args.identity, args.timeout))
        finally:
            stack.close()
        with args.out.open("w", encoding="utf-8") as out:
            write_export(mining["persons"], "json", out)
        rate = (mining["fetched"] or 0) / mining["seconds"] if mining["seconds"] else 0
        print(json.dumps({"mining_id": mining["id"], "status": mining["status"], "error": mining["stats"].get("error"),
                          "persons": len(mining["persons"]), "fetched": mining["fetched"],
                          "seconds": mining["seconds"], "msg_per_s": round(rate, 1)}))
        return 0 if mining["status"] == "done" else 1
    from leadminer_runner.cloudflare_deploy import deploy  # noqa: PLC0415

    return deploy(args.env, dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
