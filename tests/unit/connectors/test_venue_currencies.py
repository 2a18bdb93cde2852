"""Quote and settle currencies per venue: USDC-settled perps (hyperliquid) reach connect and
scan; the user's connector settings choose them (HTTP stubbed, parsed by ccxt)."""

from __future__ import annotations

import pytest

from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.config import VenueSettings
from connectors.feed import FeedConfig
from connectors.feed import run_feed
from connectors.instruments import Currencies
from connectors.instruments import select
from connectors.instruments import venue_currencies
from connectors.sinks import MemorySink
from fundingflow.scan import snapshot
from schemas.records.md import FundingRateUpdate
from tests.unit.connectors.http_stub import exchange

NOW = 1_717_000_001_000


def hyperliquid(settings: ConnectorSettings | None = None) -> CcxtVenue:
    return CcxtVenue(exchange("hyperliquid"), settings=settings, clock=lambda: NOW)


def test_currencies_come_from_the_venue_module_then_the_user() -> None:
    plain = ConnectorSettings()
    assert venue_currencies("hyperliquid", plain) == Currencies("USDC", "USDC")
    assert venue_currencies("bybit", plain) == Currencies("USDT", "USDT")
    mine = ConnectorSettings(
        venues={
            "bybit": VenueSettings(quote="USDC"),
            "okx": VenueSettings(quote="USD", settle="BTC"),
        }
    )
    assert venue_currencies("bybit", mine) == Currencies("USDC", "USDC")
    assert venue_currencies("okx", mine) == Currencies("USD", "BTC")


async def test_hyperliquid_usdc_perps_are_selected() -> None:
    v = hyperliquid()
    found = select(await v.load_instruments(), ["BTC", "ETH"], venue_currencies(v.id, v.settings))
    await v.close()
    assert [i.symbol for i in found] == ["BTC/USDC:USDC", "ETH/USDC:USDC"]


async def test_connect_publishes_hyperliquid_funding() -> None:
    settings = ConnectorSettings()
    venue = hyperliquid(settings)
    config = FeedConfig(
        venues=("hyperliquid",),
        assets=("BTC", "ETH"),
        limit=2,
        streams=("funding",),
        settings=settings,
        venue_factory=lambda _vid: [venue],
    )
    sink = MemorySink()
    stats = await run_feed(config, sink)
    assert stats.published == {"md.funding": 2, "md.instrument": 2}
    got = {r.instrument.symbol: r for _, r in sink.records if isinstance(r, FundingRateUpdate)}
    assert sorted(got) == ["BTC/USDC:USDC", "ETH/USDC:USDC"]
    assert got["ETH/USDC:USDC"].funding_interval_ms == 3_600_000
    assert str(got["ETH/USDC:USDC"].funding_rate) == "-0.00000438"


async def test_scan_snapshot_sees_hyperliquid_usdc_perps() -> None:
    snap = await snapshot(["hyperliquid"], ["BTC"], venue_factory=lambda _vid: [hyperliquid()])
    assert [f.instrument.symbol for f in snap.funding] == ["BTC/USDC:USDC"]
    assert [b.instrument.symbol for b in snap.books] == ["BTC/USDC:USDC"]
    assert snap.refused_funding == []


def test_currencies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from fundingflow.settings import load_settings

    monkeypatch.setenv("FUNDINGFLOW_CONNECTORS__VENUES__OKX__QUOTE", "USDC")
    monkeypatch.setenv("FUNDINGFLOW_CONNECTORS__VENUES__KRAKENFUTURES__SETTLE", "USD")
    connectors = load_settings().connectors
    assert venue_currencies("okx", connectors) == Currencies("USDC", "USDC")
    assert venue_currencies("krakenfutures", connectors) == Currencies("USD", "USD")
    assert venue_currencies("bybit", connectors) == Currencies("USDT", "USDT")
