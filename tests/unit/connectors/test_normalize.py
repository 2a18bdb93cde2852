from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.config import ValidationBounds
from connectors.instruments import to_instrument
from connectors.normalize import parse_interval_ms
from connectors.normalize import to_book_snapshot
from connectors.normalize import to_funding_rate_update
from connectors.normalize import to_trade
from connectors.venue import InvalidPayload
from schemas.fixed_point import ask_levels
from schemas.fixed_point import bid_levels
from schemas.records.dlq import DeadLetterReason as R
from tests.unit.connectors.scripted import INF
from tests.unit.connectors.scripted import NAN
from tests.unit.connectors.scripted import NOW_MS
from tests.unit.connectors.scripted import book
from tests.unit.connectors.scripted import funding
from tests.unit.connectors.scripted import market
from tests.unit.connectors.scripted import trade

PERP = to_instrument("x", market("BTC/USDT:USDT", contract_size=0.01), 4)
BOUNDS = ValidationBounds()


def refused(call: Any, *args: Any, **kw: Any) -> R:
    with pytest.raises(InvalidPayload) as info:
        call(*args, **kw)
    assert info.value.raw  # the ccxt structure, as JSON bytes
    return info.value.reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (book(PERP.symbol, 1, bid=NAN), R.NAN_OR_INFINITE),
        (book(PERP.symbol, 1, ask=INF), R.NAN_OR_INFINITE),
        (book(PERP.symbol, 1, bid=0), R.NON_POSITIVE_PRICE),
        (book(PERP.symbol, 1, asks=[[100.5, -1]]), R.NON_POSITIVE_SIZE),
        (book(PERP.symbol, 1, bid=100.5), R.CROSSED_BOOK),
        (book(PERP.symbol, 1, asks=[]), R.EMPTY_BOOK),
        (book(PERP.symbol, 1, bids="oops"), R.MALFORMED_PAYLOAD),
        (book(PERP.symbol, 1, bids=[["", 1]]), R.MALFORMED_PAYLOAD),
        (book(PERP.symbol, 1, bids=[[True, 1]]), R.MALFORMED_PAYLOAD),
        (book("ETH/USDT:USDT", 1), R.UNKNOWN_SYMBOL),
        (book(PERP.symbol, 1, timestamp=NOW_MS + 6_000), R.EVENT_TIME_IN_FUTURE),
        ("not a dict", R.MALFORMED_PAYLOAD),
    ],
)
def test_bad_books(payload: object, reason: R) -> None:
    assert refused(to_book_snapshot, payload, PERP, 5, NOW_MS, BOUNDS) is reason


def test_book_sizes_in_base_units_and_decimal_from_text() -> None:
    snap = to_book_snapshot(book(PERP.symbol, 7, bid="99.9", ask=100.1), PERP, 5, NOW_MS, BOUNDS)
    assert bid_levels(snap)[0].price == Decimal("99.9")
    assert ask_levels(snap)[0].price == Decimal("100.1")  # Decimal(str(float)), never float math
    assert bid_levels(snap)[0].size_base == Decimal("0.015")
    assert snap.envelope.source_seq == 7
    assert snap.envelope.event_time_ms == NOW_MS - 100


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (funding(PERP.symbol, rate=NAN), R.NAN_OR_INFINITE),
        (funding(PERP.symbol, rate=0.06), R.FUNDING_RATE_OUT_OF_BOUNDS),
        (funding(PERP.symbol, rate=-0.06), R.FUNDING_RATE_OUT_OF_BOUNDS),
        (funding(PERP.symbol, interval=None), R.MISSING_FUNDING_INTERVAL),
        (funding(PERP.symbol, interval="eight hours"), R.MALFORMED_PAYLOAD),
        (funding(PERP.symbol, rate="0.0001abc"), R.MALFORMED_PAYLOAD),
        (funding(PERP.symbol, rate=None), R.MALFORMED_PAYLOAD),
        (funding(PERP.symbol, markPrice=-1), R.NON_POSITIVE_PRICE),
        (funding(PERP.symbol, fundingTimestamp=None), R.MALFORMED_PAYLOAD),
        (funding(PERP.symbol, timestamp=NOW_MS + 86_400_000), R.EVENT_TIME_IN_FUTURE),
    ],
)
def test_bad_funding(payload: object, reason: R) -> None:
    assert refused(to_funding_rate_update, payload, PERP, NOW_MS, BOUNDS) is reason


@pytest.mark.parametrize(
    ("text", "ms"), [("1h", 3_600_000), ("4h", 14_400_000), ("8h", 28_800_000)]
)
def test_intervals(text: str, ms: int) -> None:
    assert parse_interval_ms(text) == ms
    update = to_funding_rate_update(
        funding(PERP.symbol, rate=-0.0003, interval=text), PERP, NOW_MS, BOUNDS
    )
    assert update.funding_interval_ms == ms
    assert update.funding_rate == Decimal("-0.0003")


def test_interval_given_by_the_caller_when_the_structure_has_none() -> None:
    update = to_funding_rate_update(
        funding(PERP.symbol, interval=""), PERP, NOW_MS, BOUNDS, interval_ms=14_400_000
    )
    assert update.funding_interval_ms == 14_400_000


def test_event_ids_are_deterministic() -> None:
    a = to_trade(trade(PERP.symbol, "1"), PERP, NOW_MS, BOUNDS)
    b = to_trade(trade(PERP.symbol, "1"), PERP, NOW_MS + 5, BOUNDS)
    c = to_trade(trade(PERP.symbol, "2"), PERP, NOW_MS, BOUNDS)
    assert a.envelope.event_id == b.envelope.event_id != c.envelope.event_id
    assert a.size_base == Decimal("0.005")
