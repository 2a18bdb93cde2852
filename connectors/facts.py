"""Instrument facts as events: what a venue says about trading an instrument (md.instrument).

The connector publishes one :class:`~schemas.records.md.InstrumentFacts` per selected instrument
when it starts, and again whenever a later reload of the venue's markets changes a fact
(:class:`FactsTracker`). The event id is derived from the facts themselves
(``facts:<sha256 of their canonical text>``), so re-publishing unchanged facts after a restart
carries the same id and downstream de-duplication stays idempotent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from connectors.normalize import event_id
from connectors.venue import Instrument
from processors.units import BorrowRate
from schemas.records.common import Envelope
from schemas.records.md import FeeSource
from schemas.records.md import InstrumentFacts
from schemas.topics import MD_INSTRUMENT


def _text(value: Decimal | int | str | bool | None) -> str:
    return "" if value is None else str(value)


def facts_identity(
    ins: Instrument, funding_interval_ms: int | None, borrow: BorrowRate | None = None
) -> str:
    """``facts:<digest>`` of every fact (not the time), the venue identity of the event."""
    parts = (
        ins.venue_symbol,
        ins.settle,
        ins.contract_size_base,
        ins.amount_increment,
        ins.price_increment,
        ins.min_amount,
        ins.min_notional_quote,
        ins.maker_fee,
        ins.taker_fee,
        ins.fees_overridden,
        funding_interval_ms,
        ins.active,
        None if borrow is None else borrow.rate,
        None if borrow is None else borrow.period_ms,
    )
    digest = hashlib.sha256("|".join(_text(p) for p in parts).encode()).hexdigest()
    return f"facts:{digest}"


def instrument_facts(
    ins: Instrument,
    now_ms: int,
    funding_interval_ms: int | None = None,
    borrow: BorrowRate | None = None,
) -> InstrumentFacts:
    """The facts record of ``ins`` as read at ``now_ms`` (``borrow``: the interest to borrow
    its base asset, for a spot instrument of a venue that lends)."""
    identity = facts_identity(ins, funding_interval_ms, borrow)
    has_fees = ins.maker_fee is not None or ins.taker_fee is not None
    source = (
        FeeSource.OVERRIDE
        if ins.fees_overridden
        else FeeSource.VENUE
        if has_fees
        else FeeSource.UNKNOWN
    )
    return InstrumentFacts(
        envelope=Envelope(
            event_id=event_id(MD_INSTRUMENT, ins.exchange, ins.symbol, identity),
            event_time_ms=now_ms,
            ingest_time_ms=now_ms,
        ),
        instrument=ins.ref,
        venue_symbol=ins.venue_symbol,
        settle=ins.settle,
        contract_size_base=ins.contract_size_base,
        amount_step=ins.amount_increment,
        price_tick=ins.price_increment,
        min_amount=ins.min_amount,
        min_notional_quote=ins.min_notional_quote,
        maker_fee=ins.maker_fee,
        taker_fee=ins.taker_fee,
        fee_source=source,
        funding_interval_ms=funding_interval_ms,
        borrow_rate=None if borrow is None else borrow.rate,
        borrow_period_ms=None if borrow is None else borrow.period_ms,
        active=ins.active,
    )


@dataclass(slots=True)
class FactsTracker:
    """The last published identity per instrument: which facts are new or changed."""

    published: dict[tuple[str, str], str] = field(default_factory=dict)

    def changed(self, facts: InstrumentFacts) -> bool:
        """Whether ``facts`` differ from the last published for the instrument (and remember)."""
        key = (facts.instrument.exchange, facts.instrument.symbol)
        ident = facts.envelope.event_id
        if self.published.get(key) == ident:
            return False
        self.published[key] = ident
        return True
