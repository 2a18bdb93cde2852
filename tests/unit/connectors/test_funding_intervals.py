"""Funding intervals: any whole number of minutes; a reused (cached) interval says so in the
record and expires after ``funding_interval_max_age_s`` (HTTP stubbed, parsed by ccxt)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.normalize import parse_interval_ms
from connectors.venue import Rejected
from schemas.records.dlq import DeadLetterReason
from schemas.records.md import FundingFactSource as Src
from schemas.records.md import FundingRateUpdate
from tests.unit.connectors.http_stub import FIXTURES
from tests.unit.connectors.http_stub import HttpStub
from tests.unit.connectors.http_stub import exchange
from tests.unit.connectors.scripted import PROFILE
from tests.unit.connectors.scripted import ScriptedExchange
from tests.unit.connectors.scripted import funding

NOW = 1_717_000_001_000
HOUR = 3_600_000
BTC = "BTC/USDT:USDT"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2h", 2 * HOUR),
        ("120m", 2 * HOUR),
        ("7200000", 2 * HOUR),  # ccxt passes milliseconds through outside its 1/4/8/16/24h table
        ("90m", 90 * 60_000),
        ("1d", 24 * HOUR),
        ("3h", 3 * HOUR),
    ],
)
def test_any_whole_number_of_minutes_is_an_interval(text: str, ms: int) -> None:
    assert parse_interval_ms(text) == ms


@pytest.mark.parametrize("text", ["0h", "0", "7200001", "eight hours", "-8h", "1.5h"])
def test_not_whole_minutes_is_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="interval"):
        parse_interval_ms(text)


def _okx_funding(inst_id: str, funding_time: int, next_time: int) -> dict[str, Any]:
    """The stored OKX /api/v5/public/funding-rate?instId=ANY answer, one swap 2 h apart."""
    path = FIXTURES / "okx" / "fetchFundingRates.json"
    fx: dict[str, Any] = copy.deepcopy(json.loads(path.read_text()))
    for row in fx["httpResponse"]["data"]:
        if row["instId"] == inst_id:
            row["fundingTime"], row["nextFundingTime"] = str(funding_time), str(next_time)
    return fx


async def test_okx_two_hour_interval_is_accepted() -> None:
    settle = 1_717_005_600_000  # 18:00 UTC
    stub = HttpStub("okx", extra=[_okx_funding("BTC-USDT-SWAP", settle, settle + 2 * HOUR)])
    v = CcxtVenue(exchange("okx", stub), clock=lambda: NOW)
    await v.load_instruments()
    items = await v.fetch_funding_rates([BTC])
    await v.close()
    assert len(items) == 1
    assert isinstance(items[0], FundingRateUpdate), items[0]
    assert items[0].funding_interval_ms == 7_200_000
    assert items[0].funding_interval_source is Src.FUNDING_ENDPOINT


async def test_a_cached_interval_is_marked_and_expires() -> None:
    now = [NOW]
    stub = HttpStub("binanceusdm")
    settings = ConnectorSettings(funding_interval_max_age_s=600)
    v = CcxtVenue(exchange("binanceusdm", stub), settings=settings, clock=lambda: now[0])
    await v.load_instruments()

    async def poll() -> FundingRateUpdate | Rejected:
        (item,) = await v.fetch_funding_rates([BTC])
        return item

    first = await poll()  # learnt from /fapi/v1/fundingRate this poll
    now[0] += 60_000
    second = await poll()  # the premium index has no interval: reused
    now[0] += 600_000
    stub.routes.insert(0, {"url": "/fapi/v1/fundingRate", "httpResponse": []})
    expired = await poll()  # older than 600 s and the history cannot say again
    await v.close()
    assert isinstance(first, FundingRateUpdate)
    assert isinstance(second, FundingRateUpdate)
    assert (first.funding_interval_ms, first.funding_interval_source) == (
        8 * HOUR,
        Src.SETTLEMENT_HISTORY,
    )
    assert (second.funding_interval_ms, second.funding_interval_source) == (8 * HOUR, Src.CACHED)
    assert isinstance(expired, Rejected)
    assert expired.reason is DeadLetterReason.MISSING_FUNDING_INTERVAL


async def test_settlement_time_and_mark_come_from_the_funding_endpoint() -> None:
    v = CcxtVenue(exchange("binanceusdm"), clock=lambda: NOW)
    await v.load_instruments()
    (item,) = await v.fetch_funding_rates(["ETH/USDT:USDT"])
    await v.close()
    assert isinstance(item, FundingRateUpdate)
    assert item.funding_interval_source is Src.OTHER_ENDPOINT  # /fapi/v1/fundingInfo
    assert item.next_funding_time_source is Src.FUNDING_ENDPOINT
    assert item.mark_price_source is Src.FUNDING_ENDPOINT


async def test_a_reporting_venue_reuses_its_last_report_only_while_fresh() -> None:
    sol = "SOL/USDT:USDT"
    polls = [[funding(sol, interval="2h")], [funding(sol, interval=None)]]
    polls.append([funding(sol, interval=None)])
    ex = ScriptedExchange("scripted", [sol], funding_polls=polls)
    settings = ConnectorSettings(funding_interval_max_age_s=600)
    v = CcxtVenue(ex, settings=settings, profile=PROFILE)
    await v.load_instruments()
    (reported,) = await v.fetch_funding_rates([sol])
    ex.now += 599_000
    (reused,) = await v.fetch_funding_rates([sol])
    ex.now += 2_000
    (expired,) = await v.fetch_funding_rates([sol])
    assert isinstance(reported, FundingRateUpdate)
    assert isinstance(reused, FundingRateUpdate)
    assert reported.funding_interval_source is Src.FUNDING_ENDPOINT
    assert (reused.funding_interval_ms, reused.funding_interval_source) == (2 * HOUR, Src.CACHED)
    assert isinstance(expired, Rejected)
    assert expired.reason is DeadLetterReason.MISSING_FUNDING_INTERVAL


async def test_gate_two_hour_funding_interval_is_accepted() -> None:
    v = CcxtVenue(exchange("gate"), clock=lambda: NOW)
    await v.load_instruments()
    (item,) = await v.fetch_funding_rates(["DOGE/USDT:USDT"])
    await v.close()
    assert isinstance(item, FundingRateUpdate), item  # funding_interval 7200 s -> '7200000'
    assert (item.funding_interval_ms, item.next_funding_time_ms) == (2 * HOUR, 1_717_005_600_000)
    assert item.funding_interval_source is Src.FUNDING_ENDPOINT
