"""The executor's engine: approved decisions to pairs, pairs to orders, orders settled by the venue.

Order of durable steps (PostgreSQL is the truth; Kafka offsets and ``exec.*`` follow it):

1. ``open``: the pair (``PairStore.insert``, unique on the signal) and its first intent
   (``Ledger.record_intent``, unique on the client order id) commit in one transaction. A
   redelivered decision finds its pair and opens nothing.
2. ``drive``: each working order is sent only from ``NEW`` (``Sent`` is stored before the call);
   the venue's answer is stored; a timeout, dropped connection or 5xx is ``OUTCOME_UNKNOWN`` and
   settled by fetching the order by client id, never by sending again. When the order is
   terminal, the pair reducer (``processors.pairs``) decides the next orders, and the pair's
   change and those intents commit together.
3. The consumer commits the decisions' offsets after ``drive`` (the state is durable), and the
   outbox publishes the stored changes to ``exec.*``.

After a crash anywhere, the restarted engine finds every pair and order where the last commit
left it: ``NEW`` is sent (it never left), ``SUBMITTED``/``OUTCOME_UNKNOWN`` are fetched by
client id, a terminal order not yet applied to its pair is applied. Crash points for the fault
tests are named in :data:`CRASH_POINTS` (``FUNDINGFLOW_EXECUTOR_CRASH_AT=name[:n]`` kills the
process at the n-th time the point is reached).

The kill switch (``halt``) refuses new entry orders at once (the first leg's entries are
refused as ``NotSent``); hedges, unwinds and closes still go, since they reduce exposure.
Resuming needs an explicit release.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

import psycopg
import structlog

from executors.ledger import Ledger
from executors.outbox import Publisher
from executors.outbox import drain
from executors.pair_store import PairStore
from executors.portfolio import Portfolio
from executors.venues import OrderVenue
from processors.orders import OPEN
from processors.orders import TERMINAL as ORDER_TERMINAL
from processors.orders import Ambiguous
from processors.orders import NotFound
from processors.orders import NotSent
from processors.orders import OrderState
from processors.orders import Sent
from processors.orders import VenueReport
from processors.pairs import CloseRequested
from processors.pairs import LegLot
from processors.pairs import OrderSettled
from processors.pairs import PairPolicy
from processors.pairs import PairRefused
from processors.pairs import apply as apply_pair
from processors.pairs import open_pair
from processors.records import derived_id
from schemas.codec import Codec
from schemas.errors import OutcomeUnknown
from schemas.errors import VenueError
from schemas.errors import VenueOrderNotFound
from schemas.errors import VenueRejected
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.execution import OrderEvent
from schemas.records.execution import OrderPurpose
from schemas.records.execution import OrderStatus
from schemas.records.execution import PairStatus
from schemas.records.execution import PairUpdate
from schemas.records.execution import SubmitOrder
from schemas.records.md import InstrumentFacts
from schemas.records.ops import Incident
from schemas.records.ops import Severity
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from schemas.topics import OPS_INCIDENT
from schemas.topics import PORTFOLIO_PNL

log = structlog.get_logger("fundingflow.executor")

CRASH_POINTS = (
    "intent_committed",  # the intent is stored, nothing sent
    "sent_before_ack",  # the venue has the order, its answer is not stored
    "ack_stored",  # the answer is stored, the pair not yet advanced
    "between_legs",  # the first leg settled and the hedge's intent stored, hedge not sent
    "before_offset_commit",  # the batch's state is stored, its offsets not committed
)
CRASH_ENV = "FUNDINGFLOW_EXECUTOR_CRASH_AT"
UNSAFE_RESEND_ENV = "FUNDINGFLOW_EXECUTOR_UNSAFE_RESEND"
"""Fault tests' twin only: resend an order whose outcome is unknown instead of fetching it by
client id (the guard removed, to show the tests catch the duplicates it makes). Never set."""
MAX_DECISION_AGE_MS = 60_000
"""A decision older (or newer) than this on the venue's clock is stale: it is not traded."""
HALT_SCOPE = "global"


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class CrashPlan:
    """Kill this process at a named point (the fault tests' SIGKILL from inside)."""

    point: str | None = None
    after: int = 1
    seen: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CrashPlan:
        spec = environ.get(CRASH_ENV, "")
        if not spec:
            return cls()
        name, _, count = spec.partition(":")
        if name not in CRASH_POINTS:
            raise ValueError(f"{CRASH_ENV}={spec!r}: not one of {', '.join(CRASH_POINTS)}")
        return cls(name, int(count or 1))

    def reached(self, point: str) -> None:
        if point != self.point:
            return
        self.seen += 1
        if self.seen >= self.after:
            log.warning("crash_point", point=point, n=self.seen)
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass(slots=True)
class Reconciliation:
    """What a reconciliation found."""

    settled: int = 0
    mismatches: list[str] = field(default_factory=list)
    external_orders: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.mismatches


def _report(event: OrderEvent) -> VenueReport:
    return VenueReport(
        status=event.status,
        filled_base=event.filled_size_base,
        average_price=event.average_fill_price,
        venue_order_id=event.venue_order_id,
        detail=event.detail,
    )


class Executor:
    """Pairs and orders over one PostgreSQL connection and a set of venues (by exchange id)."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        venues: Mapping[str, OrderVenue],
        codec: Codec,
        publisher: Publisher,
        *,
        policy: PairPolicy | None = None,
        clock: Callable[[], int] = wall_ms,
        crash: CrashPlan | None = None,
        max_decision_age_ms: int = MAX_DECISION_AGE_MS,
        position_tolerance: Decimal | None = None,
    ) -> None:
        self.conn = conn
        self.venues = dict(venues)
        self.ledger = Ledger(conn)
        self.pairs = PairStore(conn, codec)
        self.publisher = publisher
        self.policy = policy or PairPolicy()
        self.clock = clock
        self.crash = crash or CrashPlan()
        self.max_decision_age_ms = max_decision_age_ms
        self.position_tolerance = position_tolerance
        self.facts: dict[tuple[str, str], InstrumentFacts] = {}
        self.portfolio = Portfolio(self.ledger, self.pairs)
        self.marks: dict[tuple[str, str], Decimal] = {}
        """The venues' mark prices from the last reconciliation (perp positions)."""
        sessions = sorted({v.session for v in self.venues.values()})
        self.session = "|".join(sessions) or "live"

    # ------------------------------------------------------------------------- kill switch

    def halt_state(self) -> tuple[bool, str]:
        """Halted by the kill switch (global) or by this session's reconciliation."""
        rows = self.conn.execute(
            "SELECT reason FROM trading_halt WHERE halted AND scope = ANY(%s) ORDER BY scope",
            ([HALT_SCOPE, self.session_scope],),
        ).fetchall()
        return (bool(rows), "; ".join(str(r[0]) for r in rows))

    @property
    def session_scope(self) -> str:
        """The halt scope of this venue session (a reconciliation mismatch halts only it)."""
        return f"session:{self.session}"

    def set_halt(self, halted: bool, reason: str, event_id: str, scope: str = HALT_SCOPE) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO trading_halt (scope, halted, reason, event_id, changed_ms)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope) DO UPDATE SET"
                " halted = EXCLUDED.halted, reason = EXCLUDED.reason,"
                " event_id = EXCLUDED.event_id, changed_ms = EXCLUDED.changed_ms",
                (scope, halted, reason, event_id, self.clock()),
            )
        log.warning("trading_halted" if halted else "trading_resumed", scope=scope, reason=reason)

    # ---------------------------------------------------------------------------- opening

    async def _facts(self, instrument: InstrumentRef) -> InstrumentFacts:
        key = (instrument.exchange, instrument.symbol)
        facts = self.facts.get(key)
        if facts is None:
            facts = self.facts[key] = await self.venues[instrument.exchange].facts(instrument)
        return facts

    async def _lot(self, instrument: InstrumentRef) -> LegLot:
        f = await self._facts(instrument)
        size = f.contract_size_base
        return LegLot(
            lot_base=(f.amount_step or Decimal(0)) * size,
            min_base=(f.min_amount or Decimal(0)) * size,
        )

    async def _refusal(self, decision: RiskDecision) -> str | None:
        """Why the decision must not be traded, or None."""
        missing = [
            leg.instrument.exchange
            for leg in decision.legs
            if leg.instrument.exchange not in self.venues
        ]
        if missing:
            return f"no venue connected for {', '.join(sorted(set(missing)))}"
        halted, reason = self.halt_state()
        if halted:
            return f"trading halted: {reason}"
        venue = self.venues[decision.legs[0].instrument.exchange]
        age = await venue.time_ms() - decision.envelope.event_time_ms
        if abs(age) > self.max_decision_age_ms:
            limit = self.max_decision_age_ms
            return f"stale decision: {age} ms from the venue's clock (limit {limit})"
        return None

    async def open(self, decision: RiskDecision) -> PairUpdate | None:
        """Store the pair of an approved decision and its first intent; None if not approved."""
        if decision.outcome is not RiskOutcome.APPROVED:
            return None
        existing = self.pairs.get(decision.decision_id)
        if existing is not None:
            return existing  # a redelivery: the pair goes on where it is
        refusal = await self._refusal(decision) if len(decision.legs) == 2 else "not two legs"
        if refusal is None:
            lots = (
                await self._lot(decision.legs[0].instrument),
                await self._lot(decision.legs[1].instrument),
            )
            pair, orders = open_pair(decision, lots, self.policy)
        else:
            zero = LegLot(Decimal(0), Decimal(0))
            pair, _ = open_pair(
                decision.model_copy(update={"approved_size_base": Decimal(0)}), (zero, zero)
            )
            pair, orders = pair.model_copy(update={"detail": refusal}), ()
        now = self.clock()
        with self.conn.transaction():
            if not self.pairs.insert(pair, venue_session=self.session):
                return self.pairs.get(decision.decision_id)
            for order in orders:
                self._record_intent(order, now)
        log.info(
            "pair_opened",
            signal=pair.signal_id,
            status=pair.status.value,
            detail=pair.detail,
            size=str(pair.target_size_base),
        )
        return pair

    def _record_intent(self, order: SubmitOrder, now: int) -> None:
        facts = self.facts.get((order.instrument.exchange, order.instrument.symbol))
        self.ledger.record_intent(
            order,
            now_ms=now,
            venue_session=self.session,
            fee_rate=None if facts is None else facts.taker_fee,
            fee_currency=None if facts is None else facts.settle,
        )

    def request_close(self, opportunity_id: str, reason: str) -> list[str]:
        with self.conn.transaction():
            return self.pairs.request_close(opportunity_id, reason)

    async def prepare(self) -> None:
        """Load the facts of every active pair's instruments (the fee terms of their orders)."""
        for pair in self.pairs.active(self.session):
            for leg in pair.legs:
                if leg.instrument.exchange in self.venues:
                    await self._facts(leg.instrument)

    # ---------------------------------------------------------------------------- driving

    async def drive(self) -> int:
        """Advance every active pair of this session as far as the venues allow; changes made."""
        changes = 0
        for pair in self.pairs.active(self.session):
            changes += await self._drive_pair(pair)
        return changes

    async def _drive_pair(self, pair: PairUpdate) -> int:
        changes = 0
        while True:
            if pair.status is PairStatus.HEDGED:
                reason = self.pairs.close_reason(pair.signal_id)
                if reason is None:
                    return changes
                pair = self._store(
                    pair, apply_pair(pair, CloseRequested(reason, self.clock()), self.policy)
                )
                changes += 1
            working = [
                (i, leg.working_client_order_id)
                for i, leg in enumerate(pair.legs)
                if leg.working_client_order_id
            ]
            if not working:
                return changes
            progressed = False
            for index, cid in working:
                assert cid is not None
                state = await self._settle(cid)
                if state is None:
                    continue
                purpose = self.ledger.submitted(cid).purpose
                event = OrderSettled(
                    cid,
                    index,
                    purpose,
                    state.status,
                    state.filled_base,
                    state.average_price,
                    self.clock(),
                )
                try:
                    result = apply_pair(pair, event, self.policy)
                except PairRefused as exc:
                    self._incident(Severity.CRITICAL, "PAIR_REFUSED", f"{pair.signal_id}: {exc}")
                    return changes
                before = pair.status
                pair = self._store(pair, result)
                changes += 1
                progressed = True
                if before is PairStatus.ENTERING and pair.status is PairStatus.HEDGING:
                    self.crash.reached("between_legs")
                break  # the pair changed: read its working orders again
            if not progressed:
                return changes

    def _store(
        self, before: PairUpdate, result: tuple[PairUpdate, tuple[SubmitOrder, ...]]
    ) -> PairUpdate:
        pair, orders = result
        if pair == before:
            return pair
        now = self.clock()
        with self.conn.transaction():
            self.pairs.update(pair)
            for order in orders:
                self._record_intent(order, now)
        log.info(
            "pair_changed",
            signal=pair.signal_id,
            status=pair.status.value,
            seq=pair.seq,
            orders=len(orders),
            detail=pair.detail,
        )
        if pair.detail and "exhausted" in pair.detail:
            self._incident(Severity.CRITICAL, "PAIR_NOT_FLAT", f"{pair.signal_id}: {pair.detail}")
        return pair

    async def _settle(self, cid: str) -> OrderState | None:
        """Take the order one step towards terminal on its venue; its state when terminal."""
        state = self.ledger.get(cid)
        if state is None:
            raise RuntimeError(f"working order {cid} has no intent in the ledger")
        if state.status in ORDER_TERMINAL:
            return state
        order = self.ledger.submitted(cid)
        venue = self.venues[order.instrument.exchange]
        if state.status is OrderStatus.NEW:
            if order.purpose is OrderPurpose.ENTRY and order.leg_index == 0:
                halted, reason = self.halt_state()
                if halted:
                    state, _ = self.ledger.apply(
                        cid, NotSent(f"trading halted: {reason}"), now_ms=self.clock()
                    )
                    return state
            self.crash.reached("intent_committed")
            state, _ = self.ledger.apply(cid, Sent(), now_ms=self.clock())
            try:
                event = await venue.submit(order)
            except OutcomeUnknown as exc:
                state, _ = self.ledger.apply(cid, Ambiguous(str(exc)[:300]), now_ms=self.clock())
                log.warning("order_outcome_unknown", cid=cid, detail=str(exc)[:200])
            except VenueRejected as exc:
                report = VenueReport(OrderStatus.REJECTED, detail=str(exc)[:300])
                state, _ = self.ledger.apply(cid, report, now_ms=self.clock())
            else:
                self.crash.reached("sent_before_ack")
                state, _ = self.ledger.apply(cid, _report(event), now_ms=self.clock())
                self.crash.reached("ack_stored")
            if state.status in ORDER_TERMINAL:
                return state
        return await self._resolve(cid, state, order.instrument, venue)

    async def _resend_unsafely(
        self, cid: str, order: SubmitOrder, venue: OrderVenue
    ) -> OrderState | None:
        try:
            event = await venue.submit(order)
        except VenueError:
            return None
        state, _ = self.ledger.apply(cid, _report(event), now_ms=self.clock())
        return state if state.status in ORDER_TERMINAL else None

    async def _resolve(
        self, cid: str, state: OrderState, instrument: InstrumentRef, venue: OrderVenue
    ) -> OrderState | None:
        """Fetch a sent order by client id (cancel an IOC left open); its state when terminal."""
        if os.environ.get(UNSAFE_RESEND_ENV) == "1":  # the twin: the guard removed
            return await self._resend_unsafely(cid, self.ledger.submitted(cid), venue)
        try:
            event = await venue.fetch_by_client_id(cid, instrument)
        except VenueOrderNotFound:
            state, _ = self.ledger.apply(cid, NotFound(), now_ms=self.clock())
            return None
        except VenueError as exc:
            log.info("order_fetch_failed", cid=cid, detail=str(exc)[:200])
            return None
        state, _ = self.ledger.apply(cid, _report(event), now_ms=self.clock())
        if state.status in OPEN:
            try:
                event = await venue.cancel(cid, instrument)
                state, _ = self.ledger.apply(cid, _report(event), now_ms=self.clock())
            except VenueError as exc:
                log.info("order_cancel_failed", cid=cid, detail=str(exc)[:200])
        return state if state.status in ORDER_TERMINAL else None

    # --------------------------------------------------------------------- reconciliation

    async def reconcile(self) -> Reconciliation:
        """Settle sent orders by client id, compare positions and open orders with each venue;
        a position mismatch beyond a lot halts trading (fail closed) with an incident."""
        result = Reconciliation()
        for state in self.ledger.unresolved() + self.ledger.open_orders():
            order = self.ledger.submitted(state.client_order_id)
            venue = self.venues.get(order.instrument.exchange)
            if venue is None or self._session_of(state.client_order_id) != self.session:
                continue
            if await self._resolve(state.client_order_id, state, order.instrument, venue):
                result.settled += 1
        seen = await self._venue_positions(result)
        expected = self.ledger.net_positions(self.session)
        for key in sorted(set(expected) | set(seen)):
            want, have = expected.get(key, Decimal(0)), seen.get(key, Decimal(0))
            if key[0] in self.venues and abs(want - have) > self._tolerance(key):
                result.mismatches.append(f"{key[0]} {key[1]}: ledger {want}, venue {have}")
        for external in result.external_orders:
            message = f"an order not placed by this executor: {external}"
            self._incident(Severity.WARNING, "EXTERNAL_ORDER", message)
        if result.mismatches:
            detail = "; ".join(result.mismatches)[:900]
            self._incident(Severity.CRITICAL, "POSITION_MISMATCH", detail)
            reason = f"reconciliation: {detail}"
            self.set_halt(True, reason, derived_id("halt", detail), self.session_scope)
        return result

    async def _venue_positions(self, result: Reconciliation) -> dict[tuple[str, str], Decimal]:
        """Each venue's net holding per instrument (long +): derivative positions, and for
        spot the change of the base balance since the session's baseline; notes open orders
        the ledger does not know."""
        seen: dict[tuple[str, str], Decimal] = {}
        spot = self.ledger.net_positions(self.session)
        for vid, venue in self.venues.items():
            try:
                positions = await venue.positions()
                balances = await venue.balances()
                open_orders = await venue.open_orders()
            except VenueError as exc:
                result.mismatches.append(f"{vid}: cannot read the account ({exc})")
                continue
            for p in positions:
                sign = Decimal(1) if p.side.value == "LONG" else Decimal(-1)
                key = (p.instrument.exchange, p.instrument.symbol)
                seen[key] = seen.get(key, Decimal(0)) + sign * p.size_base
                if p.mark_price is not None:
                    self.marks[key] = p.mark_price
            baseline = self._baseline(vid, {b.currency: b.total for b in balances})
            totals = {b.currency: b.total for b in balances}
            for exchange, symbol in spot:
                if exchange == vid and ":" not in symbol:  # a spot symbol: BASE/QUOTE
                    base = symbol.split("/")[0]
                    held = totals.get(base, Decimal(0)) - baseline.get(base, Decimal(0))
                    seen[(exchange, symbol)] = held
            result.external_orders += [
                f"{vid} {o.instrument.symbol} {o.client_order_id}"
                for o in open_orders
                if self.ledger.get(o.client_order_id) is None
            ]
        return seen

    def _baseline(self, exchange: str, totals: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """The session's first-seen balances of ``exchange`` (noted now when first seen)."""
        now = self.clock()
        with self.conn.transaction():
            for currency, total in totals.items():
                self.conn.execute(
                    "INSERT INTO venue_baselines (venue_session, exchange, currency, total,"
                    " noted_ms) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (self.session, exchange, currency, total, now),
                )
        rows = self.conn.execute(
            "SELECT currency, total FROM venue_baselines WHERE venue_session = %s"
            " AND exchange = %s",
            (self.session, exchange),
        ).fetchall()
        return {str(r[0]): Decimal(r[1]) for r in rows}

    def _tolerance(self, key: tuple[str, str]) -> Decimal:
        """A position may differ by less than one lot (rounding), unless set explicitly."""
        if self.position_tolerance is not None:
            return self.position_tolerance
        facts = self.facts.get(key)
        if facts is None:
            return Decimal(0)
        return (facts.amount_step or Decimal(0)) * facts.contract_size_base

    def _session_of(self, cid: str) -> str:
        row = self.conn.execute(
            "SELECT venue_session FROM orders WHERE client_order_id = %s", (cid,)
        ).fetchone()
        return "" if row is None else str(row[0])

    # --------------------------------------------------------------------------- publishing

    def _incident(self, severity: Severity, code: str, message: str) -> None:
        now = self.clock()
        log.error("incident", code=code, message=message)
        self.publisher.publish(
            OPS_INCIDENT,
            Incident(
                envelope=Envelope(
                    event_id=derived_id("incident", code, message),
                    event_time_ms=now,
                    ingest_time_ms=now,
                ),
                incident_id=derived_id("incident", code, message),
                severity=severity,
                component="executor",
                code=code,
                message=message[:1000],
            ),
        )

    def publish(self) -> int:
        """Publish every stored change not yet published (the outbox)."""
        return drain(self.ledger, self.pairs, self.publisher, self.portfolio.on_fill)

    def publish_pnl(self) -> int:
        """Publish the book's PnL and every pair's, valued at the venues' last marks."""
        snapshots = self.portfolio.snapshots(self.marks, self.clock())
        for pnl in snapshots:
            self.publisher.publish(PORTFOLIO_PNL, pnl)
        self.publisher.flush()
        return len(snapshots)
