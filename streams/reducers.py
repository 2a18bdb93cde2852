"""The two stateful reducers of the streams, pure and free of Faust.

The Faust agents (:mod:`streams.agents`) and the offline replay (:mod:`streams.digest`) call the
same code, so a replay of the same sequenced input rebuilds the same state.

**Market** (per base asset; input: the ``md-sequenced`` topic, books and funding of every venue
of the asset in one order): keeps the latest ``BookSnapshot`` and ``FundingRateUpdate`` per
instrument and the open opportunities (:class:`processors.opportunities.OpportunityBook`).

- Idempotent: a record not newer than the stored one for its instrument, by
  ``(event_time_ms, source_seq)`` (or the same ``event_id`` when there is no sequence), changes
  nothing; a redelivered message therefore never applies twice.
- Re-evaluates only the record's asset, only when the top of book or the funding changed, and at
  most once per ``min_eval_interval_ms`` of *event* time; the lifecycle runs at
  ``now = max(event times of the asset's records, last evaluation)``, never the wall clock.
  A change inside the interval is evaluated with the next change after it.

**Risk** (one instance; input: the one-partition ``risk-sequenced`` topic, ``arb.opportunity``
and ``ops.control`` in one total order): the control state (kill switch, limits), a clock (the
latest event time seen) and the exposure of approved, still-open opportunities. Decides each
opportunity once, on OPENED; releases its exposure on CLOSED.

**Persisted state** is Avro records with registered schemas (``fundingflow.state``, subjects
``state.asset`` and ``state.risk``), never pickles: :meth:`AssetState.lifecycle_record` /
:meth:`AssetState.load_lifecycle` and :meth:`RiskState.to_record` / :meth:`RiskState.from_record`
convert exactly both ways (:mod:`processors.snapshots`); the agents encode them with the codec.
Every decimal the reducers keep is fitted to decimal(38, 18) where it is made, so a state
restored from its table equals the state that was saved.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from processors import records as mapping
from processors.detection import detect
from processors.opportunities import OpportunityBook
from processors.opportunities import step
from processors.risk import ControlState
from processors.risk import apply_control
from processors.risk import decision_record
from processors.risk import evaluate as risk_evaluate
from processors.sizing import Portfolio
from processors.snapshots import control_of
from processors.snapshots import control_record
from processors.snapshots import exposure_of
from processors.snapshots import exposure_record
from processors.snapshots import lifecycle_of
from processors.snapshots import lifecycle_record
from processors.units import InstrumentKey
from processors.units import InstrumentState
from processors.units import MarketKind
from processors.units import persistable
from schemas.errors import InvalidEvent
from schemas.fixed_point import Touch
from schemas.fixed_point import same_touch
from schemas.fixed_point import touch
from schemas.fixed_point import value_of
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.arb import SpreadUpdate
from schemas.records.common import Envelope
from schemas.records.dlq import DeadLetterReason
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts
from schemas.records.ops import ControlCommand
from schemas.records.risk import RiskDecision
from schemas.records.state import AssetLifecycle
from schemas.records.state import DecidedOpportunity
from schemas.records.state import LastControl
from schemas.records.state import RiskState as RiskStateRecord
from schemas.topics import base_asset
from streams.config import MarketSettings
from streams.config import RiskSettings

MarketRecord = BookSnapshot | FundingRateUpdate | InstrumentFacts
BOOK = "B"
FUNDING = "F"
FACTS = "I"
RECENTLY_CLOSED = 10_000


def record_key(record: MarketRecord) -> str:
    """Table key of the latest record of one kind for one instrument: ``BTC|B|okx|BTC/USDT``."""
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
    if _order(new) != _order(old):
        return _order(new) > _order(old)
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


class MarketReducer:
    """Market state per asset -> spreads and opportunity lifecycle events."""

    def __init__(self, settings: MarketSettings, loader: AssetLoader | None = None) -> None:
        self.settings = settings
        self.detection = settings.detection()
        self.assets: dict[str, AssetState] = {}
        self._loader = loader

    def asset(self, asset: str) -> AssetState:
        state = self.assets.get(asset)
        if state is None:
            loaded = self._loader(asset) if self._loader is not None else None
            state = loaded if loaded is not None else AssetState()
            self.assets[asset] = state
        return state

    def apply(self, record: MarketRecord) -> MarketApplied:
        """Apply one record; raises ``InvalidEvent`` (reason = a DeadLetterReason) on bad input."""
        key = record_key(record)
        asset = asset_of_key(key)
        state = self.asset(asset)
        stored = state.records.get(key)
        if not is_newer(record, stored):
            return MarketApplied(asset, key, applied=False)
        if isinstance(record, BookSnapshot):
            check_book(record)
        elif isinstance(record, FundingRateUpdate):
            check_funding(record)
        else:
            check_facts(record)
        changed = _changed(record, stored)
        view_key = f"{record.instrument.exchange}|{record.instrument.symbol}"
        state.records[key] = record
        state.views.pop(view_key, None)
        t = record.envelope.event_time_ms
        last = state.last_eval_ms
        interval = self.settings.min_eval_interval_ms
        throttled = interval > 0 and last is not None and max(t, last) - last < interval
        if not changed or throttled:
            return MarketApplied(asset, key, applied=True)
        try:
            spreads, opportunities = self._evaluate(asset, state, t, record.envelope.event_id)
        except Exception:  # all or nothing: the record is not applied either
            if stored is None:
                del state.records[key]
            else:
                state.records[key] = stored
            state.views.pop(view_key, None)
            raise
        return MarketApplied(asset, key, True, True, spreads, opportunities)

    def view(self, asset: str) -> dict[InstrumentKey, InstrumentState]:
        """The detector's market view of ``asset`` (tradable instruments only)."""
        return self._view(self.asset(asset))

    def _view(self, state: AssetState) -> dict[InstrumentKey, InstrumentState]:
        view: dict[InstrumentKey, InstrumentState] = {}
        for key, record in state.records.items():
            if not isinstance(record, BookSnapshot):
                continue
            ref = record.instrument
            cache_key = f"{ref.exchange}|{ref.symbol}"
            if cache_key not in state.views:
                kind = mapping.market_kind(ref)
                funding = state.records.get(key.replace(f"|{BOOK}|", f"|{FUNDING}|", 1))
                assert funding is None or isinstance(funding, FundingRateUpdate)
                facts = state.records.get(key.replace(f"|{BOOK}|", f"|{FACTS}|", 1))
                assert facts is None or isinstance(facts, InstrumentFacts)
                fees = self.settings.fees(ref.exchange, kind or MarketKind.PERP, facts)
                lot = None if facts is None else mapping.lot_of(facts)
                borrow = None if facts is None else mapping.borrow_of(facts)
                if kind is MarketKind.PERP and funding is None:
                    state.views[cache_key] = None  # a perp without funding is not tradable yet
                else:
                    state.views[cache_key] = mapping.instrument_state(
                        record, funding, fees, lot, borrow
                    )
            found = state.views[cache_key]
            if found is not None:
                view[found.key] = found
        return view

    def _evaluate(
        self, asset: str, state: AssetState, t: int, cause: str
    ) -> tuple[tuple[SpreadUpdate, ...], tuple[Opportunity, ...]]:
        view = self._view(state)
        # market time: facts are read at the connector's start, not market events
        times = [
            r.envelope.event_time_ms
            for r in state.records.values()
            if not isinstance(r, InstrumentFacts)
        ]
        now = max(t, state.last_eval_ms or t, *times)
        book, events = step(state.book, view, now, self.detection)
        spreads: tuple[SpreadUpdate, ...] = ()
        if self.settings.emit_spreads:
            spreads = tuple(mapping.spread_records(detect(view, self.detection), view, now, cause))
        opps = tuple(mapping.opportunity_record(e, view, asset, cause) for e in events)
        state.book, state.last_eval_ms = book, now
        state.encoded_lifecycle = None
        return spreads, opps


# ---- risk -------------------------------------------------------------------------------------


@dataclass(slots=True)
class RiskState:
    control: ControlState
    clock_ms: int = 0
    last_control: tuple[int, str] | None = None
    exposures: dict[str, tuple[tuple[InstrumentKey, Decimal, Decimal], ...]] = field(
        default_factory=dict
    )
    """Approved and open: opportunity id -> (instrument, notional quote, margin quote) per leg."""
    decided: dict[str, str] = field(default_factory=dict)
    """Open opportunities already judged: id -> decision id."""
    closed: deque[str] = field(default_factory=lambda: deque(maxlen=RECENTLY_CLOSED))
    """Recently closed ids, oldest first: a CLOSED for one of them is a redelivery."""

    def to_record(self) -> RiskStateRecord:
        """The whole state as its persisted record."""
        last = self.last_control
        return RiskStateRecord(
            control=control_record(self.control),
            clock_ms=self.clock_ms,
            last_control=None
            if last is None
            else LastControl(event_time_ms=last[0], event_id=last[1]),
            exposures=tuple(exposure_record(oid, legs) for oid, legs in self.exposures.items()),
            decided=tuple(
                DecidedOpportunity(opportunity_id=oid, decision_id=did)
                for oid, did in self.decided.items()
            ),
            recently_closed=tuple(self.closed),
        )

    @staticmethod
    def from_record(record: RiskStateRecord) -> RiskState:
        """The state a record holds (the closed window keeps its bound, ``RECENTLY_CLOSED``)."""
        last = record.last_control
        return RiskState(
            control=control_of(record.control),
            clock_ms=record.clock_ms,
            last_control=None if last is None else (last.event_time_ms, last.event_id),
            exposures=dict(exposure_of(e) for e in record.exposures),
            decided={d.opportunity_id: d.decision_id for d in record.decided},
            closed=deque(record.recently_closed, maxlen=RECENTLY_CLOSED),
        )


class RiskReducer:
    """``arb.opportunity`` and ``ops.control`` in one order -> ``risk.decision``."""

    def __init__(self, settings: RiskSettings, state: RiskState | None = None) -> None:
        self.settings = settings
        self.state = state if state is not None else RiskState(settings.control_state())

    def apply(self, record: Opportunity | ControlCommand) -> tuple[bool, RiskDecision | None]:
        """(state changed, decision to publish); ``InvalidEvent`` on a refused command."""
        if isinstance(record, ControlCommand):
            return self._control(record), None
        return self._opportunity(record)

    def _control(self, record: ControlCommand) -> bool:
        s = self.state
        order = (record.envelope.event_time_ms, record.envelope.event_id)
        if s.last_control is not None and order <= s.last_control:
            return False
        s.control = apply_control(s.control, record)
        s.last_control = order
        s.clock_ms = max(s.clock_ms, record.envelope.event_time_ms)
        return True

    def _portfolio(self) -> Portfolio:
        exposure: dict[InstrumentKey, Decimal] = {}
        margin: dict[str, Decimal] = {}
        for legs in self.state.exposures.values():
            for key, notional, used in legs:
                exposure[key] = exposure.get(key, Decimal(0)) + notional
                margin[key.exchange] = margin.get(key.exchange, Decimal(0)) + used
        venues = {k.exchange for k in exposure}
        balances = {v: self.settings.balance(v) - margin.get(v, Decimal(0)) for v in venues}
        return Portfolio(exposure, _BalanceView(self.settings, balances), len(self.state.exposures))

    def _opportunity(self, record: Opportunity) -> tuple[bool, RiskDecision | None]:
        s = self.state
        oid = record.opportunity_id
        t = record.envelope.event_time_ms
        if record.lifecycle is Lifecycle.CLOSED:
            if oid not in s.decided and oid in s.closed:
                return False, None
            s.decided.pop(oid, None)
            s.exposures.pop(oid, None)
            s.closed.append(oid)
            s.clock_ms = max(s.clock_ms, t)
            return True, None
        if record.lifecycle is not Lifecycle.OPENED or oid in s.decided or oid in s.closed:
            return False, None
        clock_ms = max(s.clock_ms, t)
        decision = risk_evaluate(record, self._portfolio(), s.control, clock_ms)
        out = decision_record(decision, record, record.envelope.event_id)
        s.clock_ms = clock_ms  # the state moves only once the record is decided
        s.decided[oid] = out.decision_id
        if decision.approved:  # kept in the state: fitted to decimal(38, 18)
            s.exposures[oid] = persistable(decision.exposure(s.control.limits.max_leverage))
        return True, out


class _BalanceView(dict[str, Decimal]):
    """Free balance per venue: the configured balance minus committed margin."""

    def __init__(self, settings: RiskSettings, known: dict[str, Decimal]) -> None:
        super().__init__(known)
        self._settings = settings

    def get(self, venue: str, default: Decimal | None = None) -> Decimal:  # type: ignore[override]
        """The free balance of ``venue``; ``default`` is ignored (every venue has one)."""
        del default
        if venue in self:
            return self[venue]
        return self._settings.balance(venue)
