"""Instrument facts from ccxt's own parsers (okx, binanceusdm) and their change detection."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from connectors.ccxt_venue import CcxtVenue
from connectors.facts import FactsTracker
from connectors.facts import instrument_facts
from processors.units import BorrowRate
from schemas.records.md import FeeSource
from tests.unit.connectors.http_stub import HttpStub
from tests.unit.connectors.http_stub import exchange
from tests.unit.connectors.test_ccxt_venues import NOW
from tests.unit.connectors.test_ccxt_venues import venue


async def test_okx_swap_facts_carry_contract_size_step_and_minimum() -> None:
    v = venue("okx")
    ins = {i.symbol: i for i in await v.load_instruments()}["BTC/USDT:USDT"]
    await v.close()
    facts = instrument_facts(ins, NOW)
    # documented payload: ctVal 0.01 BTC, lotSz 0.01 contracts, minSz 0.01 contracts
    assert facts.contract_size_base == Decimal("0.01")
    assert facts.amount_step == Decimal("0.01")
    assert facts.min_amount == Decimal("0.01")
    assert facts.venue_symbol == "BTC-USDT-SWAP"
    assert facts.settle == "USDT"
    assert facts.fee_source is FeeSource.VENUE
    assert facts.maker_fee is not None
    assert facts.envelope.event_time_ms == NOW


async def test_same_facts_same_id_and_a_change_is_published_once() -> None:
    v = venue("binanceusdm")
    ins = {i.symbol: i for i in await v.load_instruments()}["BTC/USDT:USDT"]
    await v.close()
    first, again = instrument_facts(ins, NOW), instrument_facts(ins, NOW + 60_000)
    assert first.envelope.event_id == again.envelope.event_id
    tracker = FactsTracker()
    assert tracker.changed(first)
    assert not tracker.changed(again)
    moved = instrument_facts(replace(ins, min_amount=Decimal("0.002")), NOW + 120_000)
    assert moved.envelope.event_id != first.envelope.event_id
    assert tracker.changed(moved)
    assert not tracker.changed(moved)


async def test_override_fees_are_marked_as_override() -> None:
    v = venue("okx")
    ins = {i.symbol: i for i in await v.load_instruments()}["BTC/USDT:USDT"]
    await v.close()
    facts = instrument_facts(replace(ins, taker_fee=Decimal("0.0002"), fees_overridden=True), NOW)
    assert facts.fee_source is FeeSource.OVERRIDE
    assert facts.taker_fee == Decimal("0.0002")


BORROW = {
    "description": "GET /sapi/v1/margin/interestRateHistory (binance docs: Query Margin Interest"
    " Rate History): the daily rate of the asset, newest first",
    "method": "GET",
    "url": "/sapi/v1/margin/interestRateHistory",
    "httpResponse": [
        {"asset": "BTC", "timestamp": 1716940800000, "dailyInterestRate": "0.00012", "vipLevel": 0},
        {"asset": "BTC", "timestamp": 1716854400000, "dailyInterestRate": "0.0001", "vipLevel": 0},
    ],
}


MARGIN_PAIRS = [  # binance docs: Get All Cross Margin Pairs / All Isolated Margin Symbols
    {
        "description": "GET /sapi/v1/margin/allPairs (ccxt loads it with account keys)",
        "method": "GET",
        "url": "/sapi/v1/margin/allPairs",
        "httpResponse": [
            {
                "base": "BTC",
                "id": 351637150141315861,
                "isBuyAllowed": True,
                "isMarginTrade": True,
                "isSellAllowed": True,
                "quote": "USDT",
                "symbol": "BTCUSDT",
            }
        ],
    },
    {
        "description": "GET /sapi/v1/margin/isolated/allPairs",
        "method": "GET",
        "url": "/sapi/v1/margin/isolated/allPairs",
        "httpResponse": [
            {
                "base": "BTC",
                "isBuyAllowed": True,
                "isMarginTrade": True,
                "isSellAllowed": True,
                "quote": "USDT",
                "symbol": "BTCUSDT",
            }
        ],
    },
]


async def test_binance_borrow_rate_through_ccxt_reaches_the_spot_facts() -> None:
    stub = HttpStub("binance", extra=[BORROW, *MARGIN_PAIRS])
    v = CcxtVenue(exchange("binance", stub, apiKey="k", secret="s"), clock=lambda: NOW)
    await v.load_instruments()
    rate = await v.fetch_borrow_rate("BTC")
    await v.close()
    assert rate == BorrowRate(Decimal("0.00012"), 86_400_000)  # per day, as ccxt reports it
    ins = v.instrument("BTC/USDT")
    facts = instrument_facts(ins, NOW, borrow=rate)
    assert facts.borrow_rate == Decimal("0.00012")
    assert facts.borrow_period_ms == 86_400_000
    assert facts.envelope.event_id != instrument_facts(ins, NOW).envelope.event_id


async def test_without_account_keys_no_borrow_rate_is_asked_for() -> None:
    stub = HttpStub("binance", extra=[BORROW])
    v = CcxtVenue(exchange("binance", stub), clock=lambda: NOW)
    await v.load_instruments()
    assert await v.fetch_borrow_rate("BTC") is None
    await v.close()
    assert not any("interestRateHistory" in url for _, url in stub.calls)


async def test_a_refused_borrow_rate_call_is_none_not_a_crash() -> None:
    refused = {**BORROW, "status": 400, "httpResponse": {"code": -3003, "msg": "no margin"}}
    stub = HttpStub("binance", extra=[refused, *MARGIN_PAIRS])
    v = CcxtVenue(exchange("binance", stub, apiKey="k", secret="s"), clock=lambda: NOW)
    await v.load_instruments()
    assert await v.fetch_borrow_rate("BTC") is None
    await v.close()
