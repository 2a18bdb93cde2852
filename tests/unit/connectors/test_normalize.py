from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import normalize
from connectors.config import ValidationBounds
from connectors.instruments import to_instrument
from connectors.normalize import EVENT_ID_NAMESPACE
from connectors.normalize import content_identity
from connectors.normalize import event_id
from connectors.normalize import parse_interval_ms
from connectors.normalize import raw_json
from connectors.normalize import to_book_snapshot
from connectors.normalize import to_funding_rate_update
from connectors.normalize import to_trade
from connectors.normalize import uuid5_text
from connectors.venue import InvalidPayload
from schemas.fixed_point import ask_levels
from schemas.fixed_point import bid_levels
from schemas.records.dlq import DeadLetterReason as R
from schemas.records.md import BookSnapshot
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_TRADE
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


# ---------------------------------------------------------------- event ids and lazy raw JSON

_PART = st.text(st.characters(blacklist_characters="|"), max_size=12)
_IDENTITY = st.one_of(
    st.integers(min_value=0).map(lambda n: f"nonce:{n}"),
    st.integers(min_value=0).map(lambda n: f"ts:{n}"),
    st.text(max_size=16).map(lambda t: f"trade:{t}"),
    st.binary(max_size=8).map(content_identity),
)
_KEYS = st.tuples(st.sampled_from([MD_BOOK, MD_TRADE, MD_FUNDING]), _PART, _PART, _IDENTITY)


@given(_KEYS, _KEYS)
def test_event_ids_are_equal_exactly_when_identities_are(
    a: tuple[str, str, str, str], b: tuple[str, str, str, str]
) -> None:
    assert (event_id(*a) == event_id(*b)) is (a == b)
    assert event_id(*a) == event_id(*a)  # deterministic: a redelivery gets the same id


@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_uuid5_text_is_uuid5(name: str) -> None:
    assert uuid5_text(name) == str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def test_book_ids_come_from_nonce_then_venue_time_then_content() -> None:
    snap = to_book_snapshot(book(PERP.symbol, 7), PERP, 5, NOW_MS, BOUNDS)
    assert snap.envelope.event_id == event_id(MD_BOOK, "x", PERP.symbol, "nonce:7")
    again = to_book_snapshot(book(PERP.symbol, 7), PERP, 5, NOW_MS + 9, BOUNDS)
    assert again.envelope.event_id == snap.envelope.event_id  # ingest time plays no part
    timed = to_book_snapshot(book(PERP.symbol, None), PERP, 5, NOW_MS, BOUNDS)
    assert timed.envelope.event_id == event_id(MD_BOOK, "x", PERP.symbol, f"ts:{NOW_MS - 100}")
    bare = book(PERP.symbol, None, timestamp=None)
    untimed = to_book_snapshot(bare, PERP, 5, NOW_MS, BOUNDS)
    digest = content_identity(raw_json(bare))
    assert untimed.envelope.event_id == event_id(MD_BOOK, "x", PERP.symbol, digest)


def test_trade_and_funding_ids() -> None:
    t = to_trade(trade(PERP.symbol, "42"), PERP, NOW_MS, BOUNDS)
    assert t.envelope.event_id == event_id(MD_TRADE, "x", PERP.symbol, "trade:42")
    f = to_funding_rate_update(funding(PERP.symbol), PERP, NOW_MS, BOUNDS)
    identity = f"ts:{NOW_MS - 50}|next:{NOW_MS + 3_600_000}"
    assert f.envelope.event_id == event_id(MD_FUNDING, "x", PERP.symbol, identity)


def test_good_payloads_are_never_serialized_nor_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object) -> Any:
        raise AssertionError("a good payload was serialized or hashed")

    monkeypatch.setattr(normalize, "raw_json", forbidden)
    monkeypatch.setattr(normalize, "content_identity", forbidden)
    for _ in range(2):  # the general path, then the shortcut for known numbers
        to_book_snapshot(book(PERP.symbol, 3), PERP, 5, NOW_MS, BOUNDS)
        to_trade(trade(PERP.symbol, "1"), PERP, NOW_MS, BOUNDS)
        to_funding_rate_update(funding(PERP.symbol), PERP, NOW_MS, BOUNDS)


def test_the_shortcut_and_the_general_path_build_equal_books() -> None:
    payload = book(PERP.symbol, 11, bid=99.7, ask=100.3)
    first = to_book_snapshot(payload, PERP, 5, NOW_MS, BOUNDS)  # may learn the numbers
    second = to_book_snapshot(payload, PERP, 5, NOW_MS, BOUNDS)  # known numbers: shortcut
    validated = BookSnapshot.model_validate(second.model_dump())
    assert first == second == validated
    assert [lv.price for lv in bid_levels(second)] == [Decimal("99.7"), Decimal("99.5")]


def test_a_refusal_carries_the_raw_payload() -> None:
    payload = book(PERP.symbol, 1, bid=100.5)  # crossed
    with pytest.raises(InvalidPayload) as info:
        to_book_snapshot(payload, PERP, 5, NOW_MS, BOUNDS)
    assert info.value.raw == raw_json(payload)


@pytest.mark.parametrize("contract", ["1", "1.0", "0.01", "0.010"])
def test_the_shortcut_sizes_equal_the_general_path(contract: str) -> None:
    """Equal contract sizes with other exponents (``1`` and ``1.0``) give the same sizes."""
    ins = dataclasses.replace(PERP, contract_size_base=Decimal(contract))
    books = [to_book_snapshot(book(PERP.symbol, 5), ins, 5, NOW_MS, BOUNDS) for _ in range(2)]
    assert books[0] == books[1]  # the second took the shortcut
    assert [lv.size_base for lv in bid_levels(books[1])] == [
        Decimal("1.5") * Decimal(contract),
        Decimal("2.0") * Decimal(contract),
    ]


@given(st.floats(min_value=1e-30, max_value=1e25, allow_nan=False, allow_infinity=False))
def test_learnt_numbers_are_the_decimal_of_the_float_text(value: float) -> None:
    learnt = normalize._learn(value)
    if learnt is not None:
        number = Decimal(str(value))
        assert learnt == (number, number.as_tuple().exponent)
        assert str(learnt[0]) == str(number)
