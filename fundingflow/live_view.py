"""The live "open opportunities" table: a pure fold of ``arb.opportunity`` records, plus a tail.

``fold(view, record)`` keeps the latest record of every open opportunity and drops it on
CLOSED; ``rows(view)`` ranks them (best net APR first) for rendering. ``OpportunityTail`` reads
the topic with confluent-kafka and feeds the fold (the lead's ``fundingflow run`` renders it).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.common import Side


@dataclass(frozen=True, slots=True)
class OpenRow:
    opportunity_id: str
    kind: str
    asset: str
    long_leg: str
    short_leg: str
    funding_long: Decimal | None
    funding_short: Decimal | None
    net_apr_bps: Decimal
    net_edge_bps: Decimal
    max_size_base: Decimal
    max_notional_quote: Decimal
    opened_ms: int
    updated_ms: int
    updates: int


@dataclass
class LiveView:
    open: dict[str, Opportunity] = field(default_factory=dict)
    opened_ms: dict[str, int] = field(default_factory=dict)
    updates: dict[str, int] = field(default_factory=dict)
    closed_total: int = 0
    events: int = 0


def fold(view: LiveView, record: Opportunity) -> LiveView:
    """Apply one lifecycle record (mutates and returns ``view``; replays are idempotent)."""
    view.events += 1
    oid = record.opportunity_id
    if record.lifecycle is Lifecycle.CLOSED:
        if view.open.pop(oid, None) is not None:
            view.closed_total += 1
        view.opened_ms.pop(oid, None)
        view.updates.pop(oid, None)
        return view
    previous = view.open.get(oid)
    if previous is not None and previous.envelope.event_time_ms > record.envelope.event_time_ms:
        return view
    view.open[oid] = record
    view.opened_ms.setdefault(oid, record.envelope.event_time_ms)
    if record.lifecycle is Lifecycle.UPDATED:
        view.updates[oid] = view.updates.get(oid, 0) + 1
    return view


def _leg(record: Opportunity, side: Side) -> tuple[str, Decimal | None]:
    for leg in record.legs:
        if leg.side is side:
            return f"{leg.instrument.exchange}:{leg.instrument.symbol}", leg.funding_rate
    return "-", None


def rows(view: LiveView) -> list[OpenRow]:
    """Open opportunities, best net APR first (ties by id)."""
    out = []
    for oid, r in view.open.items():
        long_leg, funding_long = _leg(r, Side.BUY)
        short_leg, funding_short = _leg(r, Side.SELL)
        out.append(
            OpenRow(
                opportunity_id=oid,
                kind=r.kind.value,
                asset=r.base_asset,
                long_leg=long_leg,
                short_leg=short_leg,
                funding_long=funding_long,
                funding_short=funding_short,
                net_apr_bps=r.net_apr_bps,
                net_edge_bps=r.net_edge_bps,
                max_size_base=r.max_size_base,
                max_notional_quote=r.max_notional_quote,
                opened_ms=view.opened_ms.get(oid, r.envelope.event_time_ms),
                updated_ms=r.envelope.event_time_ms,
                updates=view.updates.get(oid, 0),
            )
        )
    return sorted(out, key=lambda row: (-row.net_apr_bps, row.opportunity_id))


class OpportunityTail:
    """Tail ``arb.opportunity`` into a :class:`LiveView` (call ``poll``): from the beginning
    (the whole lifecycle history), or only what happens from now on."""

    def __init__(
        self,
        bootstrap: str,
        codec: Codec,
        topic: str = "arb.opportunity",
        from_beginning: bool = True,
    ) -> None:
        import uuid

        from confluent_kafka import Consumer

        self.codec = codec
        self.view = LiveView()
        self._consumer: Any = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"fundingflow-live-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest" if from_beginning else "latest",
                "enable.auto.commit": False,
                "socket.nagle.disable": True,
            }
        )
        self._consumer.subscribe([topic])

    def poll(self, timeout_s: float = 0.1, max_messages: int = 1000) -> LiveView:
        for message in self._consumer.consume(max_messages, timeout_s):
            if message.error() is not None:
                continue
            try:
                record = self.codec.decode(message.value() or b"")
            except DecodeError:
                continue
            if isinstance(record, Opportunity):
                fold(self.view, record)
        return self.view

    def close(self) -> None:
        self._consumer.close()
