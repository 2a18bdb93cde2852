"""Run scripted ccxt order books through the real connector feed into a memory sink."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.feed import FeedConfig
from connectors.feed import run_feed
from connectors.sinks import MemorySink
from schemas.records.dlq import DeadLetter
from schemas.records.md import BookSnapshot
from schemas.topics import MD_BOOK
from tests.unit.connectors.scripted import PROFILE
from tests.unit.connectors.scripted import ScriptedExchange

BTC = "BTC/USDT:USDT"
HANG_GUARD_S = 10.0
"""Only against a hang (a script whose count is off waits forever); never asserted on."""


async def feed_books(books: list[dict[str, Any]], items: int) -> MemorySink:
    """Feed ``books`` (ccxt order books of BTC) until ``items`` records or refusals came out."""
    ex = ScriptedExchange("scripted", [BTC], books={BTC: books})
    settings = ConnectorSettings()
    venue = CcxtVenue(ex, settings=settings, profile=PROFILE)  # contiguous book nonces
    config = FeedConfig(
        venues=(ex.id,),
        assets=("BTC",),
        streams=("book",),
        limit=items,
        settings=settings,
        venue_factory=lambda _vid: [venue],
    )
    sink = MemorySink()
    await asyncio.wait_for(run_feed(config, sink), HANG_GUARD_S)
    return sink


def published_books(sink: MemorySink) -> list[BookSnapshot]:
    return [r for t, r in sink.records if t == MD_BOOK and isinstance(r, BookSnapshot)]


def dead_letters(sink: MemorySink) -> list[DeadLetter]:
    return [r for _, r in sink.records if isinstance(r, DeadLetter)]
