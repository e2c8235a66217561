"""Throughput and address recall of the extract stage against the stdlib ``email`` parser.

    python scripts/bench_extract.py [--corpus spamassassin] [--repeat 5] [--limit N]

Both sides read the same messages in the same run, several times (alternating,
best time kept):

* **leadminer** — :func:`leadminer.extract.extract_message` (headers, addresses,
  ids, date, tagging headers and the body text, HTML converted);
  a second row adds the clean stage as the pipeline runs it: a fresh
  :class:`leadminer.clean.AddressCleaner` (cold cache, as per mining) over the
  distinct addresses the extraction found (``handle_clean`` cleans each
  distinct address of a mining once); a third row is **the extract stage as the
  pipeline runs it** — :func:`leadminer.pipeline.extract_batch` (extract, list
  points and tags of every message) — followed by the same clean stage;
* **stdlib** — ``email.message_from_bytes`` (compat32) + ``email.utils.getaddresses``
  over From/To/Cc/Bcc/Reply-To/Sender + the first text/plain payload decoded.

Address recall compares the sets of (message, field, lower-cased address)
found by each in those six fields; ``tests/test_extract_corpus.py`` explains
every difference.
"""

from __future__ import annotations

import argparse
import email
import gc
import email.utils
import importlib
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parent.parent
for extra in (ROOT / "shared", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from corpora import CorpusMissing, extract_corpus  # noqa: E402  (tests/corpora.py)

from leadminer.contracts import Field, RawMessage  # noqa: E402
from leadminer.extract import ExtractError, extract_message  # noqa: E402
from leadminer.headers import clear_caches  # noqa: E402

STDLIB_HEADERS = {
    "from": Field.FROM,
    "to": Field.TO,
    "cc": Field.CC,
    "bcc": Field.BCC,
    "reply-to": Field.REPLY_TO,
    "sender": Field.SENDER,
}
"""The address headers both sides are compared on (header → our Field)."""
COMPARED_FIELDS = frozenset(STDLIB_HEADERS.values())

Pair = tuple[int, str, str]
"""(message index, field value, lower-cased address)."""


def corpus_messages(name: str, limit: int | None = None) -> list[bytes]:
    """Raw messages of a corpus (``.ann`` annotations and forge bodies left out), sorted by path."""
    folder = extract_corpus(name)
    paths = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not path.name.endswith(".ann") and "forge-signatures" not in path.parts
    )
    return [path.read_bytes() for path in paths[:limit]]


@dataclass(slots=True)
class RunResult:
    """What one side mined from a list of messages."""

    seconds: float
    pairs: set[Pair]
    failed: int = 0


def mine_leadminer(messages: Sequence[bytes], *, clean: Callable[[list[str]], object] | None = None) -> RunResult:
    """Extract every message (then clean the distinct addresses when ``clean`` is given), caches cold."""
    clear_caches()
    pairs: set[Pair] = set()
    distinct: set[str] = set()
    failed = 0
    start = time.perf_counter()
    for index, data in enumerate(messages):
        try:
            record = extract_message(RawMessage("bench", "corpus", str(index), data))
        except ExtractError:
            failed += 1
            continue
        for point in record.points:
            distinct.add(point.email)
            if point.field in COMPARED_FIELDS:
                pairs.add((index, point.field.value, point.email))
    if clean is not None:
        clean(sorted(distinct))
    return RunResult(time.perf_counter() - start, pairs, failed)


def mine_pipeline(messages: Sequence[bytes], *, clean: Callable[[list[str]], object]) -> RunResult:
    """The extract stage as the pipeline runs it (``extract_batch``: extract + list points + tags),
    then the clean stage over the distinct addresses, caches cold."""
    from leadminer.pipeline import extract_batch

    clear_caches()
    pairs: set[Pair] = set()
    distinct: set[str] = set()
    start = time.perf_counter()
    raws = [RawMessage("bench", "corpus", str(index), data) for index, data in enumerate(messages)]
    records, failures = extract_batch(raws)
    for record in records:
        index = int(record.uid)
        for point in record.points:
            distinct.add(point.email)
            if point.field in COMPARED_FIELDS:
                pairs.add((index, point.field.value, point.email))
    clean(sorted(distinct))
    return RunResult(time.perf_counter() - start, pairs, len(failures))


def _first_plain_text(message: email.message.Message) -> str | None:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                return None
            try:
                return payload.decode(part.get_content_charset() or "utf-8", "replace")
            except LookupError:
                return payload.decode("latin-1")
    return None


def mine_stdlib(messages: Sequence[bytes]) -> RunResult:
    """The baseline: compat32 parse + getaddresses + first text/plain payload."""
    pairs: set[Pair] = set()
    start = time.perf_counter()
    for index, data in enumerate(messages):
        message = email.message_from_bytes(data)
        for header, field in STDLIB_HEADERS.items():
            values = message.get_all(header)
            if values:
                for _name, address in email.utils.getaddresses([str(value) for value in values]):
                    address = address.strip().lower()
                    if "@" in address:
                        pairs.add((index, field.value, address))
        _first_plain_text(message)
    return RunResult(time.perf_counter() - start, pairs)


def address_cleaner_factory() -> Callable[[], Callable[[str], object]] | None:
    """``() -> cleaner.clean_batch`` of a fresh AddressCleaner, or None when leadminer.clean is absent."""
    try:
        clean_module = importlib.import_module("leadminer.clean")
    except ImportError:
        return None
    return lambda: clean_module.AddressCleaner(identities=()).clean_batch


def _timed(run: Callable[[], RunResult]) -> RunResult:
    """One run with the garbage collector paused, as :mod:`timeit` does."""
    gc.collect()
    gc.disable()
    try:
        return run()
    finally:
        gc.enable()


def benchmark(messages: Sequence[bytes], repeat: int) -> dict[str, RunResult]:
    """Best of ``repeat`` alternating runs of each side (GC paused, as :mod:`timeit` does)."""
    cleaner = address_cleaner_factory()
    runners: dict[str, Callable[[], RunResult]] = {
        "leadminer extract": lambda: mine_leadminer(messages),
        "stdlib email": lambda: mine_stdlib(messages),
    }
    if cleaner is not None:
        runners["leadminer extract + clean"] = lambda: mine_leadminer(messages, clean=cleaner())
        runners[PIPELINE_ROW] = lambda: mine_pipeline(messages, clean=cleaner())
    best: dict[str, RunResult] = {}
    for _ in range(repeat):
        for name, run in runners.items():
            result = _timed(run)
            if name not in best or result.seconds < best[name].seconds:
                best[name] = result
    return best


PIPELINE_ROW = "pipeline extract stage + clean"
"""extract_batch (extract + list points + tags) then the clean stage: what a mining pays per message."""


def report(corpus: str, messages: Sequence[bytes], results: dict[str, RunResult]) -> str:
    """Human-readable table of throughput, ratio and recall."""
    count = len(messages)
    stdlib = results["stdlib email"]
    ours = results["leadminer extract"]
    lines = [f"corpus {corpus}: {count} messages", ""]
    lines.append(f"{'side':31} {'msg/s':>10} {'µs/msg':>9} {'vs stdlib':>10}")
    for name, result in results.items():
        rate = count / result.seconds
        lines.append(
            f"{name:31} {rate:10,.0f} {result.seconds / count * 1e6:9.1f} {stdlib.seconds / result.seconds:9.2f}×"
        )
    if "leadminer extract + clean" not in results:
        lines.append("(leadminer.clean not available: extract + clean rows skipped)")
    both = ours.pairs & stdlib.pairs
    ours_by_message = {(index, address) for index, _field, address in ours.pairs}
    stdlib_by_message = {(index, address) for index, _field, address in stdlib.pairs}
    lines += [
        "",
        f"address pairs (message, field, address) in {', '.join(STDLIB_HEADERS)}:",
        f"  leadminer {len(ours.pairs):,}   stdlib {len(stdlib.pairs):,}   both {len(both):,}",
        f"  only leadminer {len(ours.pairs - both):,}   only stdlib {len(stdlib.pairs - both):,}",
        f"  pair ratio leadminer/stdlib {len(ours.pairs) / max(1, len(stdlib.pairs)):.4f}",
        f"(message, address) pairs, any of those fields: leadminer {len(ours_by_message):,}"
        f"   stdlib {len(stdlib_by_message):,}   both {len(ours_by_message & stdlib_by_message):,}"
        f"   ratio {len(ours_by_message) / max(1, len(stdlib_by_message)):.4f}",
        f"  ExtractError refusals: {ours.failed}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="spamassassin", help="corpus name in ../shared/corpora")
    parser.add_argument("--repeat", type=int, default=5, help="alternating repetitions (best kept)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N messages")
    args = parser.parse_args(argv)
    try:
        messages = corpus_messages(args.corpus, args.limit)
    except CorpusMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    print(report(args.corpus, messages, benchmark(messages, args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
