"""Mine raw messages in memory with the leadminer core and print the result as JSON.

The same file runs under CPython (``python tests/pyodide/mine.py FILE…``) and
under Pyodide (``node tests/pyodide/run_core.mjs FILE…`` imports it and calls
:func:`run_json`), so the two outputs can be compared key by key.

While the core is mined, the thread / socket / subprocess entry points are
guarded: any call is recorded (``forbidden_calls``) and refused, because the core
must not use them (Cloudflare Python Workers have none of them).

Besides the mined persons, the output reports which ``leadminer`` modules
imported, a probe of every runtime dependency (pydantic-core validators,
email-validator, idna, phonenumbers, nameparser, dnspython names, the
disposable-domain list) and timings. ``api`` is what a few routes of the HTTP API
answered when called in-process over the in-memory backend (``api_check.py``). When ``leadminer.flow.memory.mine_in_memory``
cannot be imported, ``mode`` is ``"probe"`` and ``persons`` is None, so the other
checks still report.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import pkgutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

MINING_ID = "pyodide-check"

#: Modules the core must never pull in: network resolvers and process/thread pools.
FORBIDDEN_MODULES = (
    "dns.resolver",
    "dns.asyncresolver",
    "dns.query",
    "dns.asyncquery",
    "email_validator.deliverability",
    "subprocess",
    "multiprocessing",
    "concurrent.futures",
    "http.client",
    "urllib.request",
    "ssl",
)

def build_request(paths: list[str], identities: list[str], repeat: int = 1) -> dict[str, Any]:
    """A request for :func:`run`: one entry per message file (uid = file name, folder = parent folder name)."""
    return {"identities": list(identities), "repeat": repeat, "messages": [{"path": str(p)} for p in paths]}


def read_messages(request: dict[str, Any]) -> list[Any]:
    """Load the request's message files as :class:`leadminer.contracts.RawMessage` records."""
    from leadminer.contracts import RawMessage

    messages = []
    for entry in request["messages"]:
        path = Path(entry["path"])
        messages.append(
            RawMessage(
                mining_id=entry.get("mining_id", MINING_ID),
                folder=entry.get("folder", path.parent.name),
                uid=entry.get("uid", path.name),
                data=path.read_bytes(),
            )
        )
    return messages


class ForbiddenCall(RuntimeError):
    """The core tried to start a thread, open a socket or spawn a process."""


@contextlib.contextmanager
def guard_forbidden_calls(calls: list[str]) -> Iterator[None]:
    """Refuse (and record in ``calls``) threads, sockets and subprocesses while the block runs."""
    import _thread
    import socket
    import subprocess
    import threading

    targets: list[tuple[Any, str]] = [
        (threading.Thread, "start"),
        (_thread, "start_new_thread"),
        (socket.socket, "connect"),
        (socket.socket, "connect_ex"),
        (socket, "create_connection"),
        (socket, "getaddrinfo"),
        (subprocess, "Popen"),
    ]

    def refuse(label: str) -> Callable[..., Any]:
        def refused(*_args: Any, **_kwargs: Any) -> Any:
            calls.append(label)
            raise ForbiddenCall(f"must not call {label} (Cloudflare Python Workers have none)")

        return refused

    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
    try:
        for owner, name in targets:
            setattr(owner, name, refuse(f"{getattr(owner, '__name__', owner)}.{name}"))
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def import_core() -> tuple[list[str], dict[str, str]]:
    """Import every ``leadminer`` module; return (imported names, {failed name: error}).

    Failures are reported, not raised, so one unfinished module does not hide the
    others; the test compares them across runtimes.
    """
    import leadminer

    imported, failed = ["leadminer"], {}
    for info in sorted(pkgutil.walk_packages(leadminer.__path__, "leadminer."), key=lambda i: i.name):
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failed[info.name] = f"{type(exc).__name__}: {exc}"
        else:
            imported.append(info.name)
    return imported, failed


def probe_dependencies() -> dict[str, Any]:
    """Exercise each runtime dependency once; the result must be identical on every runtime."""
    import disposable_email_domains
    import dns.name
    import email_validator
    import idna
    import nameparser
    import phonenumbers
    import pydantic

    class Contact(pydantic.BaseModel):
        email: str
        name: str | None = None
        tags: list[str] = []
        occurrence: pydantic.NonNegativeInt = 0

    contact = Contact.model_validate({"email": "a@example.com", "name": "Ann", "tags": ["user"], "occurrence": "3"})
    try:
        Contact.model_validate({"email": "a@example.com", "occurrence": -1})
        rejected = None
    except pydantic.ValidationError as exc:
        rejected = [error["type"] for error in exc.errors()]

    valid = email_validator.validate_email("Jane.Doe@Bücher.example", check_deliverability=False)
    try:
        email_validator.validate_email("not an address", check_deliverability=False)
        invalid = None
    except email_validator.EmailNotValidError as exc:
        invalid = type(exc).__name__

    number = phonenumbers.parse("+44 20 7946 0958", None)
    found = [
        phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
        for m in phonenumbers.PhoneNumberMatcher("Tel: (415) 555-0132, Fax +49 30 901820", "US")
    ]
    name = nameparser.HumanName("Dr. Juan Q. Xavier de la Vega III")
    return {
        "pydantic": {"dump": contact.model_dump(mode="json"), "rejected": rejected},
        "email_validator": {"normalized": valid.normalized, "ascii": valid.ascii_email, "invalid": invalid},
        "idna": idna.encode("bücher.example").decode("ascii"),
        "dnspython": dns.name.from_text("xn--bcher-kva.example").to_unicode(),
        "phonenumbers": {
            "e164": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            "valid": phonenumbers.is_valid_number(number),
            "found": found,
        },
        "nameparser": {"first": name.first, "middle": name.middle, "last": name.last, "suffix": name.suffix},
        "disposable": "mailinator.com" in disposable_email_domains.blocklist,
    }


def load_flow() -> Callable[..., Any] | None:
    """``leadminer.flow.memory.mine_in_memory`` (the whole mining flow over SQLite and
    in-process queues: what a Worker runs over D1 and Cloudflare Queues), or None when
    it does not import."""
    try:
        from leadminer.flow.memory import mine_in_memory
    except Exception:  # the reason is in import_core's report
        return None
    return mine_in_memory


async def run(request: dict[str, Any]) -> dict[str, Any]:
    """Mine the request's messages; return a JSON-able result (see the module docstring)."""
    calls: list[str] = []
    with guard_forbidden_calls(calls):
        before = set(sys.modules)
        started = time.perf_counter()
        imported, failed = import_core()
        import_s = time.perf_counter() - started

        from leadminer.contracts import to_dict

        messages = read_messages(request)
        identities = request.get("identities", [])
        repeat = max(1, int(request.get("repeat", 1)))
        mine_in_memory = load_flow()
        persons: list[dict[str, Any]] | None = None
        mine_started = time.perf_counter()
        for _ in range(repeat if mine_in_memory is not None else 0):
            mined = sorted(await mine_in_memory(messages, identities), key=lambda p: (p.user_id, p.email))
            persons = [to_dict(p) for p in mined]
        mine_s = time.perf_counter() - mine_started
        loaded_by_core = set(sys.modules) - before
        probe = probe_dependencies()

    api = await run_api_check()

    import pydantic
    import pydantic_core
    import threading

    return {
        "api": api,
        "mode": "flow" if mine_in_memory is not None else "probe",
        "persons": persons,
        "probe": probe,
        "modules": {"imported": imported, "failed": failed},
        "forbidden_imported": sorted(m for m in FORBIDDEN_MODULES if m in loaded_by_core),
        "forbidden_calls": calls,
        "threads": threading.active_count(),
        "runtime": {
            "implementation": sys.implementation.name,
            "python": ".".join(map(str, sys.version_info[:3])),
            "platform": sys.platform,
            "pydantic": pydantic.VERSION,
            "pydantic_core": pydantic_core.__version__,
        },
        "timing": {
            **request.get("timing", {}),
            "import_s": round(import_s, 4),
            "mine_s": round(mine_s, 4),
            "messages": len(messages),
            "repeat": repeat,
            "messages_per_s": round(len(messages) * repeat / mine_s, 1) if persons is not None else None,
        },
    }


async def run_api_check() -> dict[str, Any]:
    """The HTTP API's routes called in-process (``api_check.py``), under the same guard as the
    core: the app must not start a thread, open a socket or spawn a process either. Reports
    what failed instead of raising, so the core's checks still report."""
    import traceback

    calls: list[str] = []
    before = set(sys.modules)
    started = time.perf_counter()
    with guard_forbidden_calls(calls):
        try:
            from api_check import check_api

            result = await check_api()
        except Exception:
            result = {"error": traceback.format_exc()}
    result["forbidden_calls"] = calls
    #: reported, not refused: importing a module starts nothing (anyio imports ssl, for one)
    result["forbidden_imported"] = sorted(m for m in FORBIDDEN_MODULES if m in set(sys.modules) - before)
    result["seconds"] = round(time.perf_counter() - started, 4)
    return result


async def run_json(request_json: str) -> str:
    """:func:`run` with JSON in and out (the entry point the Pyodide harness awaits)."""
    return json.dumps(await run(json.loads(request_json)), sort_keys=True, ensure_ascii=False)


def parse_args(argv: list[str] | None = None) -> dict[str, Any]:
    """Build a request from the command line (same options as run_core.mjs)."""
    parser = argparse.ArgumentParser(description="Mine message files in memory with the leadminer core.")
    parser.add_argument("files", nargs="*", help="raw RFC 5322 message files")
    parser.add_argument("--identity", action="append", default=[], help="the mailbox owner's address (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="mine the same messages N times (throughput)")
    parser.add_argument("--request", help="JSON request file instead of FILES ('-' for stdin)")
    args = parser.parse_args(argv)
    if args.request:
        text = sys.stdin.read() if args.request == "-" else Path(args.request).read_text(encoding="utf-8")
        return json.loads(text)
    if not args.files:
        parser.error("give message files or --request")
    return build_request(args.files, args.identity, args.repeat)


if __name__ == "__main__":
    import asyncio

    print(asyncio.run(run_json(json.dumps(parse_args()))))
