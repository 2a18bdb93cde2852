"""Applying one sequenced batch: the error boundary the agents and the offline replay share.

Each message of a :class:`~schemas.records.stream.SequencedBatch` is decoded and applied on its
own: a message that cannot be (undecodable, wrong record type, refused by a reducer) becomes a
:class:`Refusal` naming its original topic, partition and offset, and the rest of the batch
applies. The reducers change nothing when they refuse a record, so the state after a batch is
the same whether a refusal happens live or in a replay.

What the agents write is collected per batch, not per message: the latest applied value per
table key (one changelog record per key and batch), the assets re-evaluated (one lifecycle
write each) and the output records in the order they were produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from processors.dead_letters import Source
from processors.market_state import MarketReducer
from processors.market_state import asset_of_key
from processors.market_state import record_key
from processors.risk_state import RiskReducer
from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.records.account import VenuePosition
from schemas.records.arb import Opportunity
from schemas.records.arb import SpreadUpdate
from schemas.records.dlq import DeadLetterReason
from schemas.records.execution import Fill
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts
from schemas.records.ops import ControlCommand
from schemas.records.risk import RiskDecision
from schemas.records.stream import SequencedBatch


@dataclass(frozen=True, slots=True)
class Refusal:
    """One message of a batch that was not accepted, and why."""

    source: Source
    raw: bytes
    error: BaseException
    timestamp_ms: int


def source_at(batch: SequencedBatch, i: int) -> Source:
    """The original position of message ``i`` of ``batch``."""
    key = batch.keys[i]
    return Source(
        batch.sources[batch.source_index[i]],
        batch.partitions[i],
        batch.offsets[i],
        key or None,
        (),
    )


@dataclass(slots=True)
class MarketOutcome:
    """What one batch did to the market state."""

    touched: dict[str, None] = field(default_factory=dict)
    """Assets whose state this batch changed (insertion-ordered set): one stored record each."""
    skipped: int = 0
    """Messages of assets whose stored state already included this batch (after a restart)."""
    spreads: dict[tuple[str, ...], tuple[str, SpreadUpdate]] = field(default_factory=dict)
    """The latest spread of each pair re-evaluated in this batch (asset, record): a reader
    of ``arb.spread`` wants the current spread, not every intermediate one of a batch."""
    opportunities: list[tuple[str, Opportunity]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    applied: int = 0


def apply_market_batch(
    reducer: MarketReducer, codec: Codec, batch: SequencedBatch, offset: int
) -> MarketOutcome:
    """Decode and apply every message of ``batch`` (at sequenced ``offset``) in order; never
    raises on bad input.

    An asset's stored state names the sequenced offset it includes: after a restart, a
    message of an asset whose state already includes this batch is skipped (its effects,
    outputs included, were stored with it), so a batch whose state was stored for some assets
    and not for others applies exactly once for each. Every asset the batch changes is marked
    as including it."""
    out = MarketOutcome()
    decode = codec.decode
    for i, raw in enumerate(batch.values):
        try:
            record = decode(raw)
            if not isinstance(record, BookSnapshot | FundingRateUpdate | InstrumentFacts):
                raise DecodeError(
                    DeadLetterReason.WRONG_SCHEMA, f"not market data: {record.AVRO_NAME}"
                )
            if reducer.asset(asset_of_key(record_key(record))).applied > offset:
                out.skipped += 1
                continue
            applied = reducer.apply(record)
        except Exception as e:  # the one boundary: bad input is a dead letter, never a crash
            out.refused.append(Refusal(source_at(batch, i), raw, e, batch.timestamps_ms[i]))
            continue
        if applied.applied:
            out.applied += 1
            out.touched[applied.asset] = None
            reducer.asset(applied.asset).raw[applied.key] = raw
        if applied.evaluated:
            out.touched[applied.asset] = None
            for s in applied.spreads:
                out.spreads[_pair(s)] = (applied.asset, s)
            out.opportunities.extend((applied.asset, o) for o in applied.opportunities)
    for asset in out.touched:
        reducer.asset(asset).applied = offset + 1
    return out


def _pair(spread: SpreadUpdate) -> tuple[str, ...]:
    long, short = spread.long_leg.instrument, spread.short_leg.instrument
    return (spread.kind, long.exchange, long.symbol, short.exchange, short.symbol)


@dataclass(slots=True)
class RiskBatchResult:
    """What one batch did to the risk state."""

    changed: bool = False
    decisions: list[RiskDecision] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def apply_risk_batch(reducer: RiskReducer, codec: Codec, batch: SequencedBatch) -> RiskBatchResult:
    """Decode and apply every message of ``batch`` in order; never raises on bad input."""
    out = RiskBatchResult()
    for i, raw in enumerate(batch.values):
        try:
            record = codec.decode(raw)
            if not isinstance(record, Opportunity | ControlCommand | Fill | VenuePosition):
                raise DecodeError(
                    DeadLetterReason.WRONG_SCHEMA, f"not a risk input: {record.AVRO_NAME}"
                )
            changed, decision = reducer.apply(record)
        except Exception as e:  # the one boundary: bad input is a dead letter, never a crash
            out.refused.append(Refusal(source_at(batch, i), raw, e, batch.timestamps_ms[i]))
            continue
        out.changed = out.changed or changed
        if decision is not None:
            out.decisions.append(decision)
    return out
