"""A scripted ccxt-like exchange: returns given unified structures in order, then waits.

Used to drive :class:`connectors.ccxt_venue.CcxtVenue` and the feed through exact sequences of
good and bad payloads (the shapes ccxt's parsers produce, including ``info``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from connectors.venues import VenueProfile

NOW_MS = 1_717_000_001_000
PROFILE = VenueProfile(ccxt_id="scripted", funding_interval="reported", contiguous_book_nonce=True)


def market(symbol: str, *, contract_size: float = 1.0) -> dict[str, Any]:
    base, rest = symbol.split("/")
    quote, _, settle = rest.partition(":")
    swap = bool(settle)
    return {
        "id": symbol.replace("/", "").replace(":", "_"),
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "settle": settle or None,
        "spot": not swap,
        "swap": swap,
        "future": False,
        "option": False,
        "contract": swap,
        "linear": swap or None,
        "inverse": False if swap else None,
        "contractSize": contract_size if swap else None,
        "precision": {"price": 0.1, "amount": 0.001},
        "limits": {"amount": {"min": 0.001, "max": None}},
        "maker": 0.0002,
        "taker": 0.0005,
        "active": True,
        "info": {"symbol": symbol},
    }


def book(
    symbol: str, nonce: int | None, bid: Any = 100.0, ask: Any = 100.5, **over: Any
) -> dict[str, Any]:
    ob: dict[str, Any] = {
        "symbol": symbol,
        "bids": [[bid, 1.5], [99.5, 2.0]],
        "asks": [[ask, 1.0], [101.0, 3.0]],
        "timestamp": NOW_MS - 100,
        "datetime": None,
        "nonce": nonce,
    }
    ob.update(over)
    return ob


def funding(
    symbol: str, rate: Any = 0.0001, interval: str | None = "8h", **over: Any
) -> dict[str, Any]:
    fr: dict[str, Any] = {
        "info": {"symbol": symbol.split("/")[0] + "USDT", "fundingRate": str(rate)},
        "symbol": symbol,
        "markPrice": 100.2,
        "indexPrice": 100.1,
        "interestRate": 0.0001,
        "estimatedSettlePrice": None,
        "timestamp": NOW_MS - 50,
        "datetime": None,
        "fundingRate": rate,
        "fundingTimestamp": NOW_MS + 3_600_000,
        "fundingDatetime": None,
        "nextFundingRate": None,
        "nextFundingTimestamp": None,
        "interval": interval,
    }
    fr.update(over)
    return fr


def trade(
    symbol: str, trade_id: str, price: Any = 100.2, amount: Any = 0.5, **over: Any
) -> dict[str, Any]:
    t: dict[str, Any] = {
        "info": {"id": trade_id},
        "id": trade_id,
        "symbol": symbol,
        "timestamp": NOW_MS - 10,
        "datetime": None,
        "side": "buy",
        "price": price,
        "amount": amount,
        "cost": None,
    }
    t.update(over)
    return t


class ScriptedExchange:
    """``watch_order_book`` plays ``books`` (then ``snapshots`` for REST resyncs),
    ``fetch_funding_rates`` plays ``funding_polls``, ``fetch_trades`` plays ``trade_batches``."""

    precisionMode = 4  # noqa: N815 - ccxt attribute name

    def __init__(
        self,
        exchange_id: str,
        symbols: Sequence[str],
        *,
        books: dict[str, list[dict[str, Any]]] | None = None,
        snapshots: dict[str, list[dict[str, Any]]] | None = None,
        funding_polls: list[list[dict[str, Any]]] | None = None,
        trade_batches: dict[str, list[list[dict[str, Any]]]] | None = None,
        now_ms: int = NOW_MS,
    ) -> None:
        self.id = exchange_id
        self.markets = {s: market(s) for s in symbols}
        self.books = {k: list(v) for k, v in (books or {}).items()}
        self.snapshots = {k: list(v) for k, v in (snapshots or {}).items()}
        self.funding_polls = list(funding_polls or [])
        self.trade_batches = {k: list(v) for k, v in (trade_batches or {}).items()}
        self.now = now_ms
        self.has = {
            "watchOrderBook": True,
            "fetchOrderBook": True,
            "fetchFundingRates": True,
            "fetchTrades": True,
            "watchTrades": False,
        }
        self.closed = False

    def milliseconds(self) -> int:
        return self.now

    async def sleep(self, milliseconds: float) -> None:
        await asyncio.sleep(0)

    async def load_markets(self, reload: bool = False) -> dict[str, Any]:
        return self.markets

    @staticmethod
    async def _exhausted() -> Any:
        await asyncio.Event().wait()

    async def watch_order_book(self, symbol: str, limit: int | None = None) -> Any:
        queue = self.books.get(symbol) or []
        return queue.pop(0) if queue else await self._exhausted()

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> Any:
        queue = self.snapshots.get(symbol) or []
        return queue.pop(0) if queue else await self._exhausted()

    async def fetch_funding_rates(self, symbols: list[str] | None = None) -> Any:
        if not self.funding_polls:
            return await self._exhausted()
        return {fr["symbol"]: fr for fr in self.funding_polls.pop(0)}

    async def fetch_trades(self, symbol: str, since: int | None = None) -> Any:
        queue = self.trade_batches.get(symbol) or []
        return queue.pop(0) if queue else await self._exhausted()

    async def close(self) -> None:
        self.closed = True


NAN = math.nan
INF = math.inf


def bad_payload_script(exchange_id: str) -> tuple[ScriptedExchange, dict[str, int], int]:
    """14 kinds of bad payload between good ones.

    Returns the exchange, the expected dead letters by reason, and the number of good events.
    """
    btc, eth, sol, doge = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "DOGE/USDT:USDT"
    books = [
        book(btc, 100),  # good
        book(btc, 101, bid=NAN),  # NAN_OR_INFINITE
        book(btc, 102),  # good
        book(btc, 103, bid=101.0),  # CROSSED_BOOK
        book(btc, 104, bids=[], asks=[]),  # EMPTY_BOOK
        book(btc, 105, bid=-1.0),  # NON_POSITIVE_PRICE
        book(btc, 106, asks=[[100.5, 0.0]]),  # NON_POSITIVE_SIZE
        book(btc, 107),  # good
        book(btc, 105),  # OUT_OF_ORDER_SEQUENCE
        book(btc, 107, ask=100.7),  # DUPLICATE_SEQUENCE (same nonce, other levels)
        book(btc, 110),  # SEQUENCE_GAP -> resync from the snapshot below
        book(btc, 112, timestamp=NOW_MS + 3_600_000),  # EVENT_TIME_IN_FUTURE
        book(btc, 113, bids=[["abc", 1.0]]),  # MALFORMED_PAYLOAD
        book(btc, 114),  # good
    ]
    snapshots = [book(btc, 111)]  # good (resync)
    polls = [
        [
            funding(btc),  # good
            funding(eth, rate=0.5),  # FUNDING_RATE_OUT_OF_BOUNDS
            funding(sol, interval=None),  # MISSING_FUNDING_INTERVAL
            funding("ZZZ/USDT:USDT"),  # UNKNOWN_SYMBOL
            funding(doge, rate=INF),  # NAN_OR_INFINITE (infinite)
        ],
        [
            funding(btc, rate=-0.0002, timestamp=NOW_MS - 10),
            funding(eth, rate=-0.0001, interval="4h"),
        ],
    ]
    trades = [[trade(btc, "t1"), trade(btc, "t2", amount=-0.5), trade(btc, "t3", price=100.4)]]
    ex = ScriptedExchange(
        exchange_id,
        [btc, eth, sol, doge],
        books={btc: books},
        snapshots={btc: snapshots},
        funding_polls=polls,
        trade_batches={btc: trades},
    )
    expected = {
        "NAN_OR_INFINITE": 2,
        "CROSSED_BOOK": 1,
        "EMPTY_BOOK": 1,
        "NON_POSITIVE_PRICE": 1,
        "NON_POSITIVE_SIZE": 2,
        "OUT_OF_ORDER_SEQUENCE": 1,
        "DUPLICATE_SEQUENCE": 1,
        "SEQUENCE_GAP": 1,
        "EVENT_TIME_IN_FUTURE": 1,
        "MALFORMED_PAYLOAD": 1,
        "FUNDING_RATE_OUT_OF_BOUNDS": 1,
        "MISSING_FUNDING_INTERVAL": 1,
        "UNKNOWN_SYMBOL": 1,
    }
    good = 5 + 3 + 2  # books (incl. resync), funding, trades
    return ex, expected, good
