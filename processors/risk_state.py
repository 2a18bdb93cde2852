"""The risk reducer: one state for the whole book of opportunities, and its decisions.

Pure: ``RiskProcessor(settings).apply(state, record) -> (state, applied)`` reads no clock and no
Kafka and never changes the state it is given: a new state shares the containers it did not
change and holds shallow copies (of their own type) of those it changed. A refused command or
opportunity raises ``InvalidEvent`` and leaves the state exactly as it was. :class:`RiskReducer`
holds the current state for the Faust agent and the offline replay, which call the same code.

Input: the one-partition ``risk-sequenced`` topic, ``arb.opportunity``, ``ops.control`` and the
executor's ``exec.fill`` and its position statements (``account.position``) in one total
order. The state is the control state (kill switch,
limits), a clock (the latest opportunity or control time seen), the executor's positions and
the in-flight part of each approval. Each opportunity is decided once, on OPENED.

**Exposure is positions plus approvals in flight.** A fill (``exec.fill``, its envelope's
``correlation_id`` the decision id of its pair) moves the position of its instrument (net
size, valued at the last fill's price) and takes its notional off the in-flight part of its
approval's leg, so a burst of approvals counts in full before any fill lands and a filled
approval is counted once, as a position. CLOSED releases what is still in flight; the position
stays until the executor's closing fills arrive. A fill is applied once (``recent_fills``) and
never moves the clock (it is stamped by the executor's clock, not the venue's).

**A position statement sets a position.** The executor states, when it starts, the net position
of its venue session in every instrument any session of its ledger holds on its venues
(``VenuePosition``, stamped like its fills, so the ordered merge puts it after every fill it
includes). A statement replaces the position the fills built (a flat one removes it): a paper
venue restarted with flat accounts ends the previous paper session's positions, which would
otherwise fill the limits forever; on a live venue the statement equals what the fills built.
It is applied once, like a fill (its event id joins ``recent_fills``).

**Persisted state** is the ``state.risk`` record (:meth:`RiskBook.to_record` /
:meth:`RiskBook.from_record`, exact both ways; :mod:`processors.snapshots`).
"""

from __future__ import annotations

from collections import deque
from copy import copy
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from decimal import Decimal

from processors.records import instrument_key
from processors.records import traded_type
from processors.risk import ControlState
from processors.risk import apply_control
from processors.risk import decision_record
from processors.risk import evaluate as risk_evaluate
from processors.settings import RiskSettings
from processors.sizing import Portfolio
from processors.snapshots import ExposureLegs
from processors.snapshots import control_of
from processors.snapshots import control_record
from processors.snapshots import exposure_of
from processors.snapshots import exposure_record
from processors.units import InstrumentKey
from processors.units import persistable
from schemas.errors import InvalidEvent
from schemas.records.account import VenuePosition
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.common import MarketType
from schemas.records.common import PositionSide
from schemas.records.common import Side
from schemas.records.dlq import DeadLetterReason
from schemas.records.execution import Fill
from schemas.records.ops import ControlCommand
from schemas.records.risk import RiskDecision
from schemas.records.state import DecidedOpportunity
from schemas.records.state import HeldPosition
from schemas.records.state import LastControl
from schemas.records.state import RiskState

ZERO = Decimal(0)
RECENT_FILLS = 10_000
"""How many fill ids the state remembers: a redelivered fill is not applied twice."""
RECENTLY_CLOSED = 10_000
"""How many closed ids the state remembers: a CLOSED redelivered after its opportunity's
decision was dropped is recognised as a redelivery, not taken for an unknown opportunity."""

RiskInput = Opportunity | ControlCommand | Fill | VenuePosition
RiskApplied = tuple[bool, RiskDecision | None]
"""(state changed, decision to publish)."""


@dataclass(frozen=True, slots=True)
class Held:
    """The executor's net position in one instrument (derived from its fills)."""

    kind: MarketType
    net_size_base: Decimal
    price: Decimal
    """Of the last fill: the position's notional is ``|net_size_base| * price``."""

    @property
    def notional(self) -> Decimal:
        return abs(self.net_size_base) * self.price


@dataclass(slots=True)
class RiskBook:
    """The risk reducer's working state (derived, mutable in place by the reducer only); it is
    persisted as the ``state.RiskState`` record (``to_record`` / ``from_record``)."""

    control: ControlState
    clock_ms: int = 0
    last_control: tuple[int, str] | None = None
    """(event time, event id) of the last control command applied: an older one is a replay."""
    exposures: dict[str, ExposureLegs] = field(default_factory=dict)
    """Approved and open: opportunity id -> (instrument, notional quote, margin quote) per leg
    still in flight (what its fills have not yet made a position)."""
    decided: dict[str, str] = field(default_factory=dict)
    """Open opportunities already judged: id -> decision id."""
    closed: deque[str] = field(default_factory=lambda: deque(maxlen=RECENTLY_CLOSED))
    """Recently closed ids, oldest first: a CLOSED for one of them is a redelivery."""
    positions: dict[InstrumentKey, Held] = field(default_factory=dict)
    """The executor's open positions, from its fills, in first-fill order."""
    fills: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_FILLS))
    """Recently applied fill and position-statement ids, oldest first: one among them is a
    redelivery."""

    def to_record(self) -> RiskState:
        """The whole state as its persisted record."""
        last = self.last_control
        return RiskState(
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
            positions=tuple(
                HeldPosition(
                    exchange=key.exchange,
                    symbol=key.symbol,
                    market_type=held.kind,
                    net_size_base=held.net_size_base,
                    price_quote=held.price,
                )
                for key, held in self.positions.items()
            ),
            recent_fills=tuple(self.fills),
        )

    @staticmethod
    def from_record(record: RiskState) -> RiskBook:
        """The state a record holds (the closed window keeps its bound, ``RECENTLY_CLOSED``)."""
        last = record.last_control
        return RiskBook(
            control=control_of(record.control),
            clock_ms=record.clock_ms,
            last_control=None if last is None else (last.event_time_ms, last.event_id),
            exposures=dict(exposure_of(e) for e in record.exposures),
            decided={d.opportunity_id: d.decision_id for d in record.decided},
            closed=deque(record.recently_closed, maxlen=RECENTLY_CLOSED),
            positions={
                InstrumentKey(p.exchange, p.symbol): Held(
                    p.market_type, p.net_size_base, p.price_quote
                )
                for p in record.positions
            },
            fills=deque(record.recent_fills, maxlen=RECENT_FILLS),
        )


class RiskProcessor:
    """The pure reducer: ``apply(state, record) -> (state, (changed, decision))``."""

    def __init__(self, settings: RiskSettings) -> None:
        self.settings = settings

    def initial(self) -> RiskBook:
        return RiskBook(self.settings.control_state())

    def apply(self, state: RiskBook, record: RiskInput) -> tuple[RiskBook, RiskApplied]:
        """The state after ``record``, and (changed, decision); ``state`` never changes.

        Raises ``InvalidEvent`` on a refused command, with nothing changed."""
        if isinstance(record, ControlCommand):
            return self._control(state, record)
        if isinstance(record, Fill):
            return self._fill(state, record)
        if isinstance(record, VenuePosition):
            return self._statement(state, record)
        return self._opportunity(state, record)

    def _control(self, s: RiskBook, record: ControlCommand) -> tuple[RiskBook, RiskApplied]:
        order = (record.envelope.event_time_ms, record.envelope.event_id)
        if s.last_control is not None and order <= s.last_control:
            return s, (False, None)
        control = apply_control(s.control, record)
        clock_ms = max(s.clock_ms, record.envelope.event_time_ms)
        moved = replace(s, control=control, last_control=order, clock_ms=clock_ms)
        return moved, (True, None)

    def _fill(self, s: RiskBook, fill: Fill) -> tuple[RiskBook, RiskApplied]:
        """The position of the fill's instrument moved; its approval's leg less in flight."""
        if fill.size_base <= 0 or fill.price <= 0:
            raise InvalidEvent(
                DeadLetterReason.NON_POSITIVE_SIZE
                if fill.size_base <= 0
                else DeadLetterReason.NON_POSITIVE_PRICE,
                f"fill {fill.fill_id}: {fill.size_base} @ {fill.price}",
            )
        if fill.fill_id in s.fills:
            return s, (False, None)
        key = instrument_key(fill.instrument)
        held = s.positions.get(key)
        delta = fill.size_base if fill.side is Side.BUY else -fill.size_base
        net = (held.net_size_base if held is not None else ZERO) + delta
        positions, fills = copy(s.positions), copy(s.fills)
        if net == 0:
            positions.pop(key, None)
        else:
            kind = traded_type(fill.instrument) or MarketType.PERP
            positions[key] = persistable(Held(kind, net, fill.price))
        fills.append(fill.fill_id)
        exposures = s.exposures
        oid = self._approval_of(s, fill.envelope.correlation_id)
        if oid is not None:
            exposures = copy(s.exposures)
            exposures[oid] = _less_in_flight(s.exposures[oid], key, fill.size_base * fill.price)
        moved = replace(s, positions=positions, fills=fills, exposures=exposures)
        return moved, (True, None)

    def _statement(self, s: RiskBook, stated: VenuePosition) -> tuple[RiskBook, RiskApplied]:
        """The stated position replaces the one the fills built (flat: removed)."""
        sign = _SIGN.get(stated.side)
        if sign is None or stated.size_base < 0 or (sign != 0) != (stated.size_base > 0):
            raise InvalidEvent(
                DeadLetterReason.NON_POSITIVE_SIZE,
                f"position statement {stated.envelope.event_id}: {stated.side.value}"
                f" {stated.size_base}",
            )
        event_id = stated.envelope.event_id
        if event_id in s.fills:
            return s, (False, None)
        key = instrument_key(stated.instrument)
        held = s.positions.get(key)
        net = sign * stated.size_base
        positions, fills = copy(s.positions), copy(s.fills)
        fills.append(event_id)
        if net == 0:
            positions.pop(key, None)
        else:
            price = stated.mark_price or stated.entry_price or (held.price if held else None)
            if price is None or price <= 0:
                raise InvalidEvent(
                    DeadLetterReason.NON_POSITIVE_PRICE,
                    f"position statement {event_id}: {net} of {key.symbol} without a price",
                )
            kind = traded_type(stated.instrument) or MarketType.PERP
            positions[key] = persistable(Held(kind, net, price))
        return replace(s, positions=positions, fills=fills), (True, None)

    @staticmethod
    def _approval_of(s: RiskBook, decision_id: str | None) -> str | None:
        """The open approved opportunity whose decision is ``decision_id``."""
        if decision_id is None:
            return None
        for oid, did in s.decided.items():
            if did == decision_id:
                return oid if oid in s.exposures else None
        return None

    def _portfolio(self, s: RiskBook) -> Portfolio:
        """What the limits are checked against: positions plus approvals in flight."""
        exposure: dict[InstrumentKey, Decimal] = {}
        margin: dict[str, Decimal] = {}
        for legs in s.exposures.values():
            for key, notional, used in legs:
                exposure[key] = exposure.get(key, Decimal(0)) + notional
                margin[key.exchange] = margin.get(key.exchange, Decimal(0)) + used
        leverage = s.control.limits.max_leverage
        for key, held in s.positions.items():
            notional = held.notional
            used = notional / leverage if held.kind is MarketType.PERP else notional
            exposure[key] = exposure.get(key, Decimal(0)) + notional
            margin[key.exchange] = margin.get(key.exchange, Decimal(0)) + used
        venues = {k.exchange for k in exposure}
        balances = {v: self.settings.balance(v) - margin.get(v, Decimal(0)) for v in venues}
        return Portfolio(exposure, _BalanceView(self.settings, balances), len(s.exposures))

    def _opportunity(self, s: RiskBook, record: Opportunity) -> tuple[RiskBook, RiskApplied]:
        oid = record.opportunity_id
        t = record.envelope.event_time_ms
        if record.lifecycle is Lifecycle.CLOSED:
            if oid not in s.decided and oid in s.closed:
                return s, (False, None)
            decided, exposures, closed = copy(s.decided), copy(s.exposures), copy(s.closed)
            decided.pop(oid, None)
            exposures.pop(oid, None)
            closed.append(oid)
            moved = replace(
                s,
                clock_ms=max(s.clock_ms, t),
                decided=decided,
                exposures=exposures,
                closed=closed,
            )
            return moved, (True, None)
        if record.lifecycle is not Lifecycle.OPENED or oid in s.decided or oid in s.closed:
            return s, (False, None)
        clock_ms = max(s.clock_ms, t)
        decision = risk_evaluate(record, self._portfolio(s), s.control, clock_ms)
        out = decision_record(decision, record, record.envelope.event_id)
        decided, exposures = copy(s.decided), copy(s.exposures)
        decided[oid] = out.decision_id
        if decision.approved:  # kept in the state: fitted to decimal(38, 18)
            exposures[oid] = persistable(decision.exposure(s.control.limits.max_leverage))
        moved = replace(s, clock_ms=clock_ms, decided=decided, exposures=exposures)
        return moved, (True, out)


_SIGN = {PositionSide.LONG: Decimal(1), PositionSide.SHORT: Decimal(-1), PositionSide.FLAT: ZERO}
"""Signed direction of a stated position; UNKNOWN is refused."""


def _less_in_flight(legs: ExposureLegs, key: InstrumentKey, filled_quote: Decimal) -> ExposureLegs:
    """``legs`` with ``filled_quote`` of notional (and its share of margin) off ``key``'s leg,
    never below zero."""
    out = []
    for leg, notional, margin in legs:
        if leg == key and notional > 0:
            left = max(notional - filled_quote, ZERO)
            margin = margin * left / notional
            notional = left
        out.append((leg, notional, margin))
    return persistable(tuple(out))


class RiskReducer:
    """The current risk state, moved by :class:`RiskProcessor`."""

    def __init__(self, settings: RiskSettings, state: RiskBook | None = None) -> None:
        self.settings = settings
        self.processor = RiskProcessor(settings)
        self.state = state if state is not None else self.processor.initial()

    def apply(self, record: RiskInput) -> RiskApplied:
        """(state changed, decision to publish); ``InvalidEvent`` on a refused command, with
        the state unchanged."""
        self.state, applied = self.processor.apply(self.state, record)
        return applied


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
