"""KuCoin Futures (ccxt id ``kucoinfutures``): USDT-margined perps ``XBTUSDTM`` and the like.

The funding endpoint gives the rate, ``currentGranularity`` (interval, ms) and ``fundingTime``
but no mark or index price; both come from ``/api/v1/mark-price/{symbol}/current`` (ccxt
``fetchMarkPrice``). Sizes are lots of ``multiplier`` base units. The order book is served 20
or 100 levels deep only.
"""

from __future__ import annotations

from typing import Any

from connectors.venues import VenueProfile


async def enrich_funding(exchange: Any, funding_rate: dict[str, Any]) -> dict[str, Any]:
    """Fill ``markPrice`` and ``indexPrice`` from the venue's current mark price."""
    symbol = funding_rate.get("symbol")
    if symbol is None or funding_rate.get("markPrice") is not None:
        return funding_rate
    mark = await exchange.fetch_mark_price(symbol)
    out = dict(funding_rate)
    out["markPrice"] = mark.get("markPrice")
    if out.get("indexPrice") is None:
        out["indexPrice"] = mark.get("indexPrice")
    return out


PROFILE = VenueProfile(
    ccxt_id="kucoinfutures",
    market_types=("swap",),
    funding_interval="reported",
    account="futures",
    enrich_funding=enrich_funding,
    book_limits=(20, 100),
)
