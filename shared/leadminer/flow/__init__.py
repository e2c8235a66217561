"""The mining flow, written once: start, fetch, the stage chain with its exactly-once
fan-in, steps, progress, stop, failure, cleanup and summary over async ports
(:mod:`leadminer.storage`, :mod:`leadminer.queues`), and the ack / retry /
dead-letter policy around it. A mode writes only its loop and its adapters
(docs/architecture.md, "The mining flow")."""

from .consumer import StageWorker, deliver
from .mining import MiningFlow, MiningOptions, describe, interrupted
from .services import DEFAULT_BATCH, NEXT_STAGE, QUEUES, STAGES, MiningServices, SourceOpener
from .sources import FetchState, MessageSource
from .summary import MiningProgress, MiningSummary

__all__ = [
    "DEFAULT_BATCH",
    "NEXT_STAGE",
    "QUEUES",
    "STAGES",
    "FetchState",
    "MessageSource",
    "MiningFlow",
    "MiningOptions",
    "MiningProgress",
    "MiningServices",
    "MiningSummary",
    "SourceOpener",
    "StageWorker",
    "deliver",
    "describe",
    "interrupted",
]
