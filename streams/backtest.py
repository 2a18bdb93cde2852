"""The backtest: recorded market data through the live pipeline's reducers, as fast as it goes.

One pass over the market records (``md.instrument``, ``md.book``, ``md.funding``) in their
apply order, through the same pure code the stream agents and the executor run:

1. **Market state -> opportunities**: :class:`processors.market_state.MarketReducer` (the
   worker's market agent), with the strategy's thresholds and sizes.
2. **Risk**: :class:`processors.risk_state.RiskReducer` decides each OPENED opportunity once and
   releases its exposure on CLOSED (the risk agent).
3. **Paper execution**: an approved decision opens a pair (:func:`processors.pairs.open_pair`,
   lots from the instrument facts in force); each order the pair reducer asks for is filled at
   once against the *recorded* book in force (:func:`processors.paper_fills.fill_order`: depth
   walk, protective limit on entries as the executor sends them, the venue's taker fee), and
   its outcome drives the pair reducer until it waits (HEDGED) or ends. A CLOSED opportunity
   closes its pair's legs the same way.
4. **Portfolio**: every fill and funding settlement goes through
   :func:`processors.portfolio.apply`, per pair; the PnL split is
   :func:`processors.portfolio.snapshot`'s (price + funding - fees - slippage = total).

**Funding** is settled at each venue's own settlement times, read from the recorded
``md.funding`` records: the latest record of a perp names its next settlement time and its
interval; when the data's clock reaches that time (before anything at that time applies) the
holdings of the perp are paid ``-rate * net size * mark``
(:func:`processors.portfolio.expected_funding`) with the rate and mark of that record. Without a
newer record the grid rolls on (``+ interval``) with the last rate.

Time is the data's event time only (no wall clock): the same input and strategy give the same
result, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any

from processors.market_state import MarketReducer
from processors.pairs import CloseRequested
from processors.pairs import LegLot
from processors.pairs import PairRefused
from processors.pairs import apply as apply_pair
from processors.pairs import open_pair
from processors.paper_fills import fill_order
from processors.portfolio import Holding
from processors.portfolio import Key
from processors.portfolio import apply as apply_portfolio
from processors.portfolio import expected_funding
from processors.portfolio import key_of
from processors.portfolio import snapshot
from processors.protective_prices import protective_limit
from processors.records import traded_type
from processors.risk_state import RiskReducer
from schemas.avro_record import AvroRecord
from schemas.errors import InvalidEvent
from schemas.fixed_point import touch
from schemas.fixed_point import value_of
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.common import MarketType
from schemas.records.common import OrderType
from schemas.records.execution import OrderPurpose
from schemas.records.execution import PairStatus
from schemas.records.execution import PairUpdate
from schemas.records.execution import SubmitOrder
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts
from schemas.records.portfolio import PnlSnapshot
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from streams.strategy import Strategy

ZERO = Decimal(0)
YEAR_MS = 365 * 24 * 3_600_000
MAX_ORDERS_PER_STEP = 64
"""Orders one event may drive for a pair (the pair reducer bounds its retries far below)."""


def quote_of(symbol: str) -> str:
    """The quote (settle) currency of a ccxt symbol: ``BTC/USDT:USDT`` -> ``USDT``."""
    return symbol.split(":")[-1].split("/")[-1]


@dataclass(slots=True)
class OpportunityRow:
    """One opportunity of the run and what was done with it (the per-opportunity table)."""

    opportunity_id: str
    kind: str
    asset: str
    long_leg: str
    short_leg: str
    opened_ms: int
    open_net_apr_pct: Decimal
    closed_ms: int | None = None
    close_reason: str | None = None
    decision: str | None = None
    reasons: str = ""
    signal_id: str | None = None
    pair_status: str | None = None
    size_base: Decimal = ZERO
    entry_notional_quote: Decimal = ZERO
    price_pnl_quote: Decimal = ZERO
    funding_quote: Decimal = ZERO
    fees_quote: Decimal = ZERO
    slippage_quote: Decimal = ZERO
    total_pnl_quote: Decimal = ZERO
    settlements: int = 0

    @property
    def traded(self) -> bool:
        return self.size_base > 0


@dataclass(slots=True)
class PairRun:
    pair: PairUpdate
    opportunity_id: str
    holdings: dict[Key, Holding] = field(default_factory=dict)
    slippage: Decimal = ZERO
    settlements: int = 0


@dataclass(frozen=True, slots=True)
class FundingSettlement:
    """One settlement booked on a pair's holding."""

    time_ms: int
    exchange: str
    symbol: str
    rate: Decimal
    mark_price: Decimal
    net_size_base: Decimal
    amount_quote: Decimal
    signal_id: str


@dataclass(slots=True)
class BacktestResult:
    start_ms: int
    end_ms: int
    events: int
    refused: int
    capital_quote: Decimal
    quote_currency: str
    portfolio: PnlSnapshot
    equity: list[tuple[int, Decimal]]
    funding_apr: list[tuple[int, str, str, float]]
    """(time, exchange, symbol, APR %) of every funding record: rate * year / interval."""
    opportunities: list[OpportunityRow]
    settlements: list[FundingSettlement]
    decisions: dict[str, int]


class Backtest:
    """Feed market records in apply order (:meth:`feed`), then :meth:`finish`."""

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.market_settings = strategy.market_settings()
        self.market = MarketReducer(self.market_settings)
        self.risk = RiskReducer(strategy.risk_settings())
        self.capital = strategy.report.capital_quote
        self.kinds = frozenset(strategy.strategy.kinds)
        self.sample_ms = strategy.report.sample_minutes * 60_000
        self.books: dict[Key, BookSnapshot] = {}
        self.funding: dict[Key, FundingRateUpdate] = {}
        self.facts: dict[Key, InstrumentFacts] = {}
        self.settled: dict[Key, int] = {}
        self.pairs: dict[str, PairRun] = {}
        self.active: dict[Key, list[str]] = {}
        """Signals holding (or trading) each instrument, for the settlements."""
        self.by_opportunity: dict[str, str] = {}
        self.rows: dict[str, OpportunityRow] = {}
        self.decisions: dict[str, int] = {}
        self.settlements: list[FundingSettlement] = []
        self.funding_apr: list[tuple[int, str, str, float]] = []
        self.equity: list[tuple[int, Decimal]] = []
        self.quote = "USDT"
        self.clock: int | None = None
        self.start: int | None = None
        self.next_sample: int | None = None
        self.events = 0
        self.refused = 0

    # ------------------------------------------------------------------------------ feeding

    def feed_all(self, records: Iterable[AvroRecord]) -> None:
        for record in records:
            self.feed(record)

    def feed(self, record: AvroRecord) -> None:
        if not isinstance(record, BookSnapshot | FundingRateUpdate | InstrumentFacts):
            return
        t = record.envelope.event_time_ms
        if self.clock is None:
            self.start = t
            self.clock = t
            self.next_sample = t
        elif t > self.clock:
            self.clock = t
        now = self.clock
        self.events += 1
        if not isinstance(record, InstrumentFacts):
            self._settle_until(now)
            self._sample_until(now)
        try:
            applied = self.market.apply(record)
        except InvalidEvent:
            self.refused += 1
            return
        if not applied.applied:
            return
        key = key_of(record.instrument)
        if isinstance(record, BookSnapshot):
            self.books[key] = record
        elif isinstance(record, FundingRateUpdate):
            self.funding[key] = record
            self.quote = quote_of(record.instrument.symbol)
            apr = float(record.funding_rate) * YEAR_MS / record.funding_interval_ms * 100
            self.funding_apr.append((t, key[0], key[1], apr))
        else:
            self.facts[key] = record
        for opportunity in applied.opportunities:
            self._opportunity(opportunity, now)

    # --------------------------------------------------------------------------- opportunities

    def _opportunity(self, opp: Opportunity, now: int) -> None:
        if opp.kind not in self.kinds:
            return
        oid = opp.opportunity_id
        if opp.lifecycle is Lifecycle.OPENED and oid not in self.rows:
            long_leg, short_leg = (opp.legs[0], opp.legs[1]) if len(opp.legs) == 2 else (None, None)
            self.rows[oid] = OpportunityRow(
                opportunity_id=oid,
                kind=opp.kind.value,
                asset=opp.base_asset,
                long_leg="" if long_leg is None else _leg_name(long_leg.instrument),
                short_leg="" if short_leg is None else _leg_name(short_leg.instrument),
                opened_ms=opp.envelope.event_time_ms,
                open_net_apr_pct=opp.net_apr_bps / 100,
            )
        try:
            _, decision = self.risk.apply(opp)
        except InvalidEvent:
            self.refused += 1
            return
        if decision is not None:
            self._decided(decision, now)
        if opp.lifecycle is Lifecycle.CLOSED:
            row = self.rows.get(oid)
            if row is not None:
                row.closed_ms = opp.envelope.event_time_ms
                row.close_reason = None if opp.close_reason is None else opp.close_reason.value
            signal = self.by_opportunity.get(oid)
            if signal is not None:
                reason = row.close_reason if row is not None and row.close_reason else "closed"
                self._close(signal, reason, now)

    def _decided(self, decision: RiskDecision, now: int) -> None:
        outcome = decision.outcome.value
        self.decisions[outcome] = self.decisions.get(outcome, 0) + 1
        row = self.rows.get(decision.opportunity_id)
        if row is not None:
            row.decision = outcome
            row.reasons = ",".join(sorted({r.code.value for r in decision.reasons}))
        if decision.outcome is not RiskOutcome.APPROVED or len(decision.legs) != 2:
            return
        lots = (self._lot(decision.legs[0].instrument), self._lot(decision.legs[1].instrument))
        pair, orders = open_pair(decision, lots)
        run = PairRun(pair, decision.opportunity_id)
        self.pairs[pair.signal_id] = run
        self.by_opportunity[decision.opportunity_id] = pair.signal_id
        if row is not None:
            row.signal_id = pair.signal_id
        for leg in pair.legs:
            self.active.setdefault(key_of(leg.instrument), []).append(pair.signal_id)
        self._drive(run, orders, now)

    def _close(self, signal: str, reason: str, now: int) -> None:
        run = self.pairs[signal]
        if run.pair.status in {PairStatus.CLOSED, PairStatus.UNWOUND, PairStatus.REJECTED}:
            return
        try:
            run.pair, orders = apply_pair(run.pair, CloseRequested(reason, now))
        except PairRefused:
            return
        self._drive(run, orders, now)

    # ------------------------------------------------------------------------------ execution

    def _lot(self, instrument: Any) -> LegLot:
        facts = self.facts.get(key_of(instrument))
        if facts is None:
            return LegLot(ZERO, ZERO)
        size = facts.contract_size_base
        return LegLot((facts.amount_step or ZERO) * size, (facts.min_amount or ZERO) * size)

    def _priced(self, run: PairRun, order: SubmitOrder) -> SubmitOrder:
        """The order as the executor sends it: an entry is a limit IOC within the band."""
        band = self.strategy.strategy.entry_band_bps
        expected = run.pair.legs[order.leg_index].expected_price
        if band is None or order.purpose is not OrderPurpose.ENTRY or not expected:
            return order
        facts = self.facts.get(key_of(order.instrument))
        tick = None if facts is None else facts.price_tick
        limit = protective_limit(order.side, expected, band, tick)
        return order.model_copy(update={"order_type": OrderType.LIMIT, "limit_price": limit})

    def _drive(self, run: PairRun, orders: tuple[SubmitOrder, ...], now: int) -> None:
        queue = list(orders)
        sent = 0
        while queue and sent < MAX_ORDERS_PER_STEP:
            order = self._priced(run, queue.pop(0))
            sent += 1
            key = key_of(order.instrument)
            kind = traded_type(order.instrument) or MarketType.PERP
            fees = self.market_settings.fees(key[0], kind, self.facts.get(key))
            result = fill_order(
                order,
                self.books.get(key),
                fee_rate=fees.taker,
                lot_base=self._lot(order.instrument).lot_base,
                at_ms=now,
                quote_currency=quote_of(order.instrument.symbol),
                extra_slippage_bps=self.strategy.costs.extra_slippage_bps,
            )
            if result.fill is not None:
                run.holdings, _ = apply_portfolio(run.holdings, result.fill)
                run.slippage += result.slippage_quote
            try:
                run.pair, more = apply_pair(run.pair, result.settled)
            except PairRefused:
                continue
            queue.extend(more)

    # -------------------------------------------------------------------------------- funding

    def _settle_until(self, now: int) -> None:
        due: list[tuple[int, Key]] = []
        for key, record in self.funding.items():
            last = self.settled.get(key)
            t = record.next_funding_time_ms
            interval = record.funding_interval_ms
            if last is not None and t <= last:
                t = last + interval - (last - t) % interval
            while t <= now:
                due.append((t, key))
                t += interval
        for t, key in sorted(due):
            self._settle(key, t)

    def _settle(self, key: Key, t: int) -> None:
        record = self.funding[key]
        self.settled[key] = t
        for signal in self.active.get(key, ()):
            run = self.pairs[signal]
            holding = run.holdings.get(key)
            if holding is None or holding.net_size_base == 0:
                continue
            paid = expected_funding(
                holding,
                record.funding_rate,
                record.funding_interval_ms,
                record.mark_price,
                t,
                quote_of(key[1]),
            )
            run.holdings, _ = apply_portfolio(run.holdings, paid)
            run.settlements += 1
            self.settlements.append(
                FundingSettlement(
                    t,
                    key[0],
                    key[1],
                    record.funding_rate,
                    record.mark_price,
                    holding.net_size_base,
                    paid.amount_quote,
                    signal,
                )
            )

    # ------------------------------------------------------------------------------ valuation

    def marks(self) -> dict[Key, Decimal]:
        out: dict[Key, Decimal] = {}
        for key, book in self.books.items():
            top = touch(book)
            if top is None:
                continue
            bid, _, ask, _, ps, _ = top
            out[key] = (value_of(bid, ps) + value_of(ask, ps)) / 2
        return out

    def _pair_snapshot(self, run: PairRun, marks: dict[Key, Decimal], at: int) -> PnlSnapshot:
        return snapshot(
            run.holdings,
            marks,
            scope=run.pair.signal_id,
            at_ms=at,
            quote_currency=self.quote,
            slippage_quote=run.slippage,
        )

    def total(self, at: int) -> PnlSnapshot:
        """The whole book's PnL at ``at``: the sum of every pair's snapshot."""
        marks = self.marks()
        fields = (
            "realized_pnl_quote",
            "unrealized_pnl_quote",
            "funding_pnl_quote",
            "fees_quote",
            "total_pnl_quote",
            "gross_exposure_quote",
            "net_exposure_quote",
            "price_pnl_quote",
            "slippage_quote",
        )
        sums = dict.fromkeys(fields, ZERO)
        for run in self.pairs.values():
            if not run.holdings:
                continue
            snap = self._pair_snapshot(run, marks, at)
            for name in fields:
                sums[name] += getattr(snap, name)
        empty = snapshot({}, {}, scope="portfolio", at_ms=at, quote_currency=self.quote)
        return empty.model_copy(update=sums)

    def _sample_until(self, now: int) -> None:
        if self.next_sample is None:
            return
        while self.next_sample <= now:
            at = self.next_sample
            self.equity.append((at, self.capital + self.total(at).total_pnl_quote))
            self.next_sample = at + self.sample_ms

    # -------------------------------------------------------------------------------- the end

    def finish(self, end_ms: int | None = None) -> BacktestResult:
        """Settle up to ``end_ms`` (exclusive; default: the last event, inclusive), close what
        is held when the strategy says so, and value the book at the last books."""
        if self.clock is None or self.start is None:
            raise ValueError("no market data was fed")
        end = max(self.clock, end_ms or self.clock)
        # ``end_ms`` is exclusive (``--to``): a settlement exactly there is not the window's
        self._settle_until(end - 1 if end_ms is not None and end_ms > self.clock else end)
        self._sample_until(end)
        if self.strategy.strategy.close_at_end:
            for signal, run in list(self.pairs.items()):
                if run.pair.status is PairStatus.HEDGED:
                    self._close(signal, "end of backtest", end)
        portfolio = self.total(end)
        if not self.equity or self.equity[-1][0] != end:
            self.equity.append((end, self.capital + portfolio.total_pnl_quote))
        else:
            self.equity[-1] = (end, self.capital + portfolio.total_pnl_quote)
        marks = self.marks()
        for row in self.rows.values():
            traded = self.pairs.get(row.signal_id) if row.signal_id else None
            if traded is None:
                continue
            snap = self._pair_snapshot(traded, marks, end)
            row.pair_status = traded.pair.status.value
            row.size_base = traded.pair.legs[0].entered_base
            row.entry_notional_quote = sum(
                (leg.entered_notional_quote for leg in traded.pair.legs), ZERO
            )
            row.price_pnl_quote = snap.price_pnl_quote or ZERO
            row.funding_quote = snap.funding_pnl_quote
            row.fees_quote = snap.fees_quote
            row.slippage_quote = snap.slippage_quote or ZERO
            row.total_pnl_quote = snap.total_pnl_quote
            row.settlements = traded.settlements
        return BacktestResult(
            start_ms=self.start,
            end_ms=end,
            events=self.events,
            refused=self.refused,
            capital_quote=self.capital,
            quote_currency=self.quote,
            portfolio=portfolio,
            equity=self.equity,
            funding_apr=self.funding_apr,
            opportunities=sorted(self.rows.values(), key=lambda r: (r.opened_ms, r.opportunity_id)),
            settlements=self.settlements,
            decisions=dict(sorted(self.decisions.items())),
        )


def _leg_name(instrument: Any) -> str:
    return f"{instrument.exchange}:{instrument.symbol}"


def run_backtest(
    records: Iterable[AvroRecord], strategy: Strategy, end_ms: int | None = None
) -> BacktestResult:
    """Run ``records`` (market data in apply order) through the strategy."""
    engine = Backtest(strategy)
    engine.feed_all(records)
    return engine.finish(end_ms)
