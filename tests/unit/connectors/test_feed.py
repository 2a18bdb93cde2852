from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.feed import FeedConfig
from connectors.feed import run_feed
from connectors.sinks import MemorySink
from connectors.sinks import StdoutSink
from schemas.records.dlq import DeadLetter
from tests.unit.connectors.scripted import PROFILE
from tests.unit.connectors.scripted import bad_payload_script


def _config(ex: Any, expected: Any, good: Any, **kw: Any) -> FeedConfig:
    settings = ConnectorSettings()
    venue = CcxtVenue(ex, settings=settings, profile=PROFILE)
    return FeedConfig(
        venues=(ex.id,),
        assets=("BTC", "ETH", "SOL", "DOGE"),
        limit=good + sum(expected.values()),
        settings=settings,
        venue_factory=lambda _vid: [venue],
        **kw,
    )


async def test_every_bad_payload_is_dead_lettered_once_and_good_events_flow() -> None:
    ex, expected, good = bad_payload_script("scripted")
    sink = MemorySink()
    stats = await run_feed(_config(ex, expected, good), sink)
    dead = Counter(r.reason.value for t, r in sink.records if isinstance(r, DeadLetter))
    assert dead == expected
    assert len(expected) >= 12
    assert sum(stats.published.values()) - stats.facts == good
    assert stats.facts == 4  # one per scripted instrument, before its records
    assert stats.published == {"md.book": 5, "md.funding": 3, "md.trade": 2, "md.instrument": 4}
    assert {t for t, r in sink.records if isinstance(r, DeadLetter)} == {"dlq.md"}
    assert ex.closed


async def test_dead_letter_keeps_the_raw_ccxt_structure_with_info() -> None:
    ex, expected, good = bad_payload_script("scripted")
    sink = MemorySink()
    await run_feed(_config(ex, expected, good), sink)
    bounds = next(
        r
        for _, r in sink.records
        if isinstance(r, DeadLetter) and r.reason.value == "FUNDING_RATE_OUT_OF_BOUNDS"
    )
    raw = json.loads(bounds.raw)
    assert raw["symbol"] == "ETH/USDT:USDT"
    assert raw["info"]["fundingRate"] == "0.5"
    assert bounds.source_topic == "md.funding"
    assert bounds.source_key == b"ETH"


async def test_stdout_sink_writes_one_sorted_json_line_per_record() -> None:
    ex, expected, good = bad_payload_script("scripted")
    out = io.StringIO()
    stats = await run_feed(_config(ex, expected, good), StdoutSink(out))
    lines = out.getvalue().splitlines()
    assert len(lines) == stats.total + stats.facts
    first = json.loads(lines[0])
    assert set(first) == {"key", "topic", "type", "value"}
