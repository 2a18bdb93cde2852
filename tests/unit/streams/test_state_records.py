"""Reducer state as Avro records: exact round trips, and a restart that changes nothing."""

from __future__ import annotations

import dataclasses
from collections import deque
from decimal import Decimal

import pytest

from benchmarks import synthetic as syn
from processors.costs import CostEstimate
from processors.detection import Evaluation
from processors.market_state import AssetState
from processors.market_state import MarketReducer
from processors.opportunities import TrackedOpportunity
from processors.risk import ControlState
from processors.risk_state import RECENTLY_CLOSED
from processors.risk_state import Held
from processors.risk_state import RiskBook
from processors.risk_state import RiskReducer
from processors.settings import MarketSettings
from processors.settings import RiskSettings
from processors.sizing import Limits
from schemas.codec import Codec
from schemas.errors import InvalidEvent
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.ops import ControlAction
from schemas.records.ops import ControlCommand
from schemas.records.state import AssetLifecycle
from schemas.records.state import CandidateType
from schemas.records.state import RiskState
from schemas.registry import InMemoryRegistry
from schemas.topics import STATE_ASSET
from schemas.topics import STATE_LIFECYCLE
from schemas.topics import STATE_RISK
from schemas.topics import by_name
from streams.config import StreamsSettings
from streams.digest import state_digest
from streams.internal_topics import TABLES
from streams.internal_topics import changelog_name
from streams.internal_topics import internal_topics

CODEC = Codec(InMemoryRegistry())
T = 1_767_225_600_000


def restored_risk(state: RiskBook) -> RiskBook:
    value = CODEC.encode(state.to_record(), STATE_RISK)
    return RiskBook.from_record(CODEC.decode_as(value, RiskState))


def restored_asset(state: AssetState) -> AssetState:
    """An asset as the worker reloads it: its records and its lifecycle through the codec."""
    out = AssetState()
    for key, record in state.records.items():
        out.records[key] = CODEC.decode_as(CODEC.encode(record, _topic(record)), type(record))
    value = CODEC.encode(state.lifecycle_record(), STATE_LIFECYCLE)
    out.load_lifecycle(CODEC.decode_as(value, AssetLifecycle))
    return out


def _topic(record: object) -> str:
    return "md.book" if isinstance(record, BookSnapshot) else "md.funding"


def test_the_closed_window_keeps_its_bound_after_a_round_trip() -> None:
    state = RiskBook(RiskSettings().control_state())
    state.closed.extend(f"opp-{i}" for i in range(RECENTLY_CLOSED + 5))
    restored = restored_risk(state)
    assert restored.closed.maxlen == RECENTLY_CLOSED
    assert list(restored.closed) == [f"opp-{i}" for i in range(5, RECENTLY_CLOSED + 5)]
    restored.closed.append("newest")
    assert len(restored.closed) == RECENTLY_CLOSED
    assert restored.closed[0] == "opp-6"


def test_an_empty_risk_state_round_trips() -> None:
    state = RiskBook(RiskSettings().control_state())
    assert restored_risk(state) == state


def test_an_unknown_candidate_type_is_refused_not_guessed() -> None:
    market = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    for market_record in _divergence():
        market.apply(market_record)
    record = market.asset("AAA").lifecycle_record()
    (opp,) = record.open
    newer = record.model_copy(
        update={"open": (opp.model_copy(update={"candidate_type": CandidateType.UNKNOWN}),)}
    )
    with pytest.raises(InvalidEvent, match="newer schema"):
        AssetState().load_lifecycle(newer)


def _divergence(asset: str = "AAA") -> list[BookSnapshot | FundingRateUpdate]:
    symbol = f"{asset}/USDT:USDT"
    return [
        syn.funding("ex-a", symbol, "0.0001", T, 1),
        syn.funding("ex-b", symbol, "0.002", T, 1),
        syn.book("ex-a", symbol, "100", T + 1, 1),
        syn.book("ex-b", symbol, "100", T + 2, 1),
    ]


def test_a_market_restart_from_the_tables_changes_nothing() -> None:
    """Half the feed, restore every asset from its records, the other half: same output."""
    settings = MarketSettings()
    feed = [record for _, record in syn.random_walk(1_200)]
    half = len(feed) // 2
    straight = MarketReducer(settings)
    expected = [straight.apply(r) for r in feed]
    first = MarketReducer(settings)
    for r in feed[:half]:
        first.apply(r)
    saved = {asset: restored_asset(state) for asset, state in first.assets.items()}
    for asset, state in first.assets.items():
        assert saved[asset].book == state.book
        assert saved[asset].last_eval_ms == state.last_eval_ms
    second = MarketReducer(settings, saved.get)
    got = [second.apply(r) for r in feed[half:]]
    assert got == expected[half:]
    assert sum(len(a.opportunities) for a in got) > 0, "the feed should move opportunities"
    risk = RiskBook(RiskSettings().control_state())
    assert state_digest(second.assets, risk) == state_digest(straight.assets, risk)


def test_a_risk_restart_from_its_table_changes_nothing() -> None:
    """Risk decisions after a restored state equal those of an uninterrupted reducer."""
    market = MarketReducer(MarketSettings())
    opportunities = [o for _, r in syn.random_walk(1_500) for o in market.apply(r).opportunities]
    assert any(o.lifecycle is Lifecycle.OPENED for o in opportunities)
    assert any(o.lifecycle is Lifecycle.CLOSED for o in opportunities)
    limit = syn.control(
        ControlAction.LIMIT_CHANGE, T + 1, name="max_symbol_notional_quote", value="1234.5678"
    )
    inputs: list[Opportunity | ControlCommand] = [limit, *opportunities]
    settings = RiskSettings(max_leverage=Decimal(3))
    straight = RiskReducer(settings)
    expected = [straight.apply(r) for r in inputs]
    half = len(inputs) // 2
    first = RiskReducer(settings)
    for r in inputs[:half]:
        first.apply(r)
    second = RiskReducer(settings, restored_risk(first.state))
    assert second.state == first.state
    assert [second.apply(r) for r in inputs[half:]] == expected[half:]
    assert second.state == straight.state
    assert any(d is not None for _, d in expected[half:])


# Guard: the state schema must follow the dataclasses it persists. A new field in one of them
# fails here: add it to schemas/avro/state/*.avsc (with a default), regenerate and convert it in
# processors/snapshots.py (and release the schema).
PERSISTED_FIELDS = {
    TrackedOpportunity: {
        "id",
        "candidate",
        "opened_at_ms",
        "updated_at_ms",
        "evaluation",
        "carry_sign_at_open",
    },
    Evaluation: {
        "size_base",
        "depth_size_base",
        "costs",
        "gross_edge_quote",
        "gross_edge_bps",
        "gross_edge_apr",
        "net_edge_quote",
        "net_edge_bps",
        "net_edge_apr",
        "mid_spread_bps",
        "funding",
        "risk_score",
        "urgency_ms",
        "quote_ts_ms",
        "mids",
        "kinds",
    },
    CostEstimate: {
        "size_base",
        "notional_quote",
        "horizon_ms",
        "quote",
        "bps",
        "rebate_quote",
        "funding_received_quote",
        "leg_funding",
        "net_carry_per_hour_quote",
        "break_even_hours",
        "break_even_intervals",
    },
    Limits: {
        "max_symbol_notional_quote",
        "max_venue_notional_quote",
        "max_asset_notional_quote",
        "max_total_notional_quote",
        "max_leverage",
        "margin_buffer",
        "max_concurrent",
        "max_quote_age_ms",
        "min_notional_quote",
    },
    ControlState: {"limits", "kill_switch", "kill_reason", "last_command_ms"},
    RiskBook: {
        "control",
        "clock_ms",
        "last_control",
        "exposures",
        "decided",
        "closed",
        "positions",
        "fills",
    },
    Held: {"kind", "net_size_base", "price"},
    AssetState: {"records", "book", "last_eval_ms", "views", "raw", "applied", "encoded_lifecycle"},
}


@pytest.mark.parametrize("cls", list(PERSISTED_FIELDS), ids=lambda c: c.__name__)
def test_the_state_schema_covers_every_field_of_the_persisted_types(cls: type) -> None:
    assert {f.name for f in dataclasses.fields(cls)} == PERSISTED_FIELDS[cls]


def test_a_restored_closed_window_is_a_bounded_deque() -> None:
    state = restored_risk(RiskBook(ControlState(RiskSettings().control_state().limits)))
    assert isinstance(state.closed, deque)
    assert state.closed.maxlen == RECENTLY_CLOSED


def test_a_limit_change_is_kept_as_the_state_record_holds_it() -> None:
    reducer = RiskReducer(RiskSettings())
    change = syn.control(
        ControlAction.LIMIT_CHANGE, T, name="max_leverage", value="2.1234567890123456789012"
    )
    reducer.apply(change)
    kept = reducer.state.control.limits.max_leverage
    assert repr(kept) == "Decimal('2.123456789012345679')"
    assert restored_risk(reducer.state) == reducer.state


def test_a_limit_the_state_record_cannot_hold_is_refused() -> None:
    reducer = RiskReducer(RiskSettings())
    for name, value in [("max_leverage", "1e20"), ("max_concurrent", "1e19")]:
        with pytest.raises(InvalidEvent, match="INVALID_LIMIT"):
            reducer.apply(syn.control(ControlAction.LIMIT_CHANGE, T, name=name, value=value))


def test_state_subjects_match_the_tables_that_hold_them() -> None:
    settings = StreamsSettings()
    changelogs = {t.name: t for t in internal_topics(settings)}
    for spec, table in ((by_name(STATE_ASSET), "assets"), (by_name(STATE_RISK), "risk")):
        changelog = changelogs[changelog_name(settings, TABLES[table])]
        assert (changelog.partitions, changelog.cleanup_policy) == (spec.partitions, "compact")
