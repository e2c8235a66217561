"""The ports one mining runs over, as a mode wires them, and the stage order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..mx import MxChecker
from ..pipeline import DEFAULT_BODY_CAP, SignatureExtractor
from ..queues import Queue
from ..storage import MainStore, RawBatchStore, RunLedger, TempStore

STAGES = ("extract", "clean", "signature", "refine")
"""The queued stages, in order (the fetch feeds ``extract``)."""

NEXT_STAGE = dict(zip(STAGES, STAGES[1:]))
"""The stage each stage hands a mining on to; ``refine`` finishes it."""

DEFAULT_BATCH = 500
"""Messages per raw batch (one ``extract`` queue message)."""


@dataclass(slots=True)
class MiningServices:
    """Everything the flow needs: storage ports, one queue per stage (each with its
    ``dead`` letters), and the optional MX checker and signature extractor."""

    temp: TempStore
    ledger: RunLedger
    raw: RawBatchStore
    main: MainStore
    queues: Mapping[str, Queue]
    mx: MxChecker | None = None
    signature_extractor: SignatureExtractor | None = None
    body_cap: int = DEFAULT_BODY_CAP
