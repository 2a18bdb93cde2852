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

Entries follow the executor's execution plan (``processors.execution_plans``; the default is
one marketable limit IOC order, as before plans): the plan is made when the pair opens, from
the entry leg's facts, and for the kinds that need them its book or recent trades, and is stored
with the pair. Each round first passes the time in (a ``Tick``) to pairs waiting for their next
child; a resting child (GTC, post-only) is canceled only once its plan's deadline has passed.

The kill switch (``halt``) refuses new entry orders at once (the first leg's entries are
refused as ``NotSent``); hedges, unwinds and closes still go, since they reduce exposure.
Resuming needs an explicit release.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

import psycopg
import structlog

from executors.ledger import UNRESOLVED
from executors.ledger import Ledger
from executors.outbox import Publisher
from executors.outbox import Staged
from executors.outbox import drain
from executors.outbox import mark_published
from executors.outbox import stage
from executors.pair_store import PairStore
from executors.portfolio import Portfolio
from executors.venues import OrderVenue
from processors.execution_plans import LegTerms
from processors.execution_plans import PlanError
from processors.execution_plans import PlanSpec
from processors.execution_plans import plan as plan_entry
from processors.lots import Lot
from processors.lots import common_step
from processors.orders import LOST_AFTER_NOT_FOUND
from processors.orders import OPEN
from processors.orders import TERMINAL as ORDER_TERMINAL
from processors.orders import Ambiguous
from processors.orders import NotFound
from processors.orders import NotSent
from processors.orders import OrderState
from processors.orders import Report
from processors.orders import Sent
from processors.orders import VenueReport
from processors.pairs import CloseRequested
from processors.pairs import LegLot
from processors.pairs import OrderSettled
from processors.pairs import PairPolicy
from processors.pairs import PairRefused
from processors.pairs import Tick
from processors.pairs import apply as apply_pair
from processors.pairs import is_terminal
from processors.pairs import open_pair
from processors.pairs import target_size
from processors.protective_prices import protective_limit
from processors.records import book_of
from processors.records import derived_id
from schemas.codec import Codec
from schemas.errors import OutcomeUnknown
from schemas.errors import VenueError
from schemas.errors import VenueOrderNotFound
from schemas.errors import VenueRejected
from schemas.records.account import VenuePosition
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import OrderType
from schemas.records.common import PositionSide
from schemas.records.common import TimeInForce
from schemas.records.execution import OrderEvent
from schemas.records.execution import OrderPurpose
from schemas.records.execution import OrderStatus
from schemas.records.execution import PairStatus
from schemas.records.execution import PairUpdate
from schemas.records.execution import SubmitOrder
from schemas.records.md import InstrumentFacts
from schemas.records.md import Trade
from schemas.records.ops import Incident
from schemas.records.ops import Severity
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from schemas.topics import ACCOUNT_POSITION
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
ENTRY_BAND_BPS = Decimal(50)
"""How far past the expected price an entry may fill (None: market orders)."""
UNSAFE_NO_LOT_ENV = "FUNDINGFLOW_EXECUTOR_UNSAFE_NO_LOT"
"""Integration tests' twin only: plan children without the venue's lot and minimums (the
rounding guard removed, to show the venue rejects what it would let through). Never set."""
BOOK_DEPTH = 20
"""Levels a side fetched for a plan that reads the book (LEVELS, POST_ONLY)."""
RESTING = frozenset({TimeInForce.GTC, TimeInForce.POST_ONLY})
LOST_AFTER_MS = 30_000
"""An IOC/FOK order not found this long after its intent (and 4 fetches) is presumed lost."""


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


def _lost(state: OrderState) -> VenueReport:
    return VenueReport(
        OrderStatus.EXPIRED,
        filled_base=state.filled_base,
        average_price=state.average_price,
        detail=f"presumed lost: the venue did not find it {LOST_AFTER_NOT_FOUND} times",
    )


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
        lost_after_ms: int = LOST_AFTER_MS,
        entry_band_bps: Decimal | None = ENTRY_BAND_BPS,
        plan: PlanSpec | None = None,
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
        self.lost_after_ms = lost_after_ms
        self.entry_band_bps = entry_band_bps
        self.plan = plan or PlanSpec()
        self._expiry: dict[str, int] = {}
        """Working resting children and the deadline of their plan (canceled after it)."""
        self.facts: dict[tuple[str, str], InstrumentFacts] = {}
        self._orders: dict[str, SubmitOrder] = {}
        self.portfolio = Portfolio(self.ledger, self.pairs, order_of=self._order)
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

    async def _refusal(
        self, decision: RiskDecision, halt: tuple[bool, str], clocks: dict[str, int]
    ) -> str | None:
        """Why the decision must not be traded, or None (``clocks``: venue times of this batch)."""
        if len(decision.legs) != 2:
            return f"{len(decision.legs)} legs: a pair needs two"
        missing = [
            leg.instrument.exchange
            for leg in decision.legs
            if leg.instrument.exchange not in self.venues
        ]
        if missing:
            return f"no venue connected for {', '.join(sorted(set(missing)))}"
        if halt[0]:
            return f"trading halted: {halt[1]}"
        vid = decision.legs[0].instrument.exchange
        if vid not in clocks:
            clocks[vid] = await self.venues[vid].time_ms()
        age = clocks[vid] - decision.envelope.event_time_ms
        if abs(age) > self.max_decision_age_ms:
            limit = self.max_decision_age_ms
            return f"stale decision: {age} ms from the venue's clock (limit {limit})"
        return None

    async def open(self, decision: RiskDecision) -> PairUpdate | None:
        """Store the pair of an approved decision and its first intent; None if not approved."""
        opened = await self.open_many([decision])
        return opened[0] if opened else None

    async def open_many(self, decisions: Sequence[RiskDecision]) -> list[PairUpdate]:
        """Store the pairs of the approved decisions and their first intents in one
        transaction (a redelivered decision finds its pair); the pairs, in order."""
        approved = [d for d in decisions if d.outcome is RiskOutcome.APPROVED]
        if not approved:
            return []
        known = self.pairs.existing([d.decision_id for d in approved])
        halt = self.halt_state()
        clocks: dict[str, int] = {}
        start = self.clock()
        planned: list[tuple[PairUpdate, tuple[SubmitOrder, ...]]] = []
        for decision in approved:
            if decision.decision_id in known:
                continue
            known.add(decision.decision_id)  # the same decision twice in one batch
            refusal = await self._refusal(decision, halt, clocks)
            if refusal is None:
                lots = (
                    await self._lot(decision.legs[0].instrument),
                    await self._lot(decision.legs[1].instrument),
                )
                opened = await self._open_planned(decision, lots, start)
                if isinstance(opened, str):
                    refusal = opened
                else:
                    planned.append(opened)
            if refusal is not None:
                zero = LegLot(Decimal(0), Decimal(0))
                unsized = decision.model_copy(update={"approved_size_base": Decimal(0)})
                pair, _ = (
                    open_pair(unsized, (zero, zero)) if len(decision.legs) == 2 else (None, ())
                )
                if pair is None:
                    log.warning("decision_refused", decision=decision.decision_id, detail=refusal)
                    continue
                planned.append((pair.model_copy(update={"detail": refusal}), ()))
        now = self.clock()
        with self.ledger.writing():  # the pairs, then their intents, one commit
            inserted = self.pairs.insert_many([p for p, _ in planned], venue_session=self.session)
            self._record_intents(
                [(pair, order) for pair, orders in planned if pair.signal_id in inserted
                 for order in orders],
                now,
            )  # fmt: skip
        for pair, _ in planned:
            log.debug(
                "pair_opened", signal=pair.signal_id, status=pair.status.value, detail=pair.detail
            )
        stored = {p.signal_id: p for p, _ in planned if p.signal_id in inserted}
        others = [d.decision_id for d in approved if d.decision_id not in stored]
        stored.update(self.pairs.get_many(others))  # redelivered: the pair as stored
        return [stored[d.decision_id] for d in approved if d.decision_id in stored]

    async def _open_planned(
        self, decision: RiskDecision, lots: tuple[LegLot, LegLot], start: int
    ) -> tuple[PairUpdate, tuple[SubmitOrder, ...]] | str:
        """The pair and its first child under the executor's plan, or why it cannot be planned."""
        target = target_size(decision, lots)
        if target <= 0:
            return open_pair(decision, lots, self.policy)  # REJECTED: nothing tradable
        leg = decision.legs[0]
        facts = await self._facts(leg.instrument)
        protective = None
        if self.entry_band_bps is not None and leg.entry_price > 0:
            protective = protective_limit(
                leg.side, leg.entry_price, self.entry_band_bps, facts.price_tick
            )
        terms = LegTerms(
            side=leg.side,
            lot=self._plan_lot(lots, facts),
            tick=facts.price_tick,
            expected_price=leg.entry_price,
            protective_price=protective,
        )
        venue = self.venues[leg.instrument.exchange]
        trades: list[Trade] = []
        try:
            book = (
                book_of(await venue.book(leg.instrument, BOOK_DEPTH))
                if self.plan.needs_book
                else None
            )
            if self.plan.needs_trades:
                since = start - self.plan.duration_ms
                trades = await venue.recent_trades(leg.instrument, since)
            entry = plan_entry(self.plan, target, terms, start_ms=start, book=book, trades=trades)
        except (VenueError, PlanError) as exc:
            return f"no {self.plan.kind} plan: {exc}"[:300]
        return open_pair(decision, lots, self.policy, entry_plan=entry)

    @staticmethod
    def _plan_lot(lots: tuple[LegLot, LegLot], facts: InstrumentFacts) -> Lot:
        """The size rules of the entry's children, in base units: a multiple of both legs'
        lots (so every slice can be hedged exactly), at least both minimums and the entry
        venue's minimum notional."""
        if os.environ.get(UNSAFE_NO_LOT_ENV) == "1":  # the twin: the guard removed
            return Lot(Decimal(1))
        step = common_step([lot.lot_base for lot in lots if lot.lot_base > 0])
        return Lot(
            Decimal(1),
            amount_step=step,
            min_amount=max(lot.min_base for lot in lots),
            min_notional_quote=facts.min_notional_quote,
        )

    def _record_intents(self, intents: list[tuple[PairUpdate, SubmitOrder]], now: int) -> None:
        """Queue each order as it will be sent, with the venue's fee terms, in the caller's
        transaction (:meth:`Ledger.writing`). A planned child goes as planned; a hedge (and the
        entry of a pair without a plan) as a marketable limit IOC order within
        ``entry_band_bps`` of the price the opportunity expected; unwinds and closes stay
        market orders."""
        rows = []
        for pair, order in intents:
            facts = self.facts.get((order.instrument.exchange, order.instrument.symbol))
            expected = pair.legs[order.leg_index].expected_price
            planned_child = order.leg_index == 0 and pair.entry_plan is not None
            if (
                self.entry_band_bps is not None
                and order.purpose is OrderPurpose.ENTRY
                and not planned_child
                and expected is not None
                and expected > 0
            ):
                tick = None if facts is None else facts.price_tick
                order = order.model_copy(
                    update={
                        "order_type": OrderType.LIMIT,
                        "limit_price": protective_limit(
                            order.side, expected, self.entry_band_bps, tick
                        ),
                    }
                )
            fee_rate = None if facts is None else facts.taker_fee
            rows.append((order, fee_rate, None if facts is None else facts.settle))
        self.ledger.record_intents(rows, now_ms=now, venue_session=self.session)

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
        """Advance every active pair of this session as far as the venues allow; changes made.

        In rounds, all pairs together: every sendable order is marked sent in one commit, sent
        concurrently, and its answers stored in one commit; orders without a definite answer
        are fetched by client id together; then every terminal order advances its pair, and
        the pairs' changes and the orders they cause commit together. A round with no
        terminal order ends the drive (the rest waits for the venue)."""
        changes = 0
        pairs = {p.signal_id: p for p in self.pairs.active(self.session)}
        for pair in pairs.values():  # the fee terms of the orders they may send (cached)
            for leg in pair.legs:
                if leg.instrument.exchange in self.venues:
                    await self._facts(leg.instrument)
        while pairs:
            changes += self._close_requested(pairs)
            changes += self._tick(pairs)
            working = {
                cid: (sid, index)
                for sid, pair in pairs.items()
                for index, leg in enumerate(pair.legs)
                if (cid := leg.working_client_order_id) is not None
            }
            self._note_deadlines(pairs, working)
            if not working:
                break
            settled = await self._settle_all(list(working))
            if not settled:
                break
            for cid in settled:
                self._expiry.pop(cid, None)
            results: list[tuple[PairUpdate, PairUpdate, tuple[SubmitOrder, ...]]] = []
            for cid, state in settled.items():
                sid, index = working[cid]
                event = OrderSettled(
                    cid,
                    index,
                    self._order(cid).purpose,
                    state.status,
                    state.filled_base,
                    state.average_price,
                    self.clock(),
                )
                try:
                    after, orders = apply_pair(pairs[sid], event, self.policy)
                except PairRefused as exc:
                    self._incident(Severity.CRITICAL, "PAIR_REFUSED", f"{sid}: {exc}")
                    continue
                results.append((pairs[sid], after, orders))
                pairs[sid] = after
            self._store_all(results)
            changes += len(results)
            for before, after, _ in results:  # each pair whose hedge intent was just stored
                if before.status is PairStatus.ENTERING and after.status is PairStatus.HEDGING:
                    self.crash.reached("between_legs")
            pairs = {sid: p for sid, p in pairs.items() if not is_terminal(p)}
        return changes

    def _note_deadlines(
        self, pairs: dict[str, PairUpdate], working: dict[str, tuple[str, int]]
    ) -> None:
        """Remember the plan deadline of each working entry child (when it is canceled)."""
        for cid, (sid, index) in working.items():
            entry = pairs[sid].entry_plan
            if index == 0 and entry is not None and entry.deadline_ms is not None:
                self._expiry[cid] = entry.deadline_ms

    def _tick(self, pairs: dict[str, PairUpdate]) -> int:
        """Pass the time to every pair waiting for its plan's next child; the changes stored."""
        now = self.clock()
        results = []
        for sid, before in pairs.items():
            if before.entry_plan is None or any(leg.working_client_order_id for leg in before.legs):
                continue
            after, orders = apply_pair(before, Tick(now), self.policy)
            if after.seq != before.seq:
                results.append((before, after, orders))
                pairs[sid] = after
        self._store_all(results)
        return len(results)

    def _close_requested(self, pairs: dict[str, PairUpdate]) -> int:
        """Apply the pending close of every hedged pair that has one, and to pairs whose plan
        still has children to release (it releases no more); the changes stored."""
        hedged = [sid for sid, p in pairs.items() if p.status is PairStatus.HEDGED]
        planning = [
            sid
            for sid, p in pairs.items()
            if p.status in (PairStatus.ENTERING, PairStatus.HEDGING)
            and p.entry_plan is not None
            and p.entry_plan.next_child < len(p.entry_plan.children)
        ]
        asked = hedged + planning
        reasons = self.pairs.close_reasons(asked) if asked else {}
        results = []
        for sid, reason in reasons.items():
            before = pairs[sid]
            after, orders = apply_pair(before, CloseRequested(reason, self.clock()), self.policy)
            results.append((before, after, orders))
            pairs[sid] = after
        self._store_all(results)
        for sid in hedged:
            if sid not in reasons:
                del pairs[sid]  # nothing to do until its opportunity closes
        return len(results)

    def _store_all(
        self, results: list[tuple[PairUpdate, PairUpdate, tuple[SubmitOrder, ...]]]
    ) -> None:
        """Store pair changes and the intents they cause in one transaction."""
        if not results:
            return
        now = self.clock()
        with self.ledger.writing():
            self.pairs.update_many([pair for _, pair, _ in results])
            self._record_intents(
                [(pair, order) for _, pair, orders in results for order in orders], now
            )
        for before, pair, orders in results:
            level = log.info if is_terminal(pair) or pair.status is PairStatus.HEDGED else log.debug
            level(
                "pair_changed",
                signal=pair.signal_id,
                status=pair.status.value,
                was=before.status.value,
                seq=pair.seq,
                orders=len(orders),
                detail=pair.detail,
            )
            if pair.detail and "exhausted" in pair.detail:
                self._incident(
                    Severity.CRITICAL, "PAIR_NOT_FLAT", f"{pair.signal_id}: {pair.detail}"
                )

    def _order(self, cid: str) -> SubmitOrder:
        """The recorded order (immutable once recorded, so kept)."""
        order = self._orders.get(cid)
        if order is None:
            order = self._orders[cid] = self.ledger.submitted(cid)
        return order

    def _load_orders(self, cids: list[str]) -> None:
        unknown = [cid for cid in cids if cid not in self._orders]
        if unknown:
            self._orders.update(self.ledger.submitted_many(unknown))

    async def _settle_all(self, cids: list[str]) -> dict[str, OrderState]:
        """Take every order one step towards terminal; the ones terminal now."""
        self._load_orders(cids)
        states = self.ledger.get_many(cids)
        missing = [cid for cid in cids if cid not in states]
        if missing:
            raise RuntimeError(f"working orders without an intent in the ledger: {missing[:5]}")
        terminal = {cid: s for cid, s in states.items() if s.status in ORDER_TERMINAL}
        new = [cid for cid, s in states.items() if s.status is OrderStatus.NEW]
        if new:
            halted, reason = self.halt_state()
            refused = [
                cid
                for cid in new
                if halted
                and self._order(cid).purpose is OrderPurpose.ENTRY
                and self._order(cid).leg_index == 0
            ]
            if refused:
                refusal = NotSent(f"trading halted: {reason}")
                terminal.update(self._apply_all([(cid, refusal) for cid in refused]))
            sent = await self._send_all([cid for cid in new if cid not in refused])
            for cid, state in sent.items():
                states[cid] = state
                if state.status in ORDER_TERMINAL:
                    terminal[cid] = state
        pending = [
            cid
            for cid, s in states.items()
            if s.status in (*UNRESOLVED, *OPEN) and cid not in terminal
        ]
        if pending:
            terminal.update(await self._resolve_all(pending))
        return terminal

    async def _send_all(self, cids: list[str]) -> dict[str, OrderState]:
        """Mark ``cids`` sent (one commit), send them together, store the answers (one commit)."""
        if not cids:
            return {}
        for _ in cids:
            self.crash.reached("intent_committed")
        self._apply_all([(cid, Sent()) for cid in cids])
        answers = await asyncio.gather(
            *(
                self.venues[self._order(cid).instrument.exchange].submit(self._order(cid))
                for cid in cids
            ),
            return_exceptions=True,
        )
        reports: list[tuple[str, Report]] = []
        for cid, answer in zip(cids, answers, strict=True):
            if isinstance(answer, OutcomeUnknown):
                log.warning("order_outcome_unknown", cid=cid, detail=str(answer)[:200])
                reports.append((cid, Ambiguous(str(answer)[:300])))
            elif isinstance(answer, VenueRejected):
                reports.append((cid, VenueReport(OrderStatus.REJECTED, detail=str(answer)[:300])))
            elif isinstance(answer, BaseException):
                # anything else after the call may have reached the venue: unknown, not a reject
                reports.append((cid, Ambiguous(f"{type(answer).__name__}: {answer}"[:300])))
            else:
                self.crash.reached("sent_before_ack")
                reports.append((cid, _report(answer)))
        out = self._apply_all(reports)
        for _ in reports:
            self.crash.reached("ack_stored")
        return out

    def _apply_all(self, reports: list[tuple[str, Report]]) -> dict[str, OrderState]:
        applied = self.ledger.apply_many(reports, now_ms=self.clock())
        return {cid: state for cid, (state, _) in applied.items()}

    async def _resolve_all(self, cids: list[str]) -> dict[str, OrderState]:
        """Fetch sent orders by client id together (cancel an IOC left open); the terminal."""
        if os.environ.get(UNSAFE_RESEND_ENV) == "1":  # the twin: the guard removed
            return await self._resend_unsafely(cids)
        answers = await asyncio.gather(
            *(
                self._venue_of(cid).fetch_by_client_id(cid, self._order(cid).instrument)
                for cid in cids
            ),
            return_exceptions=True,
        )
        reports: list[tuple[str, Report]] = []
        states_before = self.ledger.get_many(cids)
        for cid, answer in zip(cids, answers, strict=True):
            if isinstance(answer, VenueOrderNotFound):
                before = states_before[cid]
                if before.status is OrderStatus.SUBMITTED:
                    # marked sent, never answered, not on the venue: the send may not have left
                    reports.append(
                        (cid, Ambiguous("not found after a send that may not have left"))
                    )
                reports.append((cid, NotFound()))
                if self._presumed_lost(cid, before):
                    reports.append((cid, _lost(before)))
            elif isinstance(answer, BaseException):
                log.info("order_fetch_failed", cid=cid, detail=str(answer)[:200])
            else:
                reports.append((cid, _report(answer)))
        states = self._apply_all(reports)
        still_open = [
            cid for cid, s in states.items() if s.status in OPEN and self._cancel_due(cid)
        ]
        if still_open:
            cancels = await asyncio.gather(
                *(
                    self._venue_of(cid).cancel(cid, self._order(cid).instrument)
                    for cid in still_open
                ),
                return_exceptions=True,
            )
            states.update(
                self._apply_all(
                    [
                        (cid, _report(c))
                        for cid, c in zip(still_open, cancels, strict=True)
                        if not isinstance(c, BaseException)
                    ]
                )
            )
        return {cid: s for cid, s in states.items() if s.status in ORDER_TERMINAL}

    def _cancel_due(self, cid: str) -> bool:
        """Whether an open order is canceled now: an IOC/FOK left open at once, a resting child
        once its plan's deadline has passed (never without a known deadline)."""
        if self._order(cid).time_in_force not in RESTING:
            return True
        deadline = self._expiry.get(cid)
        return deadline is not None and self.clock() >= deadline

    def _presumed_lost(self, cid: str, state: OrderState) -> bool:
        """An immediate-or-cancel order the venue has not shown after repeated fetches and
        ``lost_after_ms`` since its intent cannot rest on the book: it is closed as expired
        unfilled (should it appear filled later, reconciliation sees the difference and halts)."""
        order = self._order(cid)
        return (
            order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
            and state.not_found + 1 >= LOST_AFTER_NOT_FOUND
            and self.clock() - order.envelope.event_time_ms >= self.lost_after_ms
        )

    def _venue_of(self, cid: str) -> OrderVenue:
        return self.venues[self._order(cid).instrument.exchange]

    async def _resend_unsafely(self, cids: list[str]) -> dict[str, OrderState]:
        answers = await asyncio.gather(
            *(self._venue_of(cid).submit(self._order(cid)) for cid in cids), return_exceptions=True
        )
        states = self._apply_all(
            [
                (cid, _report(a))
                for cid, a in zip(cids, answers, strict=True)
                if not isinstance(a, BaseException)
            ]
        )
        return {cid: s for cid, s in states.items() if s.status in ORDER_TERMINAL}

    # --------------------------------------------------------------------- reconciliation

    async def reconcile(self) -> Reconciliation:
        """Settle sent orders by client id, compare positions and open orders with each venue;
        a position mismatch beyond a lot halts trading (fail closed) with an incident."""
        result = Reconciliation()
        unsettled = self.ledger.unresolved() + self.ledger.open_orders()
        self._load_orders([s.client_order_id for s in unsettled])
        pending = [
            state.client_order_id
            for state in unsettled
            if self._order(state.client_order_id).instrument.exchange in self.venues
            and self._session_of(state.client_order_id) == self.session
        ]
        if pending:
            result.settled = len(await self._resolve_all(pending))
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

    def stage_publish(self, limit: int = 1000) -> Staged | None:
        """Hand the next unpublished changes (up to ``limit`` of each kind) to the producer
        without waiting for the broker (the service flushes off its event loop, then
        :meth:`mark_published`)."""
        return stage(self.ledger, self.pairs, self.publisher, self.portfolio.on_fill, limit)

    def mark_published(self, staged: Staged) -> int:
        """Mark ``staged`` published: call only once the publisher's flush returned."""
        return mark_published(self.conn, self.pairs, staged)

    async def state_positions(self) -> int:
        """Publish this venue session's net position (``account.position``) in every
        instrument any session of the ledger holds on the connected venues; the statements
        published. Called on start, after reconciliation and before any new order: the risk
        reducer then counts this session's positions, not those of an earlier paper session
        whose venues restarted flat (on a live venue the two are the same)."""
        held = self.ledger.held_positions()
        mine = {
            (p.instrument.exchange, p.instrument.symbol): p
            for p in held
            if p.session == self.session
        }
        stated: dict[tuple[str, str], InstrumentRef] = {}
        for p in held:
            key = (p.instrument.exchange, p.instrument.symbol)
            if p.net_base != 0 and key[0] in self.venues:
                stated.setdefault(key, p.instrument)
        now = self.clock()
        published = 0
        for key, instrument in sorted(stated.items()):
            own = mine.get(key)
            net = own.net_base if own is not None else Decimal(0)
            side = (
                PositionSide.FLAT
                if net == 0
                else PositionSide.LONG
                if net > 0
                else PositionSide.SHORT
            )
            try:
                facts = await self._facts(instrument)
            except VenueError as exc:  # stated at the next start; risk keeps the fills' view
                log.warning("position_not_stated", instrument=key, error=str(exc))
                continue
            event_id = derived_id("position-statement", self.session, *key, str(now))
            self.publisher.publish(
                ACCOUNT_POSITION,
                VenuePosition(
                    envelope=Envelope(event_id=event_id, event_time_ms=now, ingest_time_ms=now),
                    instrument=instrument,
                    side=side,
                    size_base=abs(net),
                    contract_size_base=facts.contract_size_base,
                    mark_price=self.marks.get(key) if net != 0 else None,
                    entry_price=own.last_price if own is not None and net != 0 else None,
                ),
            )
            published += 1
        if published:
            self.publisher.flush()
            log.info("positions_stated", session=self.session, instruments=published)
        return published

    def publish_pnl(self) -> int:
        """Publish the book's PnL and every pair's, valued at the venues' last marks."""
        snapshots = self.portfolio.snapshots(self.marks, self.clock())
        for pnl in snapshots:
            self.publisher.publish(PORTFOLIO_PNL, pnl)
        self.publisher.flush()
        return len(snapshots)
