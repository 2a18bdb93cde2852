"""``SimExchange``: a fake ccxt exchange (``ccxt.async_support`` API) over the simulated world.

It subclasses ccxt's async ``Exchange`` so markets go through ccxt's own ``set_markets`` and helpers
(``market()``, ``amount_to_precision()``, ``iso8601()``) behave exactly as on a real venue. Every
method returns ccxt's unified structures and raises ccxt's exception classes; nothing touches the
network. ``faults`` (a ``FaultPlan``) injects venue failures; ``emitted`` counts malformed payloads
actually returned to the caller, by ``"channel:kind"``.
"""

# ccxt signatures are kept whole (``params``, ``symbol``) even where the simulator ignores them.
# ruff: noqa: ARG002

from __future__ import annotations

from collections import Counter
from typing import Any
from typing import Protocol

from ccxt.async_support.base.exchange import Exchange
from ccxt.base.decimal_to_precision import TICK_SIZE
from ccxt.base.errors import BadSymbol
from ccxt.base.errors import OrderNotFound
from ccxt.base.errors import RequestTimeout

from connectors.sim import books
from connectors.sim import feeds
from connectors.sim import structures
from connectors.sim.accounts import Account
from connectors.sim.faults import FaultPlan
from connectors.sim.market import BookUpdate
from connectors.sim.market import MarketModel
from connectors.sim.orders import OrderManager
from connectors.sim.orders import SimOrder
from connectors.sim.orders import SimOrderRequest
from connectors.sim.scenario import HOUR_MS
from connectors.sim.scenario import MarketSpec
from connectors.sim.scenario import Scenario

Struct = dict[str, Any]
WATCH_GIVE_UP_MS = 24 * HOUR_MS  # a watch that sees nothing for a sim day raises RequestTimeout

HAS = {
    "spot": True, "margin": False, "swap": True, "future": False, "option": False,
    "fetchMarkets": True, "fetchCurrencies": False, "fetchTime": True,
    "fetchFundingRate": True, "fetchFundingRates": True, "fetchFundingInterval": True,
    "fetchFundingIntervals": True, "fetchFundingRateHistory": True, "fetchFundingHistory": True,
    "fetchOrderBook": True, "watchOrderBook": True, "fetchTrades": True, "watchTrades": True,
    "fetchOHLCV": False, "fetchBalance": True, "fetchPositions": True, "fetchOpenOrders": True,
    "fetchOrder": True, "createOrder": True, "createMarketOrder": True, "createLimitOrder": True,
    "createPostOnlyOrder": True, "createReduceOnlyOrder": True, "cancelOrder": True,
}  # fmt: skip


class VenueWorld(Protocol):
    """What an exchange reads from the world it belongs to (``SimWorld``, which builds them)."""

    scenario: Scenario
    seed: int
    model: MarketModel

    async def advance(self) -> None: ...


class SimExchange(Exchange):  # type: ignore[misc]
    def __init__(self, world: VenueWorld, venue: str, config: dict[str, Any] | None = None) -> None:
        """One venue of ``world``; the world builds its exchanges (``SimWorld.create``) and a
        standalone one (``connectors.sim.world.standalone_exchange``). ``config`` is ccxt's.
        """
        self.world = world
        self.venue_spec = world.scenario.venues[venue]
        # state first: ccxt's constructor reads every public attribute (to add camelCase aliases)
        self.faults = FaultPlan(seed=world.seed * 1_000_003 + sum(venue.encode()))
        self.account = Account(self.venue_spec, world.model.mid)
        self.order_manager = OrderManager(venue, self.account)
        self.emitted: Counter[str] = Counter()
        self.request_counts: Counter[str] = Counter()
        self._seen_book: dict[str, int] = {}
        self._seen_trade: dict[str, int] = {}
        super().__init__(dict(config or {}))

    def describe(self) -> dict[str, Any]:
        v = self.venue_spec
        return self.deep_extend(  # type: ignore[no-any-return]
            super().describe(),
            {
                "id": v.id,
                "name": v.name,
                "countries": [],
                "rateLimit": 50,
                "pro": True,
                "has": HAS,
                "precisionMode": TICK_SIZE,
                "fees": {"trading": {"maker": v.swap_fees[0], "taker": v.swap_fees[1]}},
                "options": {"defaultType": "swap"},
            },
        )

    # ---- plumbing ----------------------------------------------------------------------------

    @property
    def order_log(self) -> list[Struct]:
        """Every order the venue accepted (including those whose response was dropped)."""
        return self.order_manager.order_log

    def milliseconds(self) -> int:
        """The local (unskewed) clock is sim time, so ingest times are deterministic too."""
        return self.world.model.now_ms

    async def sleep(self, milliseconds: float) -> None:
        """Sleep in sim time: the world advances (paced by the clock; instant at max speed)."""
        target = self.world.model.now_ms + int(milliseconds)
        while self.world.model.now_ms < target:
            await self.world.advance()

    def _venue_ms(self, ms: int) -> int:
        return ms + self.faults.clock_skew_ms

    async def _request(self, method: str) -> None:
        await self.load_markets()
        self.request_counts[method] += 1
        self.faults.before_request(self.id, method, self.world.model.now_ms)

    def _spec(self, symbol: str) -> MarketSpec:
        market = self.market(symbol)  # raises BadSymbol like ccxt
        return self.world.scenario.markets[(self.id, market["symbol"])]

    def _swap_spec(self, symbol: str, method: str) -> MarketSpec:
        spec = self._spec(symbol)
        if not spec.swap:
            raise BadSymbol(f"{self.id} {method}() supports contract markets only")
        return spec

    def _swap_specs(self, symbols: list[str] | None, method: str) -> list[MarketSpec]:
        if symbols is None:
            return [m for m in self.world.scenario.venue_markets(self.id) if m.swap]
        return [self._swap_spec(s, method) for s in symbols]

    # ---- markets -----------------------------------------------------------------------------

    async def fetch_markets(self, params: dict[str, Any] | None = None) -> list[Struct]:
        sc = self.world.scenario
        return [
            structures.market(m, self.venue_spec, sc.epoch_ms) for m in sc.venue_markets(self.id)
        ]

    async def fetch_time(self, params: dict[str, Any] | None = None) -> int:
        await self._request("fetch_time")
        return self._venue_ms(self.world.model.now_ms)

    # ---- market data -------------------------------------------------------------------------

    def _book(self, spec: MarketSpec, limit: int | None, st: BookUpdate | None = None) -> Struct:
        if st is None:
            st = self.world.model.book_history[(self.id, spec.symbol)][-1]
        levels = min(limit, self.world.scenario.levels) if limit else self.world.scenario.levels
        return feeds.book(spec, st, levels, self.faults.clock_skew_ms, self.emitted)

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: dict[str, Any] | None = None
    ) -> Struct:
        await self._request("fetch_order_book")
        return self._book(self._spec(symbol), limit)

    async def _wait_stream(self, ready: Any) -> bool:
        """Advance the world until ``ready()`` and no stream stall is active; True if stalled."""
        give_up = self.world.model.now_ms + WATCH_GIVE_UP_MS
        stalled = False
        while self.world.model.now_ms < self.faults.stall_until_ms or not ready():
            stalled = stalled or self.world.model.now_ms < self.faults.stall_until_ms
            if self.world.model.now_ms >= give_up:
                raise RequestTimeout(f"{self.id} stream delivered nothing for a day")
            await self.world.advance()
        return stalled

    async def watch_order_book(
        self, symbol: str, limit: int | None = None, params: dict[str, Any] | None = None
    ) -> Struct:
        """The next book update this caller has not seen, in order (the first call: the latest).

        A caller more than ``BOOK_HISTORY`` updates behind, or coming out of a stall, gets the
        latest update (its nonce jumps: a gap, as on a real stream).
        """
        if self.markets is None:
            await self.load_markets()
        spec = self._spec(symbol)
        history = self.world.model.book_history[(self.id, spec.symbol)]
        last = self._seen_book.get(spec.symbol)
        stalled = await self._wait_stream(lambda: last is None or history[-1].seq > last)
        first = history[0].seq
        if last is None or stalled or last + 1 < first:
            update = history[-1]
        else:
            update = history[last + 1 - first]
        self._seen_book[spec.symbol] = update.seq
        return self._book(spec, limit, update)

    def _trades(self, spec: MarketSpec, after_id: int = 0) -> list[Struct]:
        ticks = self.world.model.trades[(self.id, spec.symbol)]
        return feeds.trades(spec, ticks, after_id, self.faults.clock_skew_ms, self.emitted)

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[Struct]:
        await self._request("fetch_trades")
        return structures.since_limit(self._trades(self._spec(symbol)), since, limit)

    async def watch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[Struct]:
        """Trades newer than the last ones this caller received."""
        if self.markets is None:
            await self.load_markets()
        spec = self._spec(symbol)
        ticks = self.world.model.trades[(self.id, spec.symbol)]
        last = self._seen_trade.get(spec.symbol, 0)
        await self._wait_stream(lambda: bool(ticks) and ticks[-1].id > last)
        self._seen_trade[spec.symbol] = ticks[-1].id
        return structures.since_limit(self._trades(spec, last), since, limit)

    # ---- funding -----------------------------------------------------------------------------

    def _funding(self, spec: MarketSpec, corrupt: bool = True) -> Struct:
        f = self.world.model.funding[(self.id, spec.symbol)]
        interest = self.world.scenario.interest_rate_8h
        emitted = self.emitted if corrupt else None
        return feeds.funding(spec, f, interest, self.faults.clock_skew_ms, emitted)

    async def fetch_funding_rate(self, symbol: str, params: dict[str, Any] | None = None) -> Struct:
        await self._request("fetch_funding_rate")
        return self._funding(self._swap_spec(symbol, "fetchFundingRate"))

    async def fetch_funding_rates(
        self, symbols: list[str] | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Struct]:
        await self._request("fetch_funding_rates")
        specs = self._swap_specs(symbols, "fetchFundingRates")
        out: dict[str, Struct] = {}
        for spec in specs:
            fr = self._funding(spec)
            out[str(fr["symbol"])] = fr
        return out

    async def fetch_funding_interval(
        self, symbol: str, params: dict[str, Any] | None = None
    ) -> Struct:
        await self._request("fetch_funding_interval")
        return self._funding(self._swap_spec(symbol, "fetchFundingInterval"), corrupt=False)

    async def fetch_funding_intervals(
        self, symbols: list[str] | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Struct]:
        await self._request("fetch_funding_intervals")
        specs = self._swap_specs(symbols, "fetchFundingIntervals")
        return {spec.symbol: self._funding(spec, corrupt=False) for spec in specs}

    async def fetch_funding_rate_history(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[Struct]:
        await self._request("fetch_funding_rate_history")
        specs = self._swap_specs(None if symbol is None else [symbol], "fetchFundingRateHistory")
        items = [
            structures.funding_rate_history(
                spec.symbol,
                self._venue_ms(ts),
                rate,
                {"symbol": spec.id, "fundingRate": str(rate), "fundingTime": str(ts)},
            )
            for spec in specs
            for ts, rate in self.world.model.funding[(self.id, spec.symbol)].history
        ]
        items.sort(key=lambda i: (i["timestamp"], i["symbol"]))
        return structures.since_limit(items, since, limit)

    # ---- account -----------------------------------------------------------------------------

    async def fetch_funding_history(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[Struct]:
        await self._request("fetch_funding_history")
        sym = self._spec(symbol).symbol if symbol is not None else None
        skew = self.faults.clock_skew_ms
        items = [
            {**p, "timestamp": p["timestamp"] + skew,
             "datetime": structures.iso8601(p["timestamp"] + skew)}
            for p in self.account.funding_payments
            if sym is None or p["symbol"] == sym
        ]  # fmt: skip
        return structures.since_limit(items, since, limit)

    async def fetch_balance(self, params: dict[str, Any] | None = None) -> Struct:
        await self._request("fetch_balance")
        return self.account.balance_struct(self._venue_ms(self.world.model.now_ms))

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: dict[str, Any] | None = None
    ) -> list[Struct]:
        await self._request("fetch_positions")
        wanted = {self._spec(s).symbol for s in symbols} if symbols else None
        ts = self._venue_ms(self.world.model.now_ms)
        return [
            self.account.position_struct(pos, ts)
            for sym, pos in sorted(self.account.positions.items())
            if wanted is None or sym in wanted
        ]

    # ---- orders ------------------------------------------------------------------------------

    def _find_order(self, id: str | None, params: dict[str, Any] | None) -> SimOrder:
        params = params or {}
        cid = params.get("clientOrderId") or params.get("origClientOrderId")
        found = self.order_manager.find(id, cid, self.world.model.now_ms)
        if found is None:
            raise OrderNotFound(f"{self.id} order {id or cid} does not exist")
        return found

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> Struct:
        await self._request("create_order")
        spec = self._spec(symbol)
        self.faults.before_order(self.id)
        st = self.world.model.books[(self.id, spec.symbol)]
        bids, asks = books.build_levels(spec, st.mid, st.noise_seed, self.world.scenario.levels)
        now = self.world.model.now_ms
        req = SimOrderRequest(spec, type, side, amount, price, dict(params or {}))
        order = self.order_manager.create(req, bids, asks, st.mid, now + self.venue_spec.latency_ms)
        hide_ms = self.faults.hide_for_ms()
        if hide_ms:
            order.visible_from_ms = now + hide_ms
        if self.faults.drop_response():
            raise RequestTimeout(f"{self.id} POST order timed out (the venue accepted it)")
        return self.order_manager.to_struct(order, self.faults.clock_skew_ms)

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> Struct:
        await self._request("cancel_order")
        order = self._find_order(id, params)
        self.order_manager.cancel(order, self.world.model.now_ms + self.venue_spec.latency_ms)
        return self.order_manager.to_struct(order, self.faults.clock_skew_ms)

    async def fetch_order(
        self, id: str | None, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> Struct:
        await self._request("fetch_order")
        return self.order_manager.to_struct(self._find_order(id, params), self.faults.clock_skew_ms)

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[Struct]:
        await self._request("fetch_open_orders")
        sym = self._spec(symbol).symbol if symbol is not None else None
        om = self.order_manager
        items = [
            om.to_struct(om.orders[oid], self.faults.clock_skew_ms)
            for oid in om.open_ids
            if om.orders[oid].visible_from_ms <= self.world.model.now_ms
            and (sym is None or om.orders[oid].spec.symbol == sym)
        ]
        return structures.since_limit(items, since, limit)

    async def close(self, clean_instance_data: bool = False) -> None:
        """Nothing to release; never sleeps (ccxt's close waits ``timeout_on_exit``)."""
        self.closed_by_user = True

    # ---- driven by the world -----------------------------------------------------------------

    def on_book_update(self, symbol: str) -> None:
        om = self.order_manager
        if not om.open_ids or not any(om.orders[oid].spec.symbol == symbol for oid in om.open_ids):
            return
        spec = self.world.scenario.markets[(self.id, symbol)]
        st = self.world.model.books[(self.id, symbol)]
        bids, asks = books.build_levels(spec, st.mid, st.noise_seed, self.world.scenario.levels)
        om.on_book(spec, bids, asks, st.ts)

    def on_funding_settlement(self, symbol: str) -> None:
        spec = self.world.scenario.markets[(self.id, symbol)]
        ts, rate = self.world.model.funding[(self.id, symbol)].history[-1]
        self.account.settle_funding(spec, self.world.model.mid(spec), rate, ts)
