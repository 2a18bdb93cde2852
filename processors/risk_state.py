"""The risk reducer: one state for the whole book of opportunities, and its decisions.

Pure: ``RiskProcessor(settings).apply(state, record) -> (state, applied)`` reads no clock and no
Kafka and never changes the state it is given: a new state shares the containers it did not
change and holds shallow copies (of their own type) of those it changed. A refused command or
opportunity raises ``InvalidEvent`` and leaves the state exactly as it was. :class:`RiskReducer`
holds the current state for the Faust agent and the offline replay, which call the same code.

Input: the one-partition ``risk-sequenced`` topic, ``arb.opportunity`` and ``ops.control`` in
one total order. The state is the control state (kill switch, limits), a clock (the latest
event time seen) and the exposure of approved, still-open opportunities. Each opportunity is
decided once, on OPENED; its exposure is released on CLOSED.

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
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.ops import ControlCommand
from schemas.records.risk import RiskDecision
from schemas.records.state import DecidedOpportunity
from schemas.records.state import LastControl
from schemas.records.state import RiskState

RECENTLY_CLOSED = 10_000
"""How many closed ids the state remembers: a CLOSED redelivered after its opportunity's
decision was dropped is recognised as a redelivery, not taken for an unknown opportunity."""

RiskInput = Opportunity | ControlCommand
RiskApplied = tuple[bool, RiskDecision | None]
"""(state changed, decision to publish)."""


@dataclass(slots=True)
class RiskBook:
    """The risk reducer's working state (derived, mutable in place by the reducer only); it is
    persisted as the ``state.RiskState`` record (``to_record`` / ``from_record``)."""

    control: ControlState
    clock_ms: int = 0
    last_control: tuple[int, str] | None = None
    """(event time, event id) of the last control command applied: an older one is a replay."""
    exposures: dict[str, ExposureLegs] = field(default_factory=dict)
    """Approved and open: opportunity id -> (instrument, notional quote, margin quote) per leg."""
    decided: dict[str, str] = field(default_factory=dict)
    """Open opportunities already judged: id -> decision id."""
    closed: deque[str] = field(default_factory=lambda: deque(maxlen=RECENTLY_CLOSED))
    """Recently closed ids, oldest first: a CLOSED for one of them is a redelivery."""

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
        return self._opportunity(state, record)

    def _control(self, s: RiskBook, record: ControlCommand) -> tuple[RiskBook, RiskApplied]:
        order = (record.envelope.event_time_ms, record.envelope.event_id)
        if s.last_control is not None and order <= s.last_control:
            return s, (False, None)
        control = apply_control(s.control, record)
        clock_ms = max(s.clock_ms, record.envelope.event_time_ms)
        moved = replace(s, control=control, last_control=order, clock_ms=clock_ms)
        return moved, (True, None)

    def _portfolio(self, s: RiskBook) -> Portfolio:
        exposure: dict[InstrumentKey, Decimal] = {}
        margin: dict[str, Decimal] = {}
        for legs in s.exposures.values():
            for key, notional, used in legs:
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
