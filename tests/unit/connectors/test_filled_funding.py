"""Funding facts a venue's funding endpoint lacks, filled from its other ccxt calls or its
settlement calendar, with the provenance in the record (HTTP stubbed, parsed by ccxt)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.ccxt_venue import CcxtVenue
from connectors.normalize import next_settlement_on_utc_calendar
from connectors.venue import Rejected
from connectors.venues import VenueProfile
from schemas.records.dlq import DeadLetterReason
from schemas.records.md import FundingFactSource as Src
from schemas.records.md import FundingRateUpdate
from tests.unit.connectors.http_stub import FIXTURES
from tests.unit.connectors.http_stub import HttpStub
from tests.unit.connectors.http_stub import exchange

NOW = 1_717_000_001_000  # 2024-05-29 16:26:41 UTC
HOUR = 3_600_000
PERPS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT"]


async def _funding(venue_id: str, symbols: list[str], stub: HttpStub | None = None) -> list[Any]:
    v = CcxtVenue(exchange(venue_id, stub), clock=lambda: NOW)
    await v.load_instruments()
    try:
        return list(await v.fetch_funding_rates(symbols))
    finally:
        await v.close()


async def test_bitget_next_settlement_from_interval_and_utc_calendar() -> None:
    items = await _funding("bitget", PERPS)
    assert all(isinstance(i, FundingRateUpdate) for i in items), items
    got = {i.instrument.symbol: i for i in items}
    # /current-fund-rate says nextUpdate 00:00, 20:00 and 18:00 UTC for 8 h, 4 h and 2 h
    assert {s: (u.funding_interval_ms, u.next_funding_time_ms) for s, u in got.items()} == {
        "BTC/USDT:USDT": (8 * HOUR, 1_717_027_200_000),
        "ETH/USDT:USDT": (4 * HOUR, 1_717_012_800_000),
        "XRP/USDT:USDT": (2 * HOUR, 1_717_005_600_000),
    }
    btc = got["BTC/USDT:USDT"]
    assert btc.next_funding_time_source is Src.SETTLEMENT_CALENDAR
    assert btc.funding_interval_source is Src.OTHER_ENDPOINT
    assert (btc.mark_price, btc.mark_price_source) == (Decimal("68011.6"), Src.FUNDING_ENDPOINT)
    assert btc.funding_rate == Decimal("0.000087")


async def test_mexc_mark_price_from_the_contract_ticker() -> None:
    items = await _funding("mexc", ["BTC/USDT:USDT", "ETH/USDT:USDT"])
    assert all(isinstance(i, FundingRateUpdate) for i in items), items
    btc = {i.instrument.symbol: i for i in items}["BTC/USDT:USDT"]
    assert (btc.mark_price, btc.mark_price_source) == (Decimal("68010.7"), Src.OTHER_ENDPOINT)
    assert btc.index_price == Decimal("68004.12")
    assert (btc.next_funding_time_ms, btc.next_funding_time_source) == (
        1_717_027_200_000,
        Src.FUNDING_ENDPOINT,
    )
    assert (btc.funding_interval_ms, btc.funding_interval_source) == (
        8 * HOUR,
        Src.FUNDING_ENDPOINT,
    )


async def test_mexc_without_any_mark_price_is_the_only_dead_letter() -> None:
    fx: dict[str, Any] = copy.deepcopy(
        json.loads((FIXTURES / "mexc" / "fetchTickerBTC.json").read_text())
    )
    del fx["httpResponse"]["data"]["fairPrice"]
    items = await _funding("mexc", ["BTC/USDT:USDT", "ETH/USDT:USDT"], HttpStub("mexc", [fx]))
    refused = [i for i in items if isinstance(i, Rejected)]
    assert [i.instrument.symbol for i in items if isinstance(i, FundingRateUpdate)] == [
        "ETH/USDT:USDT"
    ]
    assert [(r.symbol, r.reason) for r in refused] == [
        ("BTC/USDT:USDT", DeadLetterReason.MALFORMED_PAYLOAD)
    ]
    assert "markPrice is missing" in refused[0].detail
    assert b'"collectCycle"' in refused[0].raw  # the venue's funding structure, as sent


@given(
    st.integers(min_value=0, max_value=4_102_444_800_000),
    st.integers(min_value=1, max_value=24 * 60).map(lambda m: m * 60_000),
)
def test_the_calendar_settlement_is_the_next_multiple_of_the_interval(
    t: int, interval: int
) -> None:
    nxt = next_settlement_on_utc_calendar(t, interval)
    assert nxt % interval == 0
    assert t < nxt <= t + interval


async def test_a_venue_without_a_module_gets_its_mark_price_from_fetch_mark_price() -> None:
    generic = VenueProfile(ccxt_id="kucoinfutures", funding_interval="history")  # no module
    v = CcxtVenue(exchange("kucoinfutures"), profile=generic, clock=lambda: NOW)
    await v.load_instruments()
    (item,) = await v.fetch_funding_rates(["BTC/USDT:USDT"])
    await v.close()
    assert isinstance(item, FundingRateUpdate), item
    assert (item.mark_price, item.mark_price_source) == (Decimal("68010.33"), Src.OTHER_ENDPOINT)
    assert item.index_price == Decimal("68003.05")
