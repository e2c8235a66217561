"""The ports one mining runs over, as a mode wires them, and the stage order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..mx import MxChecker
from ..parallel import CpuPool, InProcess
from ..pipeline import DEFAULT_BODY_CAP, SignatureExtractor
from ..queues import Queue
from ..storage import MainStore, RawBatchStore, RunLedger, TempStore

STAGES = ("extract", "clean", "signature", "refine")
"""The queued stages, in order (the fetch feeds ``extract``)."""

QUEUES = ("fetch", *STAGES)
"""Every queue of a mode: ``fetch`` carries minings whose source a worker reads (queued by
the API); a mode that reads sources where they are (the CLI) may leave it out."""

NEXT_STAGE = dict(zip(STAGES, STAGES[1:]))
"""The stage each stage hands a mining on to; ``refine`` finishes it."""

DEFAULT_BATCH = 500
"""Messages per raw batch (one ``extract`` queue message)."""


class SourceOpener(Protocol):
    """Opens the source a ``fetch`` message names (JSON: an uploaded file, a stored IMAP
    source…); raises an error whose message is meant for the user when it cannot."""

    async def open(self, user_id: str, spec: dict[str, Any]) -> Any: ...

    # A source it returns may have ``async def launch(self, mining_id: str) -> str | None``: read by a
    # fetcher outside the process (MiningFlow._queued_fetch launches it; None, or why the mining fails).
    # optional: ``async def release(self, mining_id: str) -> None``, called once the mining has
    # ended (done, failed, canceled, interrupted) to delete what the mode kept for its source
    # (an upload in the spool folder); it must do nothing for a mining without one.


@dataclass(slots=True)
class MiningServices:
    """Everything the flow needs: storage ports, one queue per stage (each with its
    ``dead`` letters), the optional MX checker and signature extractor, and the pool that
    runs the CPU-bound work of a stage (default: in this process)."""

    temp: TempStore
    ledger: RunLedger
    raw: RawBatchStore
    main: MainStore
    queues: Mapping[str, Queue]
    mx: MxChecker | None = None
    signature_extractor: SignatureExtractor | None = None
    body_cap: int = DEFAULT_BODY_CAP
    sources: SourceOpener | None = None  # for ``fetch`` messages
    cpu: CpuPool = field(default_factory=InProcess)  # CPU-bound stage work (the embedded mode: worker processes)
