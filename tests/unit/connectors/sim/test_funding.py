"""Funding: the settlement cash flow by hand, settlement at each venue's times, real divergences."""

from __future__ import annotations

import pytest

from connectors.sim import SimWorld
from connectors.sim import load_scenario
from connectors.sim.accounts import Account

HOUR_MS = 3_600_000


def test_short_receives_funding_when_the_rate_is_positive() -> None:
    scenario = load_scenario()
    spec = scenario.markets[("sim-binance", "BTC/USDT:USDT")]
    account = Account(scenario.venues["sim-binance"], lambda _m: 50_000.0)
    account.apply_fill(spec, "sell", 1.0, 50_000.0, 0.0, ts=0)  # 1 BTC short, no fee
    cash = account.cash["USDT"]
    amount = account.settle_funding(spec, mark=50_000.0, rate=0.0001, ts=1)
    assert amount == 5.0  # 1 BTC x 50,000 x 0.0001, received
    assert account.cash["USDT"] == cash + 5.0
    (payment,) = account.funding_payments
    assert payment["amount"] == 5.0
    assert payment["code"] == "USDT"
    assert payment["rate"] == 0.0001


def test_long_pays_and_contract_size_counts() -> None:
    scenario = load_scenario()
    spec = scenario.markets[("sim-okx", "BTC/USDT:USDT")]  # contractSize 0.01
    account = Account(scenario.venues["sim-okx"], lambda _m: 50_000.0)
    account.apply_fill(spec, "buy", 100.0, 50_000.0, 0.0, ts=0)  # 100 contracts = 1 BTC long
    assert account.settle_funding(spec, mark=50_000.0, rate=0.0001, ts=1) == -5.0


async def test_settlement_at_venue_funding_times() -> None:
    world = SimWorld.create(seed=11, step_ms=10_000, malformed={"rate": 0.0})
    binance = world.exchange("sim-binance")
    await binance.create_order("SOL/USDT:USDT", "market", "sell", 10.0)  # SOL: 4h on binance
    await binance.create_order("BTC/USDT:USDT", "market", "sell", 0.01)  # BTC: 8h
    world.run_for(8 * HOUR_MS)
    payments = await binance.fetch_funding_history()
    sol = [p for p in payments if p["symbol"] == "SOL/USDT:USDT"]
    btc = [p for p in payments if p["symbol"] == "BTC/USDT:USDT"]
    epoch = world.scenario.epoch_ms
    assert [p["timestamp"] - epoch for p in sol] == [4 * HOUR_MS, 8 * HOUR_MS]
    assert [p["timestamp"] - epoch for p in btc] == [8 * HOUR_MS]
    history = await binance.fetch_funding_rate_history("SOL/USDT:USDT")
    assert [h["fundingRate"] for h in history] == [p["rate"] for p in sol]
    for p in sol:  # a short receives when the rate is positive
        assert (p["amount"] > 0) == (p["rate"] > 0)
    fr = await binance.fetch_funding_rate("SOL/USDT:USDT")
    assert fr["previousFundingRate"] == sol[-1]["rate"]


async def test_sustained_funding_divergence_between_venues() -> None:
    world = SimWorld.create(seed=3, step_ms=10_000, malformed={"rate": 0.0})
    world.run_for(6 * HOUR_MS)
    rates = {}
    for venue in ("sim-bybit", "sim-okx"):
        fr = await world.exchange(venue).fetch_funding_rate("SOL/USDT:USDT")
        hours = int(fr["interval"].removesuffix("h"))
        rates[venue] = fr["fundingRate"] * 8 / hours  # per 8h
    # bybit SOL is in a scripted hot regime from 0.5h to 12.5h
    assert rates["sim-bybit"] - rates["sim-okx"] > 0.0005
    history = await world.exchange("sim-bybit").fetch_funding_rate_history("SOL/USDT:USDT")
    assert all(h["fundingRate"] > 0.0003 for h in history[1:])  # sustained, not a blip


async def test_negative_funding_regime_flips_the_sign() -> None:
    world = SimWorld.create(seed=5, step_ms=10_000, malformed={"rate": 0.0})
    world.run_for(7 * HOUR_MS)
    fr = await world.exchange("sim-bybit").fetch_funding_rate("XRP/USDT:USDT")
    assert fr["fundingRate"] < 0  # scripted cold regime from 2h to 8h
    assert fr["fundingRate"] == pytest.approx(-0.0005 / 8, abs=0.00004)
