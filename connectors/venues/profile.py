"""What differs between venues (:class:`VenueProfile`), which each venue's module declares."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

from connectors.venue import OrderRequest
from schemas.records.common import TimeInForce

FundingIntervalSource = Literal["reported", "fetch_intervals", "fetch_interval", "history"]
FundingEnricher = Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]


def unified_order_params(request: OrderRequest) -> dict[str, Any]:
    """ccxt's unified create-order params (``clientOrderId``, ``timeInForce``, ``postOnly``,
    ``reduceOnly``), which binance, okx and bybit all translate.
    """
    params: dict[str, Any] = {"clientOrderId": request.client_order_id}
    if request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
        params["timeInForce"] = request.time_in_force.value
    elif request.time_in_force is TimeInForce.POST_ONLY:
        params["postOnly"] = True
    if request.reduce_only:
        params["reduceOnly"] = True
    return params


async def mark_price_from_other_calls(
    exchange: Any, funding_rate: dict[str, Any]
) -> dict[str, Any]:
    """Fill a missing ``markPrice`` (and ``indexPrice``) from the venue's other unified ccxt
    calls: ``fetchMarkPrice`` where the venue has it, else ``fetchTicker``. Any venue without a
    module gets this; a structure that carries its mark price is returned as it is."""
    symbol = funding_rate.get("symbol")
    if symbol is None or funding_rate.get("markPrice") is not None:
        return funding_rate
    has = exchange.has
    if has.get("fetchMarkPrice"):
        found = await exchange.fetch_mark_price(symbol)
    elif has.get("fetchTicker"):
        found = await exchange.fetch_ticker(symbol)
    else:
        return funding_rate
    out = dict(funding_rate)
    out["markPrice"] = found.get("markPrice")
    if out.get("indexPrice") is None:
        out["indexPrice"] = found.get("indexPrice")
    return out


def client_id_params(client_order_id: str) -> dict[str, Any]:
    """Params addressing an order by client id in fetch_order / cancel_order."""
    return {"clientOrderId": client_order_id}


@dataclass(frozen=True)
class VenueProfile:
    """What differs between venues; everything else is in :class:`CcxtVenue`."""

    ccxt_id: str
    market_types: tuple[str, ...] | None = None
    """ccxt ``options['fetchMarkets']['types']``: load only these market types."""
    options: Mapping[str, Any] = field(default_factory=dict)
    funding_interval: FundingIntervalSource = "reported"
    """Where the interval comes from when ccxt's funding structure has no ``interval``;
    the last resort is always derivation from the funding-rate history."""
    contiguous_book_nonce: bool = False
    """The watched book stream numbers updates n, n+1, ... (a jump is a gap)."""
    account: str = "default"
    enrich_funding: FundingEnricher | None = mark_price_from_other_calls
    """Fill fields the venue's funding endpoint lacks (e.g. mark/index price)."""
    order_params: Callable[[OrderRequest], dict[str, Any]] = unified_order_params
    client_id_params: Callable[[str], dict[str, Any]] = client_id_params
    utc_settlement_calendar: bool = False
    """Settlements fall every interval from 00:00 UTC, so a funding structure without the
    next settlement time gets the calendar's (marked ``SETTLEMENT_CALENDAR``)."""
    book_limits: tuple[int, ...] | None = None
    """The only depths the venue's order-book endpoint accepts (ascending); None: any."""
    quote: str = "USDT"
    """Quote currency of the spot markets and linear perps the venue lists for arbitrage."""
    settle: str | None = None
    """Settlement currency of its linear perps; None: the quote."""

    def book_limit(self, depth: int) -> int:
        """The depth to ask the venue for: ``depth``, or the smallest accepted one above it
        (the book is cut to ``depth`` levels after parsing)."""
        if self.book_limits is None:
            return depth
        return next((n for n in self.book_limits if n >= depth), self.book_limits[-1])

    def ccxt_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = dict(self.options)
        if self.market_types is not None:
            opts["fetchMarkets"] = {"types": list(self.market_types)}
        return opts
