"""Property: reducer state -> record -> Avro bytes -> record -> state is the identity.

The bytes are the codec's (Confluent frame, schema registered in an in-memory registry), as the
worker writes them to its tables. Decimals are drawn from what the reducers keep: values that
fit decimal(38, 18) with exactly 18 places (:func:`processors.units.persistable`), so the
round trip keeps their representation as well as their value.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from processors.costs import CostComponents
from processors.costs import CostEstimate
from processors.detection import SPREAD_KINDS
from processors.detection import Candidate
from processors.detection import Evaluation
from processors.funding import LegFundingCash
from processors.market_state import AssetState
from processors.opportunities import OpportunityBook
from processors.opportunities import TrackedOpportunity
from processors.risk import ControlState
from processors.risk_state import RECENTLY_CLOSED
from processors.risk_state import RiskBook
from processors.sizing import Limits
from processors.spreads import FundingDifferential
from processors.units import TRADED_TYPES
from processors.units import InstrumentKey
from processors.units import persistable
from schemas.codec import Codec
from schemas.records.state import AssetLifecycle
from schemas.records.state import RiskState
from schemas.registry import InMemoryRegistry
from schemas.scalars import DECIMAL_MAX
from schemas.scalars import INT_MAX
from schemas.scalars import INT_MIN
from schemas.scalars import LONG_MAX
from schemas.scalars import LONG_MIN
from schemas.topics import STATE_LIFECYCLE
from schemas.topics import STATE_RISK

CODEC = Codec(InMemoryRegistry())
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

decimals = st.one_of(
    st.decimals(DECIMAL_MAX.copy_negate(), DECIMAL_MAX, places=18),
    st.decimals(Decimal(-1), Decimal(1), places=30),
    st.integers(-(10**19), 10**19).map(Decimal),
    st.sampled_from([Decimal(0), Decimal("-0"), Decimal("1E+5"), Decimal("1e-18"), DECIMAL_MAX]),
).map(persistable)
"""Decimals as the reducers keep them: fitted to decimal(38, 18) with exactly 18 places."""
longs = st.integers(LONG_MIN, LONG_MAX)
ints = st.integers(INT_MIN, INT_MAX)
texts = st.text(max_size=12)
keys = st.builds(InstrumentKey, texts, texts)
kinds = st.sampled_from(TRADED_TYPES)

components = st.builds(CostComponents, *([decimals] * 7))
leg_funding = st.none() | st.builds(LegFundingCash, ints, decimals)
costs = st.builds(
    CostEstimate,
    size_base=decimals,
    notional_quote=decimals,
    horizon_ms=longs,
    quote=components,
    bps=components,
    rebate_quote=decimals,
    funding_received_quote=decimals,
    leg_funding=st.tuples(leg_funding, leg_funding),
    net_carry_per_hour_quote=decimals,
    break_even_hours=st.none() | decimals,
    break_even_intervals=st.none() | longs,
)
evaluations = st.builds(
    Evaluation,
    size_base=decimals,
    depth_size_base=decimals,
    costs=costs,
    gross_edge_quote=decimals,
    gross_edge_bps=decimals,
    gross_edge_apr=decimals,
    net_edge_quote=decimals,
    net_edge_bps=decimals,
    net_edge_apr=decimals,
    mid_spread_bps=decimals,
    funding=st.none() | st.builds(FundingDifferential, decimals, decimals, decimals),
    risk_score=decimals,
    urgency_ms=st.none() | longs,
    quote_ts_ms=st.tuples(longs, longs),
    mids=st.tuples(decimals, decimals),
    kinds=st.tuples(kinds, kinds),
)
opportunities = st.builds(
    TrackedOpportunity,
    id=texts,
    candidate=st.builds(Candidate, st.sampled_from(SPREAD_KINDS), keys, keys),
    opened_at_ms=longs,
    updated_at_ms=longs,
    evaluation=evaluations,
    carry_sign_at_open=st.sampled_from([-1, 0, 1]) | ints,
)
books = st.lists(opportunities, max_size=3).map(lambda o: OpportunityBook(tuple(o)))

limits = st.builds(
    Limits,
    max_symbol_notional_quote=decimals,
    max_venue_notional_quote=decimals,
    max_asset_notional_quote=decimals,
    max_total_notional_quote=decimals,
    max_leverage=decimals,
    margin_buffer=decimals,
    max_concurrent=longs,
    max_quote_age_ms=longs,
    min_notional_quote=decimals,
)
controls = st.builds(ControlState, limits, st.booleans(), st.none() | texts, st.none() | longs)
exposure_legs = st.lists(st.tuples(keys, decimals, decimals), max_size=3).map(tuple)
risk_states = st.builds(
    RiskBook,
    control=controls,
    clock_ms=longs,
    last_control=st.none() | st.tuples(longs, texts),
    exposures=st.dictionaries(texts, exposure_legs, max_size=3),
    decided=st.dictionaries(texts, texts, max_size=3),
    closed=st.lists(texts, max_size=5).map(lambda ids: deque(ids, maxlen=RECENTLY_CLOSED)),
)


@PROPERTY
@given(books, st.none() | longs)
def test_asset_lifecycle_round_trips_through_avro(book: OpportunityBook, last: int | None) -> None:
    value = CODEC.encode(
        AssetState(book=book, last_eval_ms=last).lifecycle_record(), STATE_LIFECYCLE
    )
    restored = AssetState()
    restored.load_lifecycle(CODEC.decode_as(value, AssetLifecycle))
    assert restored.book == book
    assert repr(restored.book) == repr(book)  # representation too: texts print the same digits
    assert restored.last_eval_ms == last


@PROPERTY
@given(risk_states)
def test_risk_state_round_trips_through_avro(state: RiskBook) -> None:
    value = CODEC.encode(state.to_record(), STATE_RISK)
    restored = RiskBook.from_record(CODEC.decode_as(value, RiskState))
    assert restored == state
    assert repr(restored) == repr(state)
    assert list(restored.exposures) == list(state.exposures)  # insertion order kept too
    assert list(restored.decided) == list(state.decided)
    assert restored.closed.maxlen == RECENTLY_CLOSED
