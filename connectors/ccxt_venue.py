"""The one ccxt-backed :class:`connectors.venue.Venue`, shared by every exchange.

Wraps a ``ccxt.async_support`` / ``ccxt.pro`` exchange or the ``SimExchange`` (same API).
Streams use ``watch_*`` where ``exchange.has`` says so, else REST polling (each call paced by
ccxt's own rate limiter, ``enableRateLimit``). Transient failures reconnect with bounded,
jittered exponential backoff; time and sleeping go through the exchange (``milliseconds()``,
``sleep()``), so the simulated venue's clock drives everything.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from typing import TypeVar

import structlog

from connectors import normalize
from connectors.config import ConnectorSettings
from connectors.config import VenueSettings
from connectors.errors import venue_call
from connectors.instruments import to_instrument
from connectors.sequencing import BookSequencer
from connectors.venue import BookItem
from connectors.venue import FundingInterval
from connectors.venue import FundingItem
from connectors.venue import Instrument
from connectors.venue import InvalidPayload
from connectors.venue import OrderAck
from connectors.venue import OrderRequest
from connectors.venue import Rejected
from connectors.venue import TradeItem
from connectors.venues import VenueProfile
from connectors.venues import profile_for
from processors.funding import derive_interval_ms
from processors.units import BorrowRate
from schemas.errors import InvalidEvent
from schemas.errors import VenueError
from schemas.errors import VenueTransient
from schemas.records.account import BalanceUpdate
from schemas.records.account import VenuePosition
from schemas.records.common import OrderType
from schemas.records.dlq import DeadLetterReason
from schemas.records.execution import OrderEvent
from schemas.records.execution import OrderStatus
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingFactSource
from schemas.records.md import FundingRateUpdate
from schemas.records.portfolio import FundingPaid
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING

log = structlog.get_logger("connectors.ccxt_venue")
T = TypeVar("T")
_WATCH_METHODS = {"watchOrderBook": "watch_order_book", "watchTrades": "watch_trades"}
HISTORY_LIMIT = 10


class CcxtVenue:
    """A venue over one ccxt-compatible exchange object."""

    def __init__(
        self,
        exchange: Any,
        *,
        venue_id: str | None = None,
        settings: ConnectorSettings | None = None,
        profile: VenueProfile | None = None,
        use_watch: bool | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.exchange = exchange
        self._id = venue_id or str(exchange.id)
        self.settings = settings or ConnectorSettings()
        self.venue_settings: VenueSettings = self.settings.venue(self._id)
        self.profile = profile or profile_for(self._id)
        self._use_watch = use_watch
        self._clock = clock or (lambda: int(exchange.milliseconds()))
        self._instruments: dict[str, Instrument] = {}
        self._intervals: dict[str, _Learnt] = {}
        self._rng = random.Random(self._id)  # jitter: deterministic per venue

    # ------------------------------------------------------------------ connect / disconnect

    @property
    def id(self) -> str:
        return self._id

    def now_ms(self) -> int:
        """Ingest time: the exchange clock (wall clock for ccxt, virtual for the sim)."""
        return self._clock()

    async def load_instruments(self, reload: bool = False) -> list[Instrument]:
        markets = await self._retry(lambda: self.exchange.load_markets(reload))
        fees = self.venue_settings.fees
        mode = int(getattr(self.exchange, "precisionMode", 4))
        self._instruments = {
            symbol: to_instrument(self._id, market, mode, fees)
            for symbol, market in sorted(markets.items())
        }
        return list(self._instruments.values())

    async def close(self) -> None:
        await self.exchange.close()

    def instrument(self, symbol: str) -> Instrument:
        try:
            return self._instruments[symbol]
        except KeyError:
            raise InvalidPayload(
                DeadLetterReason.UNKNOWN_SYMBOL,
                f"{self._id} has no market {symbol!r}",
                symbol.encode(),
                exchange=self._id,
                symbol=symbol,
                topic=MD_BOOK,
            ) from None

    # ------------------------------------------------------------------------------ streams

    async def stream_order_book(self, symbol: str, depth: int) -> AsyncIterator[BookItem]:
        """Books of ``symbol``: validated snapshots, or refusals to dead-letter.

        Sequence first (out-of-order, duplicate, gap), content second. A gap on a contiguous
        stream is refused and followed by a fresh REST snapshot (resync).
        """
        ins = self.instrument(symbol)
        limit = self.profile.book_limit(depth)
        watching = self._watch_method("watchOrderBook") is not None
        seq = BookSequencer(contiguous=self.profile.contiguous_book_nonce and watching)
        pause_ms = int(self.settings.book_poll_interval_s * 1000)
        first = True
        while True:
            if watching:
                ob = await self._retry(
                    lambda: self.exchange.watch_order_book(symbol, limit),
                    on_retry=lambda: seq.reset(None, 0),  # a reconnect starts a new run
                )
            else:
                if not first:
                    await self._sleep(pause_ms)
                ob = await self._retry(lambda: self.exchange.fetch_order_book(symbol, limit))
            first = False
            item = self._book_item(ob, ins, depth, seq)
            if item is None:
                continue
            yield item
            if isinstance(item, Rejected) and item.reason is DeadLetterReason.SEQUENCE_GAP:
                fresh = await self._retry(lambda: self.exchange.fetch_order_book(symbol, limit))
                resync = self._book_item(fresh, ins, depth, seq, resync=True)
                if resync is not None:
                    yield resync

    def _book_item(
        self,
        ob: Any,
        ins: Instrument,
        depth: int,
        seq: BookSequencer,
        *,
        resync: bool = False,
    ) -> BookItem | None:
        ingest = self.now_ms()
        nonce = _nonce(ob)

        def digest() -> int:
            return hash((nonce, _levels_key(ob, "bids", depth), _levels_key(ob, "asks", depth)))

        if resync:
            seq.reset(nonce, digest)
        else:
            verdict = seq.check(nonce, digest)
            if verdict == "unchanged":
                return None
            if isinstance(verdict, DeadLetterReason):
                detail = f"book nonce {nonce} after {seq.last}" if seq.last else f"nonce {nonce}"
                raw = normalize.raw_json(ob)  # built for dead letters only
                return Rejected(verdict, detail, raw, self._id, ins.symbol, MD_BOOK)
        try:
            return normalize.to_book_snapshot(ob, ins, depth, ingest, self.settings.bounds)
        except InvalidPayload as e:
            return e.rejected()

    async def stream_trades(self, symbol: str) -> AsyncIterator[TradeItem]:
        """Public trades of ``symbol``; polling overlap is de-duplicated silently by id."""
        ins = self.instrument(symbol)
        watching = self._watch_method("watchTrades") is not None
        pause_ms = int(self.settings.trade_poll_interval_s * 1000)
        seen: dict[str, None] = {}
        since: int | None = None
        first = True
        while True:
            if watching:
                batch = await self._retry(lambda: self.exchange.watch_trades(symbol))
            else:
                if not first:
                    await self._sleep(pause_ms)
                batch = await self._retry(
                    lambda since=since: self.exchange.fetch_trades(symbol, since)  # type: ignore[misc]
                )
            first = False
            for trade in batch or []:
                key = _trade_key(trade)
                if key is not None and key in seen:
                    continue
                if key is not None:
                    seen[key] = None
                    if len(seen) > 5000:
                        del seen[next(iter(seen))]
                stamp = trade.get("timestamp") if isinstance(trade, Mapping) else None
                if isinstance(stamp, int) and (since is None or stamp > since):
                    since = stamp
                yield self._trade_item(trade, ins)

    def _trade_item(self, trade: Any, ins: Instrument) -> TradeItem:
        try:
            return normalize.to_trade(trade, ins, self.now_ms(), self.settings.bounds)
        except InvalidPayload as e:
            return e.rejected()

    async def stream_funding_rates(self, symbols: Sequence[str]) -> AsyncIterator[FundingItem]:
        """Funding of ``symbols`` polled every ``funding_poll_interval_s`` (funding changes
        slowly; one batched REST call covers every symbol)."""
        pause_ms = int(self.settings.funding_poll_interval_s * 1000)
        first = True
        while True:
            if not first:
                await self._sleep(pause_ms)
            first = False
            items = await self._retry(lambda: self.fetch_funding_rates(symbols))
            for item in items:
                yield item

    # ----------------------------------------------------------------------------- requests

    async def fetch_order_book(self, symbol: str, depth: int) -> BookSnapshot:
        ins = self.instrument(symbol)
        limit = self.profile.book_limit(depth)
        ob = await venue_call(self.exchange.fetch_order_book(symbol, limit))
        return normalize.to_book_snapshot(ob, ins, depth, self.now_ms(), self.settings.bounds)

    async def fetch_trades(self, symbol: str, since_ms: int | None = None) -> list[TradeItem]:
        ins = self.instrument(symbol)
        batch = await venue_call(self.exchange.fetch_trades(symbol, since_ms))
        return [self._trade_item(t, ins) for t in batch or []]

    async def fetch_funding_rate(self, symbol: str) -> FundingRateUpdate:
        ins = self.instrument(symbol)
        if self.exchange.has.get("fetchFundingRate"):
            fr = await venue_call(self.exchange.fetch_funding_rate(symbol))
        else:
            rates = await venue_call(self.exchange.fetch_funding_rates([symbol]))
            fr = rates.get(symbol)
        item = await self._funding_item(fr, ins, self.now_ms())
        if isinstance(item, Rejected):
            raise InvalidPayload(
                item.reason,
                item.detail,
                item.raw,
                exchange=self._id,
                symbol=symbol,
                topic=MD_FUNDING,
            )
        return item

    async def fetch_funding_rates(self, symbols: Sequence[str]) -> list[FundingItem]:
        """Current funding of every requested perp; unknown or bad entries are refusals."""
        wanted = list(symbols)
        poll_ms = self.now_ms()
        if self.exchange.has.get("fetchFundingRates"):
            rates = await venue_call(self.exchange.fetch_funding_rates(wanted))
            entries = list(rates.values()) if isinstance(rates, Mapping) else list(rates)
        else:
            entries = [await venue_call(self.exchange.fetch_funding_rate(s)) for s in wanted]
        items: list[FundingItem] = []
        for fr in entries:
            symbol = fr.get("symbol") if isinstance(fr, Mapping) else None
            ins = self._instruments.get(symbol) if isinstance(symbol, str) else None
            if ins is None:
                items.append(
                    Rejected(
                        DeadLetterReason.UNKNOWN_SYMBOL,
                        f"{self._id} funding for unknown symbol {symbol!r}",
                        normalize.raw_json(fr),
                        self._id,
                        symbol if isinstance(symbol, str) else None,
                        MD_FUNDING,
                    )
                )
                continue
            if symbol not in wanted:
                continue
            items.append(await self._funding_item(fr, ins, poll_ms))
        return items

    async def _funding_item(self, fr: Any, ins: Instrument, poll_ms: int) -> FundingItem:
        source = fr  # what a refusal carries: the venue's structure, before any enrichment
        ingest = self.now_ms()
        try:
            if isinstance(fr, Mapping):
                reported = normalize.funding_interval_of(fr)
                if reported is not None:
                    self._intervals[ins.symbol] = _Learnt(
                        reported, FundingFactSource.FUNDING_ENDPOINT, ingest
                    )
                if self.profile.enrich_funding is not None:
                    fr = await venue_call(self.profile.enrich_funding(self.exchange, dict(fr)))
            known = await self._interval(ins.symbol, poll_ms)
            return normalize.to_funding_rate_update(
                fr,
                ins,
                ingest,
                self.settings.bounds,
                interval_ms=None if known is None else known.interval_ms,
                interval_source=FundingFactSource.UNKNOWN if known is None else known.source,
                source=source,
                utc_settlement_calendar=self.profile.utc_settlement_calendar,
            )
        except InvalidPayload as e:
            return e.rejected()

    async def fetch_borrow_rate(self, currency: str) -> BorrowRate | None:
        """Interest to borrow ``currency`` on cross margin (ccxt ``fetchCrossBorrowRate``, a
        private call); None when the venue has no such API, no account keys are configured, or
        the venue refuses (logged): a short spot leg is then not traded."""
        if not self.exchange.has.get("fetchCrossBorrowRate") or not self.exchange.apiKey:
            return None
        try:
            raw = await self._retry(lambda: self.exchange.fetch_cross_borrow_rate(currency))
        except VenueError as e:
            log.warning("borrow_rate_unavailable", exchange=self._id, currency=currency, error=e)
            return None
        return normalize.borrow_rate_of(raw)

    async def fetch_funding_interval(self, symbol: str) -> FundingInterval:
        ins = self.instrument(symbol)
        if symbol not in self._intervals and self.profile.funding_interval == "reported":
            with contextlib.suppress(InvalidPayload):  # refused: no interval learnt
                await self.fetch_funding_rate(symbol)  # the structure carries the interval
        if symbol not in self._intervals or not self._fresh(self._intervals[symbol]):
            await self._interval(symbol, self.now_ms())
        learnt = self._intervals.get(symbol)
        if learnt is None or not self._fresh(learnt):
            raise InvalidPayload(
                DeadLetterReason.MISSING_FUNDING_INTERVAL,
                f"{self._id} reports no funding interval for {symbol} and none is derivable",
                symbol.encode(),
                exchange=self._id,
                symbol=symbol,
                topic=MD_FUNDING,
            )
        return FundingInterval(ins.ref, learnt.interval_ms, learnt.source)

    def _fresh(self, learnt: _Learnt) -> bool:
        max_age_ms = self.settings.funding_interval_max_age_s * 1000
        return self.now_ms() - learnt.learnt_ms < max_age_ms

    async def _interval(self, symbol: str, poll_ms: int) -> _Known | None:
        """The interval for a structure that carries none: learnt in this poll (its source),
        learnt earlier and younger than ``funding_interval_max_age_s`` (``CACHED``), else
        asked of the venue (per profile) or derived from settlement history.

        A ``reported`` venue sends the interval with every funding structure, so a poll
        without it reuses only a fresh cached report; there is nothing else to ask.
        """
        learnt = self._intervals.get(symbol)
        if learnt is not None and self._fresh(learnt):
            cached = learnt.learnt_ms < poll_ms
            return _Known(learnt.interval_ms, FundingFactSource.CACHED if cached else learnt.source)
        if self.profile.funding_interval == "reported":
            return None
        now = self.now_ms()
        found = await self._venue_interval(symbol)
        source = FundingFactSource.OTHER_ENDPOINT
        if found is None:
            found, source = (
                await self._derived_interval(symbol),
                FundingFactSource.SETTLEMENT_HISTORY,
            )
        if found is None:
            return None
        self._intervals[symbol] = _Learnt(found, source, now)
        return _Known(found, source)

    async def _venue_interval(self, symbol: str) -> int | None:
        how = self.profile.funding_interval
        has = self.exchange.has
        if how == "fetch_intervals" and has.get("fetchFundingIntervals"):
            perps = [s for s, i in self._instruments.items() if i.is_perp]
            rows = await venue_call(self.exchange.fetch_funding_intervals(perps))
            now = self.now_ms()
            for row in rows.values() if isinstance(rows, Mapping) else rows:
                ms = normalize.funding_interval_of(row)
                if ms is not None and row.get("symbol") in self._instruments:
                    learnt = _Learnt(ms, FundingFactSource.OTHER_ENDPOINT, now)
                    self._intervals[str(row["symbol"])] = learnt
            hit = self._intervals.get(symbol)
            return hit.interval_ms if hit is not None and hit.learnt_ms == now else None
        if how == "fetch_interval" and has.get("fetchFundingInterval"):
            row = await venue_call(self.exchange.fetch_funding_interval(symbol))
            return normalize.funding_interval_of(row) if isinstance(row, Mapping) else None
        return None

    async def _derived_interval(self, symbol: str) -> int | None:
        if not self.exchange.has.get("fetchFundingRateHistory"):
            return None
        history = await venue_call(
            self.exchange.fetch_funding_rate_history(symbol, None, HISTORY_LIMIT)
        )
        stamps = sorted(
            {h["timestamp"] for h in history or [] if isinstance(h.get("timestamp"), int)}
        )
        try:
            return derive_interval_ms(stamps)
        except InvalidEvent:
            return None

    async def fetch_funding_payments(
        self, symbol: str | None = None, since_ms: int | None = None
    ) -> list[FundingPaid]:
        """The account's funding settlements as ``portfolio.funding`` records. An entry that
        states no rate or mark takes them from the venue's funding-rate history at the same
        time (its ``info.markPrice`` where the venue gives one); one without an interval takes
        the instrument's known interval. An entry nothing completes is logged and skipped."""
        rows = await venue_call(self.exchange.fetch_funding_history(symbol, since_ms))
        out: list[FundingPaid] = []
        history: dict[str, dict[int, tuple[Decimal | None, Decimal | None]]] = {}
        for row in rows or []:
            sym = str(row.get("symbol"))
            ins = self.instrument(sym)
            rate = mark = None
            interval = self._intervals[sym].interval_ms if sym in self._intervals else None
            if row.get("rate") is None or (
                row.get("markPrice") is None and (row.get("info") or {}).get("markPrice") is None
            ):
                if sym not in history:
                    history[sym] = await self._settlement_rates(sym)
                rate, mark = history[sym].get(int(row.get("timestamp") or 0), (None, None))
            try:
                out.append(
                    normalize.to_funding_paid(
                        row, ins, interval_ms=interval, rate=rate, mark_price=mark
                    )
                )
            except InvalidPayload as exc:
                log.warning("funding_entry_refused", venue=self._id, symbol=sym, detail=str(exc))
        return out

    async def _settlement_rates(
        self, symbol: str
    ) -> dict[int, tuple[Decimal | None, Decimal | None]]:
        """(rate, mark) per settlement time from the venue's funding-rate history."""
        if not self.exchange.has.get("fetchFundingRateHistory"):
            return {}
        rows = await venue_call(self.exchange.fetch_funding_rate_history(symbol))
        out: dict[int, tuple[Decimal | None, Decimal | None]] = {}
        for h in rows or []:
            if isinstance(h.get("timestamp"), int):
                info = h.get("info") or {}
                rate, mark = h.get("fundingRate"), info.get("markPrice")
                out[h["timestamp"]] = (
                    None if rate is None else Decimal(str(rate)),
                    None if mark in (None, "") else Decimal(str(mark)),
                )
        return out

    async def fetch_balance(self) -> list[BalanceUpdate]:
        balance = await venue_call(self.exchange.fetch_balance())
        return normalize.to_balance_updates(balance, self._id, self.profile.account, self.now_ms())

    async def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[VenuePosition]:
        rows = await venue_call(
            self.exchange.fetch_positions(None if symbols is None else list(symbols))
        )
        now = self.now_ms()
        return [
            normalize.to_venue_position(p, self.instrument(str(p.get("symbol"))), now)
            for p in rows or []
        ]

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderEvent]:
        rows = await venue_call(self.exchange.fetch_open_orders(symbol))
        now = self.now_ms()
        return [
            normalize.to_order_event(
                normalize.to_order_ack(o, self.instrument(str(o.get("symbol"))), now), now
            )
            for o in rows or []
        ]

    # ---------------------------------------------------------------------------------- act

    async def create_order(self, request: OrderRequest) -> OrderAck:
        """Submit; ``OutcomeUnknown`` when the send may have taken effect (reconcile by id)."""
        ins = self.instrument(request.symbol)
        if request.order_type is OrderType.LIMIT and request.price is None:
            raise ValueError("a limit order needs a price")
        amount = request.amount_base / ins.contract_size_base
        order = await venue_call(
            self.exchange.create_order(
                request.symbol,
                request.order_type.value.lower(),
                request.side.value.lower(),
                float(amount),  # ccxt's API takes numbers; no arithmetic happens on it here
                None if request.price is None else float(request.price),
                self.profile.order_params(request),
            ),
            submits_order=True,
        )
        return self._ack(order, ins, request.client_order_id, OrderStatus.SUBMITTED)

    async def cancel_order(self, client_order_id: str, symbol: str) -> OrderAck:
        ins = self.instrument(symbol)
        params = self.profile.client_id_params(client_order_id)
        order = await venue_call(self.exchange.cancel_order(None, symbol, params))
        return self._ack(order, ins, client_order_id, OrderStatus.CANCELED)

    async def fetch_order_by_client_id(self, client_order_id: str, symbol: str) -> OrderAck:
        ins = self.instrument(symbol)
        params = self.profile.client_id_params(client_order_id)
        order = await venue_call(self.exchange.fetch_order(None, symbol, params))
        return self._ack(order, ins, client_order_id, OrderStatus.UNKNOWN)

    def _ack(self, order: Any, ins: Instrument, cid: str, default: OrderStatus) -> OrderAck:
        """The venue's answer; a missing client id is filled from what we sent."""
        if isinstance(order, Mapping) and not order.get("clientOrderId"):
            order = {**order, "clientOrderId": cid}
        return normalize.to_order_ack(order, ins, self.now_ms(), default_status=default)

    # ------------------------------------------------------------------------------ helpers

    def _watch_method(self, capability: str) -> Any:
        if self._use_watch is False or not self.exchange.has.get(capability):
            return None
        return getattr(self.exchange, _WATCH_METHODS[capability], None)

    async def _sleep(self, ms: int) -> None:
        await self.exchange.sleep(ms)

    async def _retry(
        self, call: Callable[[], Awaitable[T]], on_retry: Callable[[], None] | None = None
    ) -> T:
        """Run ``call``; on ``VenueTransient`` back off (bounded, jittered) and try again."""
        failures = 0
        while True:
            try:
                return await venue_call(call())
            except VenueTransient as e:
                failures += 1
                if failures >= self.settings.max_consecutive_failures:
                    raise
                delay = min(
                    self.settings.backoff_max_s,
                    self.settings.backoff_initial_s * 2 ** (failures - 1),
                )
                delay_ms = int(delay * 1000 * (0.5 + self._rng.random() / 2))
                log.warning(
                    "venue_retry",
                    exchange=self._id,
                    failures=failures,
                    delay_ms=delay_ms,
                    error=str(e),
                )
                await self._sleep(delay_ms)
                if on_retry is not None:
                    on_retry()


@dataclass(frozen=True, slots=True)
class _Learnt:
    """A funding interval as learnt from the venue, and when (venue clock)."""

    interval_ms: int
    source: FundingFactSource
    learnt_ms: int


@dataclass(frozen=True, slots=True)
class _Known:
    """The interval a funding update carries, and its provenance for that record."""

    interval_ms: int
    source: FundingFactSource


def _nonce(ob: Any) -> int | None:
    if not isinstance(ob, Mapping):
        return None
    value = ob.get("nonce")
    if type(value) is int:
        return value
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return int(number) if number.is_finite() and number == number.to_integral_value() else None


def _levels_key(ob: Any, side: str, depth: int) -> tuple[tuple[str, ...], ...]:
    levels = ob.get(side) if isinstance(ob, Mapping) else None
    if not isinstance(levels, list):
        return ()
    return tuple(
        tuple(str(x) for x in lv) if isinstance(lv, list) else (str(lv),) for lv in levels[:depth]
    )


def _trade_key(trade: Any) -> str | None:
    if not isinstance(trade, Mapping) or trade.get("id") is None:
        return None
    return f"{trade.get('timestamp')}|{trade['id']}"
