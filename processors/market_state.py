"""The market-state reducer: per base asset, the latest market data and the open opportunities.

Pure: ``MarketProcessor(settings).apply(state, record) -> (state, applied)`` reads no clock,
no Kafka and no table, and never changes the state it is given. A refused record raises
``InvalidEvent`` and leaves that state exactly as it was; an accepted one returns a new state.
The Faust agents (:mod:`streams.agents`) and the offline replay (:mod:`streams.digest`) call the
same code through :class:`MarketReducer` (the states of every asset, keyed by asset), so a
replay of the same sequenced input rebuilds the same state.

Input: the ``md-sequenced`` topic, books and funding of every venue of the asset in one order.
It keeps the latest ``BookSnapshot`` and ``FundingRateUpdate`` per instrument and the open
opportunities (:class:`processors.opportunities.OpportunityBook`).

- Idempotent: a record not newer than the stored one for its instrument, by
  ``(event_time_ms, source_seq)`` (or the same ``event_id`` when there is no sequence), changes
  nothing; a redelivered message therefore never applies twice.
- Re-evaluates only the record's asset, only when the top of book or the funding changed, and at
  most once per ``min_eval_interval_ms`` of *event* time; the lifecycle runs at
  ``now = max(event times of the asset's records, last evaluation)``, never the wall clock.
  A change inside the interval is evaluated with the next change after it.

**Persisted state** is Avro records with registered schemas (``fundingflow.state``, subject
``state.asset``), never pickles: :meth:`AssetState.lifecycle_record` /
:meth:`AssetState.load_lifecycle` convert exactly both ways (:mod:`processors.snapshots`); the
agents encode them with the codec. Every decimal the reducer keeps is fitted to decimal(38, 18)
where it is made, so a state restored from its table equals the state that was saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from processors import records as mapping
from processors.detection import detect
from processors.opportunities import OpportunityBook
from processors.opportunities import step
from processors.settings import MarketSettings
from processors.snapshots import lifecycle_of
from processors.snapshots import lifecycle_record
from processors.units import InstrumentKey
from processors.units import InstrumentState
from schemas.errors import InvalidEvent
from schemas.fixed_point import Touch
from schemas.fixed_point import same_touch
from schemas.fixed_point import touch
from schemas.fixed_point import value_of
from schemas.records.arb import Opportunity
from schemas.records.arb import SpreadUpdate
from schemas.records.common import Envelope
from schemas.records.common import MarketType
from schemas.records.dlq import DeadLetterReason
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts
from schemas.records.state import AssetLifecycle
from schemas.topics import base_asset

MarketRecord = BookSnapshot | FundingRateUpdate | InstrumentFacts
BOOK = "B"
FUNDING = "F"
FACTS = "I"


_KEYS: dict[tuple[type, str, str], str] = {}
"""Memo of :func:`record_key` by (record type, exchange, symbol): a batch asks for each
message's key three times, and instruments repeat; bounded by :data:`_KEYS_MAX`."""
_KEYS_MAX = 100_000


def record_key(record: MarketRecord) -> str:
    """Table key of the latest record of one kind for one instrument: ``BTC|B|okx|BTC/USDT``."""
    ref = record.instrument
    memo = (type(record), ref.exchange, ref.symbol)
    key = _KEYS.get(memo)
    if key is None:
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        key = _KEYS[memo] = _record_key(record)
    return key


def _record_key(record: MarketRecord) -> str:
    kind = (
        BOOK
        if isinstance(record, BookSnapshot)
        else FUNDING
        if isinstance(record, FundingRateUpdate)
        else FACTS
    )
    ref = record.instrument
    return f"{base_asset(ref.symbol)}|{kind}|{ref.exchange}|{ref.symbol}"


def asset_of_key(key: str) -> str:
    return key.partition("|")[0]


def _order(envelope: Envelope) -> tuple[int, int]:
    seq = envelope.source_seq
    return envelope.event_time_ms, -1 if seq is None else seq


def is_newer(record: MarketRecord, stored: MarketRecord | None) -> bool:
    """Whether ``record`` supersedes ``stored`` (the idempotency rule)."""
    if stored is None:
        return True
    new, old = record.envelope, stored.envelope
    if new.event_time_ms != old.event_time_ms:
        return new.event_time_ms > old.event_time_ms
    order, stored_order = _order(new), _order(old)
    if order != stored_order:
        return order > stored_order
    return new.source_seq is None and new.event_id != old.event_id


def check_book(record: BookSnapshot) -> Touch:
    """Cheap checks of the touch, on its mantissas (connectors validate full depth before
    publishing); returns the touch."""
    top = touch(record)
    if top is None:
        raise InvalidEvent(
            DeadLetterReason.EMPTY_BOOK, f"{record_key(record)}: a side has no level"
        )
    bid, bid_size, ask, ask_size, ps, ss = top
    if bid <= 0 or ask <= 0:
        detail = f"touch {value_of(bid, ps)} / {value_of(ask, ps)}"
        raise InvalidEvent(DeadLetterReason.NON_POSITIVE_PRICE, detail)
    if bid_size <= 0 or ask_size <= 0:
        detail = f"touch size {value_of(bid_size, ss)} / {value_of(ask_size, ss)}"
        raise InvalidEvent(DeadLetterReason.NON_POSITIVE_SIZE, detail)
    if bid >= ask:
        detail = f"best bid {value_of(bid, ps)} >= best ask {value_of(ask, ps)}"
        raise InvalidEvent(DeadLetterReason.CROSSED_BOOK, detail)
    return top


def check_funding(record: FundingRateUpdate) -> None:
    if record.funding_interval_ms <= 0:
        detail = f"expected a positive interval, was {record.funding_interval_ms} ms"
        raise InvalidEvent(DeadLetterReason.MISSING_FUNDING_INTERVAL, detail)


def check_facts(record: InstrumentFacts) -> None:
    size = record.contract_size_base
    if size <= 0:
        detail = f"expected a positive contract size, was {size}"
        raise InvalidEvent(DeadLetterReason.NON_POSITIVE_SIZE, detail)
    for name in ("amount_step", "min_amount", "min_notional_quote"):
        value = getattr(record, name)
        if value is not None and value < 0:
            raise InvalidEvent(DeadLetterReason.NON_POSITIVE_SIZE, f"{name} is {value}")
    rate, period = record.borrow_rate, record.borrow_period_ms
    if (rate is None) != (period is None) or (
        rate is not None and period is not None and (rate < 0 or period <= 0)
    ):  # refused here, or every later book of the asset would fail its evaluation
        detail = f"borrow rate {rate} per {period} ms"
        raise InvalidEvent(DeadLetterReason.MALFORMED_PAYLOAD, detail)


def _changed(record: MarketRecord, stored: MarketRecord | None) -> bool:
    if stored is None:
        return True
    if isinstance(record, InstrumentFacts):  # any fact but the envelope
        assert isinstance(stored, InstrumentFacts)
        return record.model_copy(update={"envelope": stored.envelope}) != stored
    if isinstance(record, BookSnapshot):
        assert isinstance(stored, BookSnapshot)
        new, old = touch(record), touch(stored)
        return new is None or old is None or not same_touch(new, old)
    assert isinstance(stored, FundingRateUpdate)
    return (
        record.funding_rate != stored.funding_rate
        or record.funding_interval_ms != stored.funding_interval_ms
        or record.next_funding_time_ms != stored.next_funding_time_ms
    )


@dataclass(slots=True)
class AssetState:
    """Everything the market reducer knows about one base asset."""

    records: dict[str, MarketRecord] = field(default_factory=dict)
    book: OpportunityBook = field(default_factory=OpportunityBook)
    last_eval_ms: int | None = None
    views: dict[str, InstrumentState | None] = field(default_factory=dict)
    """Cache of ``records`` as detector states (derived; never persisted or digested)."""
    raw: dict[str, bytes] = field(default_factory=dict)
    """``records`` as they arrived (framed Avro bytes), for the stored state (never digested)."""
    applied: int = -1
    """Next sequenced offset this state includes (set by the batch boundary; never digested)."""
    encoded_lifecycle: bytes | None = None
    """Cache of the encoded :meth:`lifecycle_record` (derived; dropped on each evaluation)."""

    def lifecycle_record(self) -> AssetLifecycle:
        """The open opportunities and the last evaluation (changes only on evaluation)."""
        return lifecycle_record(self.book, self.last_eval_ms)

    def load_lifecycle(self, record: AssetLifecycle) -> None:
        """Restore the open opportunities and the last evaluation from their record."""
        self.book, self.last_eval_ms = lifecycle_of(record)


@dataclass(frozen=True, slots=True)
class MarketApplied:
    """What one market record did."""

    asset: str
    key: str
    applied: bool
    evaluated: bool = False
    spreads: tuple[SpreadUpdate, ...] = ()
    opportunities: tuple[Opportunity, ...] = ()


AssetLoader = Callable[[str], AssetState | None]

_OUTCOMES: dict[tuple[str, str, bool], MarketApplied] = {}
"""Memo of the outcomes without an evaluation (frozen, so shared): most records only move the
state, and building the outcome was a sixth of applying one; bounded by :data:`_KEYS_MAX`."""


def _outcome(asset: str, key: str, *, applied: bool) -> MarketApplied:
    memo = (asset, key, applied)
    found = _OUTCOMES.get(memo)
    if found is None:
        if len(_OUTCOMES) >= _KEYS_MAX:
            _OUTCOMES.clear()
        found = _OUTCOMES[memo] = MarketApplied(asset, key, applied=applied)
    return found


class MarketProcessor:
    """The pure reducer: ``apply(state, record) -> (state, applied)`` for one asset's state."""

    def __init__(self, settings: MarketSettings) -> None:
        self.settings = settings
        self.detection = settings.detection()

    def apply(self, state: AssetState, record: MarketRecord) -> tuple[AssetState, MarketApplied]:
        """The state after ``record`` and what it did; ``state`` itself never changes.

        Raises ``InvalidEvent`` (reason = a DeadLetterReason) on bad input, and lets any other
        error of the evaluation through; either way nothing was changed (all or nothing)."""
        key = record_key(record)
        asset = asset_of_key(key)
        stored = state.records.get(key)
        if not is_newer(record, stored):
            return state, _outcome(asset, key, applied=False)
        if isinstance(record, BookSnapshot):
            check_book(record)
        elif isinstance(record, FundingRateUpdate):
            check_funding(record)
        else:
            check_facts(record)
        records = dict(state.records)
        records[key] = record
        views = dict(state.views)
        views.pop(f"{record.instrument.exchange}|{record.instrument.symbol}", None)
        t = record.envelope.event_time_ms
        last = state.last_eval_ms
        interval = self.settings.min_eval_interval_ms
        throttled = interval > 0 and last is not None and max(t, last) - last < interval
        if throttled or not _changed(record, stored):  # a throttled change waits either way
            moved = AssetState(
                records,
                state.book,
                last,
                views,
                dict(state.raw),
                state.applied,
                state.encoded_lifecycle,
            )
            return moved, _outcome(asset, key, applied=True)
        view = self._view(records, views)
        # market time: facts are read when the connector starts, they are no market event
        times = [
            r.envelope.event_time_ms for r in records.values() if not isinstance(r, InstrumentFacts)
        ]
        now = max(t, last or t, *times)
        book, events = step(state.book, view, now, self.detection)
        cause = record.envelope.event_id
        spreads: tuple[SpreadUpdate, ...] = ()
        if self.settings.emit_spreads:
            spreads = tuple(mapping.spread_records(detect(view, self.detection), view, now, cause))
        opps = tuple(mapping.opportunity_record(e, view, asset, cause) for e in events)
        evaluated = AssetState(records, book, now, views, dict(state.raw), state.applied, None)
        return evaluated, MarketApplied(asset, key, True, True, spreads, opps)

    def view(self, state: AssetState) -> dict[InstrumentKey, InstrumentState]:
        """The detector's market view of one asset's state (tradable instruments only).

        Fills the state's view cache (derived, never persisted or digested)."""
        return self._view(state.records, state.views)

    def _view(
        self, records: dict[str, MarketRecord], views: dict[str, InstrumentState | None]
    ) -> dict[InstrumentKey, InstrumentState]:
        view: dict[InstrumentKey, InstrumentState] = {}
        for key, record in records.items():
            if not isinstance(record, BookSnapshot):
                continue
            ref = record.instrument
            cache_key = f"{ref.exchange}|{ref.symbol}"
            if cache_key not in views:
                kind = mapping.traded_type(ref)
                funding = records.get(key.replace(f"|{BOOK}|", f"|{FUNDING}|", 1))
                assert funding is None or isinstance(funding, FundingRateUpdate)
                facts = records.get(key.replace(f"|{BOOK}|", f"|{FACTS}|", 1))
                assert facts is None or isinstance(facts, InstrumentFacts)
                fees = self.settings.fees(ref.exchange, kind or MarketType.PERP, facts)
                lot = None if facts is None else mapping.lot_of(facts)
                borrow = None if facts is None else mapping.borrow_of(facts)
                if kind is MarketType.PERP and funding is None:
                    views[cache_key] = None  # a perp without funding is not tradable yet
                else:
                    views[cache_key] = mapping.instrument_state(record, funding, fees, lot, borrow)
            found = views[cache_key]
            if found is not None:
                view[found.key] = found
        return view


class MarketReducer:
    """The market state of every asset, each moved by :class:`MarketProcessor`.

    ``loader`` restores an asset's state the first time it is asked for (from the worker's
    table after a restart or a rebalance)."""

    def __init__(self, settings: MarketSettings, loader: AssetLoader | None = None) -> None:
        self.processor = MarketProcessor(settings)
        self.settings = settings
        self.detection = self.processor.detection
        self.assets: dict[str, AssetState] = {}
        self._loader = loader

    def asset(self, asset: str) -> AssetState:
        """The state of ``asset``: known, restored by the loader, or empty (not kept until a
        record is applied to it)."""
        state = self.assets.get(asset)
        if state is None:
            loaded = self._loader(asset) if self._loader is not None else None
            if loaded is None:
                return AssetState()
            self.assets[asset] = state = loaded
        return state

    def apply(self, record: MarketRecord) -> MarketApplied:
        """Apply one record to its asset's state; on a refusal (``InvalidEvent``) or any other
        error nothing changes."""
        asset = asset_of_key(record_key(record))
        state, applied = self.processor.apply(self.asset(asset), record)
        if applied.applied:
            self.assets[asset] = state
        return applied

    def view(self, asset: str) -> dict[InstrumentKey, InstrumentState]:
        """The detector's market view of ``asset`` (tradable instruments only)."""
        return self.processor.view(self.asset(asset))
