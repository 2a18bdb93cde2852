"""``scan`` over venues: the user's connector settings, refused funding reported, a venue
without perps warned about (HTTP stubbed, parsed by ccxt; the sim for the settings path)."""

from __future__ import annotations

from decimal import Decimal

from structlog.testing import capture_logs

from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.config import FeeOverride
from connectors.config import VenueSettings
from connectors.feed import FeedConfig
from connectors.feed import run_feed
from connectors.sinks import MemorySink
from fundingflow.scan import scan_report
from fundingflow.scan import snapshot
from schemas.records.md import FeeSource
from tests.unit.connectors.http_stub import HttpStub
from tests.unit.connectors.http_stub import exchange

NOW = 1_717_000_001_000
NO_HISTORY = {"url": "/fapi/v1/fundingRate", "httpResponse": []}


def binanceusdm_without_history() -> CcxtVenue:
    stub = HttpStub("binanceusdm", extra=[NO_HISTORY])
    return CcxtVenue(exchange("binanceusdm", stub), clock=lambda: NOW)


async def test_scan_builds_venues_with_the_users_connector_settings() -> None:
    mine = ConnectorSettings(
        venues={"sim-okx": VenueSettings(fees={"*": FeeOverride(taker=Decimal("0.00031"))})}
    )
    snap = await snapshot(["sim"], ["BTC"], connectors=mine)
    taker = {(f.instrument.exchange, f.instrument.symbol): f.taker_fee for f in snap.facts}
    assert taker["sim-okx", "BTC/USDT:USDT"] == Decimal("0.00031")
    assert taker["sim-binance", "BTC/USDT:USDT"] != Decimal("0.00031")
    assert {f.fee_source for f in snap.facts if f.instrument.exchange == "sim-okx"} == {
        FeeSource.OVERRIDE
    }


async def test_scan_keeps_refused_funding_with_its_reason() -> None:
    snap = await snapshot(
        ["binanceusdm"],
        ["BTC", "ETH"],
        venue_factory=lambda _vid: [binanceusdm_without_history()],
    )
    assert [f.instrument.symbol for f in snap.funding] == ["ETH/USDT:USDT"]
    assert [r.symbol for r in snap.refused_funding] == ["BTC/USDT:USDT"]
    assert snap.refusals_by_reason() == {"MISSING_FUNDING_INTERVAL": 1}


def test_scan_reports_refused_funding_count_and_reasons() -> None:
    report = scan_report(
        ["binanceusdm"],
        ["BTC", "ETH"],
        venue_factory=lambda _vid: [binanceusdm_without_history()],
    )
    assert report.refused_funding == {"MISSING_FUNDING_INTERVAL": 1}
    assert len(report.refusal_details) == 1
    assert report.refusal_details[0].startswith("binanceusdm BTC/USDT:USDT: ")
    lines = report.refusal_lines()
    assert lines[0] == "refused funding: 1 (MISSING_FUNDING_INTERVAL x1)"
    assert "no funding interval for BTC/USDT:USDT" in lines[1]


async def test_a_venue_without_perps_is_warned_about_in_scan_and_connect() -> None:
    def spot_only(_vid: str) -> list[CcxtVenue]:
        return [CcxtVenue(exchange("binance"), clock=lambda: NOW)]

    snap = await snapshot(["binance"], ["BTC"], venue_factory=spot_only)
    assert snap.funding == []
    assert snap.venues_without_perps == ["binance"]
    config = FeedConfig(
        venues=("binance",), assets=("BTC",), streams=("funding",), venue_factory=spot_only
    )
    with capture_logs() as logs:
        stats = await run_feed(config, MemorySink())
    assert stats.published == {"md.instrument": 1}  # the spot market's facts, no funding
    warned = [e for e in logs if e["event"] == "no_perps"]
    assert [(e["exchange"], e["log_level"]) for e in warned] == [("binance", "warning")]
