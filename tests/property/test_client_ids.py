"""Properties of client order ids: deterministic, collision-free, valid on every venue."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from processors.client_ids import DEFAULT_RULE
from processors.client_ids import NAMESPACE
from processors.client_ids import UUID_BITS
from processors.client_ids import VENUE_RULES
from processors.client_ids import ClientOrderId
from processors.client_ids import InvalidOrderKey
from processors.client_ids import OrderKey
from processors.client_ids import client_order_id
from processors.client_ids import parse
from processors.client_ids import render
from processors.client_ids import venue_rule
from schemas.records.execution import OrderPurpose

PINNED = "6012dea6d9555bfe8ff4ff674fc4b540"
"""The id of OrderKey("d1", 0, 0, ENTRY), computed once; it must never change."""
VENUES = [*sorted(VENUE_RULES), "some-new-venue"]
decision_ids = st.text(min_size=1, max_size=60)
indices = st.integers(min_value=0, max_value=10_000)
purposes = st.sampled_from([p for p in OrderPurpose if p is not OrderPurpose.UNKNOWN])
keys = st.builds(OrderKey, decision_ids, indices, indices, purposes)
ids = st.builds(ClientOrderId, st.integers(min_value=0, max_value=(1 << 128) - 1))


@given(keys)
def test_the_same_key_gives_the_same_id(key: OrderKey) -> None:
    twin = OrderKey(key.decision_id, key.leg, key.slice, key.purpose)
    assert client_order_id(key) == client_order_id(twin)
    assert client_order_id(key).hex == str(uuid.uuid5(NAMESPACE, key.preimage())).replace("-", "")


@given(keys, keys)
def test_distinct_keys_have_distinct_preimages(a: OrderKey, b: OrderKey) -> None:
    assert (a == b) == (a.preimage() == b.preimage())


@given(st.lists(keys, min_size=2, max_size=200, unique=True))
def test_distinct_keys_give_distinct_ids(batch: list[OrderKey]) -> None:
    assert len({client_order_id(key) for key in batch}) == len(batch)


def test_a_grid_of_keys_has_no_collision() -> None:
    """200k ids of one shape (the likeliest to collide if the preimage were ambiguous)."""
    cids = {
        client_order_id(OrderKey(f"d{d}", leg, s, purpose))
        for d in range(5_000)
        for leg in range(2)
        for s in range(10)
        for purpose in (OrderPurpose.ENTRY, OrderPurpose.UNWIND)
    }
    assert len(cids) == 5_000 * 2 * 10 * 2


def test_the_bit_budget_keeps_collisions_negligible() -> None:
    n = 10**9
    assert UUID_BITS == 122
    assert n * n / 2 ** (UUID_BITS + 1) < 1e-18  # birthday bound for a billion orders


@given(keys, st.sampled_from(VENUES))
def test_every_rendering_is_valid_on_its_venue_and_parses_back(key: OrderKey, venue: str) -> None:
    cid = client_order_id(key)
    text = render(cid, venue)
    assert venue_rule(venue).accepts(text), (venue, text)
    assert parse(text, venue) == cid


@given(ids, st.sampled_from(VENUES))
def test_every_128_bit_value_renders_validly(cid: ClientOrderId, venue: str) -> None:
    text = render(cid, venue)
    assert venue_rule(venue).accepts(text)
    assert parse(text, venue) == cid


@given(ids)
def test_the_canonical_text_is_valid_on_every_hex_venue(cid: ClientOrderId) -> None:
    assert len(cid.hex) == 32
    assert DEFAULT_RULE.accepts(cid.hex)
    hex_venues = [v for v, rule in VENUE_RULES.items() if rule.spelling.value == "hex"]
    assert all(VENUE_RULES[v].accepts(cid.hex) for v in hex_venues)


@settings(max_examples=300)
@given(st.text(max_size=40), st.sampled_from(VENUES))
def test_foreign_ids_parse_to_none_or_render_back_identically(text: str, venue: str) -> None:
    cid = parse(text, venue)
    assert cid is None or render(cid, venue) == text


@pytest.mark.parametrize(
    ("venue", "text"),
    [("okx", "0x" + "a" * 32), ("hyperliquid", "a" * 32), ("gate", "a" * 32), ("okx", "ab-cd")],
)
def test_a_foreign_spelling_is_not_ours(venue: str, text: str) -> None:
    assert parse(text, venue) is None


@pytest.mark.parametrize(
    ("venue", "text"),
    [
        ("okx", "a" * 33),
        ("okx", "abc-def"),
        ("binance", "a" * 37),
        ("gate", "abc"),
        ("gate", "t-" + "a" * 27),
        ("hyperliquid", "0x" + "a" * 31),
        ("hyperliquid", "0x" + "A" * 32),
    ],
)
def test_the_rules_refuse_what_the_venues_refuse(venue: str, text: str) -> None:
    assert not venue_rule(venue).accepts(text)


E = OrderPurpose.ENTRY


@pytest.mark.parametrize(
    "args",
    [("", 0, 0, E), ("d", -1, 0, E), ("d", 0, -1, E), ("d", 0, 0, OrderPurpose.UNKNOWN)],
)
def test_a_bad_key_is_refused(args: tuple[str, int, int, OrderPurpose]) -> None:
    with pytest.raises(InvalidOrderKey):
        OrderKey(*args)


def test_a_purpose_that_is_not_the_enum_is_refused() -> None:
    with pytest.raises(InvalidOrderKey):
        OrderKey("d", 0, 0, "ENTRY")  # type: ignore[arg-type]


def test_entry_and_unwind_of_the_same_slice_differ() -> None:
    entry = client_order_id(OrderKey("d1", 0, 0, OrderPurpose.ENTRY))
    assert entry != client_order_id(OrderKey("d1", 0, 0, OrderPurpose.UNWIND))
    assert entry == client_order_id(OrderKey("d1", 0, 0))


def test_the_id_of_a_known_key_never_changes() -> None:
    """Pinned: a change of namespace or preimage would orphan every recorded order."""
    cid = client_order_id(OrderKey("d1", 0, 0))
    assert cid.hex == PINNED
    assert render(cid, "okx") == render(cid, "binance") == PINNED
    assert render(cid, "hyperliquid") == "0x" + PINNED
    assert render(cid, "gate") == "t-5ordteszq1cl4hjfkc2pv9xkw"
