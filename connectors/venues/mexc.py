"""MEXC (ccxt id ``mexc``): spot and USDT-margined perps (``contract.mexc.com``).

ccxt has no ``fetchFundingRates`` here: ``/api/v1/contract/funding_rate/{symbol}`` gives the
rate, ``collectCycle`` (interval, hours) and ``nextSettleTime`` but no mark or index price, so
both are filled from the contract ticker ``/api/v1/contract/ticker`` (``fairPrice`` is MEXC's
mark price).
"""

from __future__ import annotations

from typing import Any

from connectors.venues.profile import VenueProfile


async def enrich_funding(exchange: Any, funding_rate: dict[str, Any]) -> dict[str, Any]:
    """Fill ``markPrice`` (``fairPrice``) and ``indexPrice`` from the contract ticker."""
    symbol = funding_rate.get("symbol")
    if symbol is None or funding_rate.get("markPrice") is not None:
        return funding_rate
    ticker = await exchange.fetch_ticker(symbol)
    info = ticker.get("info") or {}
    out = dict(funding_rate)
    out["markPrice"] = exchange.safe_number(info, "fairPrice")
    if out.get("indexPrice") is None:
        out["indexPrice"] = exchange.safe_number(info, "indexPrice")
    return out


PROFILE = VenueProfile(
    ccxt_id="mexc",
    options={"defaultType": "swap"},
    funding_interval="reported",
    account="futures",
    enrich_funding=enrich_funding,
)
