"""What a replay covers: its topics, its bounds and its namespace, parsed and checked (pure).

``fundingflow replay --from BOUND --to BOUND --topics GLOBS --into NAMESPACE``: a bound is a
time (ISO-8601, or epoch milliseconds) or offsets (``offset:N``: offset N of every partition;
``P:N,P:N``: per partition, the partitions not named take the start of the log for ``--from``
and its end for ``--to``). The range is inclusive-from, exclusive-to. Everything here raises
:class:`ReplayInputError` (a clear message, nothing written) on bad input.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Literal

from schemas.errors import FundingflowError
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import ARB_SPREAD
from schemas.topics import CATALOGUE
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from schemas.topics import MD_TRADE
from schemas.topics import RISK_DECISION

DEFAULT_TOPICS = (MD_INSTRUMENT, MD_BOOK, MD_FUNDING, MD_TRADE)
"""The recorded market data (md.trade is re-published but not read by the agents)."""

DERIVED = frozenset(
    {ARB_SPREAD, ARB_OPPORTUNITY, RISK_DECISION} | {s.name for s in CATALOGUE if s.family == "dlq"}
)
"""What the agents write (their outputs and dead letters): a replay re-derives these, it never
re-publishes them."""

_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9][A-Za-z0-9_-]*)*")
_PARTITIONS = re.compile(r"\d+:\d+(,\d+:\d+)*")
MAX_NAMESPACE = 80
"""Kafka allows 249 characters a topic name; the longest internal name adds about 60."""


class ReplayInputError(FundingflowError):
    """A replay's arguments are not usable (nothing was written)."""


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of the range: a time, one offset for every partition, or offsets per partition."""

    kind: Literal["time", "offset", "partitions"]
    time_ms: int = 0
    offset: int = 0
    partitions: dict[int, int] = field(default_factory=dict)

    def describe(self) -> str:
        if self.kind == "time":
            return datetime.fromtimestamp(self.time_ms / 1000, UTC).isoformat()
        if self.kind == "offset":
            return f"offset:{self.offset}"
        return ",".join(f"{p}:{o}" for p, o in sorted(self.partitions.items()))


def parse_bound(text: str, option: str = "bound") -> Bound:
    """``2026-01-02T03:04:05Z`` | ``1767323045000`` | ``offset:N`` | ``P:N,P:N``."""
    value = text.strip()
    if value.startswith("offset:"):
        number = value.removeprefix("offset:")
        if not number.isdigit():
            raise ReplayInputError(f"{option} {text!r}: offset:N needs a non-negative integer N")
        return Bound("offset", offset=int(number))
    if _PARTITIONS.fullmatch(value):
        pairs = [item.split(":") for item in value.split(",")]
        partitions: dict[int, int] = {}
        for p, o in pairs:
            if int(p) in partitions:
                raise ReplayInputError(f"{option} {text!r}: partition {p} is named twice")
            partitions[int(p)] = int(o)
        return Bound("partitions", partitions=partitions)
    if value.isdigit():
        return Bound("time", time_ms=int(value))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReplayInputError(
            f"{option} {text!r} is not a time (ISO-8601 or epoch ms) nor offsets "
            "(offset:N or P:N,P:N)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Bound("time", time_ms=int(moment.timestamp() * 1000))


def check_order(start: Bound, end: Bound) -> None:
    """Refuse a range that is inverted or empty on its face (before any broker lookup)."""
    if start.kind == "time" and end.kind == "time" and start.time_ms >= end.time_ms:
        raise ReplayInputError(
            f"inverted or empty range: --from {start.describe()} is not before "
            f"--to {end.describe()}"
        )
    if start.kind != "time" and end.kind != "time":
        for p in sorted(set(start.partitions) | set(end.partitions) | {-1}):
            lo = start.offset if start.kind == "offset" else start.partitions.get(p)
            hi = end.offset if end.kind == "offset" else end.partitions.get(p)
            if lo is not None and hi is not None and lo > hi:
                where = "" if p < 0 else f" (partition {p})"
                raise ReplayInputError(
                    f"inverted range{where}: --from offset {lo} is after --to offset {hi}"
                )


def offset_of(bound: Bound, partition: int, low: int, high: int, at_time: int | None) -> int:
    """The offset ``bound`` names in a partition whose log spans [low, high); ``at_time`` is the
    broker's answer for a time bound (first offset at or after it; None: none is)."""
    if bound.kind == "time":
        found = high if at_time is None or at_time < 0 else at_time
    elif bound.kind == "offset":
        found = bound.offset
    else:
        found = bound.partitions.get(partition, -1)
    return min(max(found, low), high)


def partition_range(
    start: Bound,
    end: Bound,
    partition: int,
    low: int,
    high: int,
    start_at: int | None = None,
    end_at: int | None = None,
) -> tuple[int, int]:
    """[first, stop) of one partition. Partitions a ``P:N`` bound does not name take the start
    of the log (``--from``) or its end (``--to``). Raises on an inverted range."""
    first = offset_of(start, partition, low, high, start_at)
    if start.kind == "partitions" and partition not in start.partitions:
        first = low
    stop = offset_of(end, partition, low, high, end_at)
    if end.kind == "partitions" and partition not in end.partitions:
        stop = high
    if first > stop:
        raise ReplayInputError(
            f"inverted range on partition {partition}: --from resolves to offset {first}, "
            f"after --to at {stop}"
        )
    return first, stop


def select_topics(spec: str | None) -> list[str]:
    """Catalogue topics named by a comma list of names or shell-style globs (default: the
    recorded market data); refuses unknown names and the agents' own outputs."""
    if spec is None or not spec.strip():
        return list(DEFAULT_TOPICS)
    names = [spec.name for spec in CATALOGUE]
    chosen: list[str] = []
    for pattern in (p.strip() for p in spec.split(",")):
        if not pattern:
            continue
        matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise ReplayInputError(
                f"unknown topic {pattern!r}: no catalogue topic matches; known: {', '.join(names)}"
            )
        derived = [n for n in matched if n in DERIVED]
        if derived and pattern in DERIVED:
            raise ReplayInputError(
                f"{pattern} is written by the stream agents: a replay re-derives it from its "
                "inputs instead of re-publishing it"
            )
        chosen.extend(n for n in matched if n not in DERIVED and n not in chosen)
    if not chosen:
        raise ReplayInputError(f"--topics {spec!r} selects no topic a replay can re-publish")
    return chosen


def check_namespace(namespace: str) -> str:
    """A namespace usable as a topic-name prefix (``[A-Za-z0-9_-]`` words joined by dots)."""
    if not _NAMESPACE.fullmatch(namespace):
        raise ReplayInputError(
            f"namespace {namespace!r}: use letters, digits, '_' and '-', in words joined by "
            "single dots (e.g. replay-2026-01-02)"
        )
    if len(namespace) > MAX_NAMESPACE:
        raise ReplayInputError(f"namespace {namespace!r} is longer than {MAX_NAMESPACE} chars")
    families = {spec.family for spec in CATALOGUE}
    if namespace.split(".")[0] in families:
        raise ReplayInputError(
            f"namespace {namespace!r} starts like catalogue topics ({namespace.split('.')[0]}.*): "
            "choose a name that cannot be mistaken for a live topic"
        )
    return namespace
