"""Each ccxt venue through ccxt's own parsers on documented payloads (HTTP stubbed)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.config import FeeOverride
from connectors.config import VenueSettings
from connectors.instruments import pairs
from connectors.instruments import select
from connectors.venue import InvalidPayload
from connectors.venue import Rejected
from schemas.errors import OutcomeUnknown
from schemas.errors import VenueRejected
from schemas.fixed_point import ask_levels
from schemas.fixed_point import bid_levels
from schemas.records.common import MarketType
from schemas.records.dlq import DeadLetterReason
from schemas.records.md import FundingFactSource
from schemas.records.md import FundingRateUpdate
from tests.unit.connectors.http_stub import HttpStub
from tests.unit.connectors.http_stub import exchange

NOW = 1_717_000_001_000
HOUR = 3_600_000


def venue(venue_id: str, stub: HttpStub | None = None, **kw: Any) -> CcxtVenue:
    return CcxtVenue(exchange(venue_id, stub, **kw), clock=lambda: NOW)


async def funding_by_symbol(venue_id: str, symbols: list[str]) -> dict[str, FundingRateUpdate]:
    v = venue(venue_id)
    try:
        await v.load_instruments()
        items = await v.fetch_funding_rates(symbols)
    finally:
        await v.close()
    assert not [i for i in items if isinstance(i, Rejected)]
    return {i.instrument.symbol: i for i in items if isinstance(i, FundingRateUpdate)}


@pytest.mark.parametrize(
    ("venue_id", "symbol", "rate", "interval_h"),
    [
        ("binanceusdm", "BTC/USDT:USDT", "0.0001", 8),  # derived from /fapi/v1/fundingRate
        ("binanceusdm", "ETH/USDT:USDT", "-0.00012345", 4),  # /fapi/v1/fundingInfo
        ("binanceusdm", "SOL/USDT:USDT", "0.00005", 1),
        ("bybit", "BTC/USDT:USDT", "0.0001", 8),  # instruments-info fundingInterval
        ("bybit", "ETH/USDT:USDT", "-0.00021342", 4),
        ("bybit", "SOL/USDT:USDT", "0.0000125", 1),
        ("okx", "BTC/USDT:USDT", "0.00008", 8),  # fundingTime -> nextFundingTime
        ("okx", "ETH/USDT:USDT", "-0.000152", 4),
    ],
)
async def test_funding_rate_and_interval_from_each_venue(
    venue_id: str, symbol: str, rate: str, interval_h: int
) -> None:
    symbols = {
        "binanceusdm": ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"],
        "bybit": ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"],
        "okx": ["BTC/USDT:USDT", "ETH/USDT:USDT"],
    }[venue_id]
    got = (await funding_by_symbol(venue_id, symbols))[symbol]
    assert got.funding_rate == Decimal(rate)
    assert got.funding_interval_ms == interval_h * HOUR
    assert got.mark_price > 0
    assert got.index_price is not None
    assert got.index_price > 0
    assert got.instrument.market_type is MarketType.PERP


async def test_binance_interval_source_is_reported_or_derived() -> None:
    v = venue("binanceusdm")
    await v.load_instruments()
    btc = await v.fetch_funding_interval("BTC/USDT:USDT")
    eth = await v.fetch_funding_interval("ETH/USDT:USDT")
    await v.close()
    assert (btc.interval_ms, btc.source) == (8 * HOUR, FundingFactSource.SETTLEMENT_HISTORY)
    assert (eth.interval_ms, eth.source) == (4 * HOUR, FundingFactSource.OTHER_ENDPOINT)


async def test_unknown_interval_is_a_dead_letter_never_a_default() -> None:
    stub = HttpStub(
        "binanceusdm",
        extra=[
            {"url": "/fapi/v1/fundingRate", "httpResponse": []},  # no history to derive from
        ],
    )
    v = venue("binanceusdm", stub)
    await v.load_instruments()
    items = await v.fetch_funding_rates(["BTC/USDT:USDT"])
    await v.close()
    assert len(items) == 1
    assert isinstance(items[0], Rejected)
    assert items[0].reason is DeadLetterReason.MISSING_FUNDING_INTERVAL
    assert b'"lastFundingRate":"0.00010000"' in items[0].raw  # raw includes ccxt's info


async def test_okx_contract_sizes_become_base_units() -> None:
    v = venue("okx")
    await v.load_instruments()
    ins = v.instrument("BTC/USDT:USDT")
    book = await v.fetch_order_book("BTC/USDT:USDT", 5)
    trades = await v.fetch_trades("BTC/USDT:USDT")
    await v.close()
    assert ins.contract_size_base == Decimal("0.01")
    assert bid_levels(book)[0].price == Decimal("68005.3")
    assert bid_levels(book)[0].size_base == Decimal("2.50")  # 250 contracts x 0.01 BTC
    assert book.envelope.source_seq is None  # ccxt does not surface OKX's seqId on REST
    assert sorted(t.size_base for t in trades if not isinstance(t, Rejected)) == [
        Decimal("0.03"),
        Decimal("0.12"),
    ]


@pytest.mark.parametrize(
    ("venue_id", "symbol", "best_bid", "best_ask", "seq"),
    [
        ("binance", "BTC/USDT", "67999.99", "68000", 51234567890),
        ("binanceusdm", "BTC/USDT:USDT", "68010", "68010.1", 4702138925371),
        ("bybit", "BTC/USDT:USDT", "68012.4", "68012.5", None),
    ],
)
async def test_order_books(
    venue_id: str, symbol: str, best_bid: str, best_ask: str, seq: int | None
) -> None:
    v = venue(venue_id)
    await v.load_instruments()
    book = await v.fetch_order_book(symbol, 2)
    await v.close()
    assert bid_levels(book)[0].price == Decimal(best_bid)
    assert ask_levels(book)[0].price == Decimal(best_ask)
    assert len(bid_levels(book)) == len(ask_levels(book)) == 2
    assert book.envelope.source_seq == seq
    assert book.envelope.event_time_ms <= NOW


async def test_universe_pairs_spot_and_perps_across_venues() -> None:
    found = []
    for vid in ("binance", "binanceusdm", "okx", "bybit"):
        v = venue(vid)
        found += select(await v.load_instruments(), ["BTC"])
        await v.close()
    kinds = {(p.kind, p.long_leg.exchange, p.short_leg.exchange) for p in pairs(found)}
    assert ("spot_perp", "binance", "binanceusdm") in kinds
    assert ("perp_perp", "binanceusdm", "okx") in kinds
    assert all(p.base == "BTC" for p in pairs(found))


async def test_fee_override_per_account_tier() -> None:
    settings = ConnectorSettings(
        venues={
            "bybit": VenueSettings(id="bybit", fees={"*": FeeOverride(taker=Decimal("0.0004"))})
        }
    )
    v = CcxtVenue(exchange("bybit"), settings=settings, clock=lambda: NOW)
    await v.load_instruments()
    await v.close()
    assert v.instrument("BTC/USDT:USDT").taker_fee == Decimal("0.0004")
    assert v.instrument("BTC/USDT:USDT").maker_fee == Decimal("0.0001")  # ccxt's, kept


BINANCE_ORDER = "/fapi/v1/order"


async def _create(extra: list[dict[str, Any]]) -> None:
    from connectors.venue import OrderRequest
    from schemas.records.common import OrderType
    from schemas.records.common import Side

    stub = HttpStub("binanceusdm", extra=extra)
    v = CcxtVenue(exchange("binanceusdm", stub, apiKey="k", secret="s"), clock=lambda: NOW)
    await v.load_instruments()
    try:
        await v.create_order(
            OrderRequest("BTC/USDT:USDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), "cid-1")
        )
    finally:
        await v.close()


async def test_insufficient_funds_code_is_a_rejection() -> None:
    body = {"code": -2019, "msg": "Margin is insufficient."}
    with pytest.raises(VenueRejected):
        await _create(
            [{"method": "POST", "url": BINANCE_ORDER, "status": 400, "httpResponse": body}]
        )


async def test_timeout_on_create_is_outcome_unknown() -> None:
    with pytest.raises(OutcomeUnknown):
        await _create(
            [{"method": "POST", "url": BINANCE_ORDER, "raise": "timeout", "httpResponse": {}}]
        )


async def test_unknown_symbol_is_refused() -> None:
    v = venue("bybit")
    await v.load_instruments()
    await v.close()
    with pytest.raises(InvalidPayload) as info:
        v.instrument("NOPE/USDT")
    assert info.value.reason is DeadLetterReason.UNKNOWN_SYMBOL
