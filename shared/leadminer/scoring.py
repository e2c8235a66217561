"""The 0–100 contact temperature. Formula and rationale: docs/scoring.md."""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Iterable
from datetime import datetime

from .contracts import RefinedPerson
from .storage import IndexedMessage

VOLUME_WEIGHT = 0.25
REPLIES_WEIGHT = 0.40
RECENCY_WEIGHT = 0.10
AGE_WEIGHT = 0.25

VOLUME_SATURATION = 50  # direct messages (sent to or received from the user) for a full volume score
REPLIES_SATURATION = 5  # replied conversations for a full replies score
RECENCY_DECAY_DAYS = 180.0  # e-folding time of the recency score
AGE_FULL_DAYS = 270.0  # relationship length for a full age score


@dataclass(slots=True, frozen=True)
class Interactions:
    direct_messages: int  # messages they sent + messages the user sent them
    replied_conversations: int
    first_seen: datetime | None
    last_seen: datetime | None


def temperature(i: Interactions, as_of: datetime | None) -> int:
    """0–100: volume 25 %, replies 40 %, recency 10 % (180-day decay), relationship age 25 % (270 days)."""
    volume = min(1.0, math.log1p(i.direct_messages) / math.log1p(VOLUME_SATURATION))
    replies = min(1.0, i.replied_conversations / REPLIES_SATURATION)
    recency = 0.0
    age = 0.0
    if i.last_seen is not None and as_of is not None:
        idle_days = max(0.0, (as_of - i.last_seen).total_seconds() / 86400)
        recency = math.exp(-idle_days / RECENCY_DECAY_DAYS)
    if i.first_seen is not None and i.last_seen is not None:
        span_days = max(0.0, (i.last_seen - i.first_seen).total_seconds() / 86400)
        age = min(1.0, span_days / AGE_FULL_DAYS)
    score = VOLUME_WEIGHT * volume + REPLIES_WEIGHT * replies + RECENCY_WEIGHT * recency + AGE_WEIGHT * age
    return round(100 * score)


def person_temperature(person: RefinedPerson, as_of: datetime | None) -> int:
    """Temperature of a refined person from its stored interaction facts."""

    def parse(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    facts = Interactions(
        person.direct_messages, person.replied_conversations, parse(person.direct_first), parse(person.direct_last)
    )
    return temperature(facts, as_of)


def reference_date(messages: Iterable[IndexedMessage]) -> str | None:
    """"Now" for recency: the newest message date once the top 1 % (at least
    one, when there are several) are set aside, so that a message dated ahead
    (spam, a forged From, a wrong clock) cannot cool every contact down.
    Deterministic: the same mail gives the same scores. Dates are ISO 8601 UTC."""
    dates = sorted((m.date for m in messages if m.date), reverse=True)
    return dates[outlier_count(len(dates))] if dates else None


def outlier_count(dated: int) -> int:
    """How many of the newest dates :func:`reference_date` sets aside."""
    return max(1, dated // 100) if dated > 1 else 0
