"""The market and risk reducers: lifecycle, idempotency, throttling, every risk limit kind."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from benchmarks import synthetic as syn
from processors.market_state import MarketRecord
from processors.market_state import MarketReducer
from processors.risk_state import RiskReducer
from processors.settings import MarketSettings
from processors.settings import RiskSettings
from schemas.errors import InvalidEvent
from schemas.fixed_point import ask_levels
from schemas.fixed_point import bid_levels
from schemas.fixed_point import book_snapshot
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.common import PriceLevel
from schemas.records.md import BookSnapshot
from schemas.records.ops import ControlAction
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from schemas.records.risk import RiskReasonCode as Code

T = 1_767_225_600_000
SYM = "AAA/USDT:USDT"


def divergence(t: int = T, asset: str = "AAA", long_venue: str = "ex-a") -> list[MarketRecord]:
    symbol = f"{asset}/USDT:USDT"
    return [
        syn.funding(long_venue, symbol, "0.0001", t, 1),
        syn.funding("ex-b", symbol, "0.002", t, 1),
        syn.book(long_venue, symbol, "100", t + 1, 1),
        syn.book("ex-b", symbol, "100", t + 2, 1),
    ]


def opportunities(reducer: MarketReducer, records: list[MarketRecord]) -> list[Opportunity]:
    return [o for r in records for o in reducer.apply(r).opportunities]


def test_funding_divergence_opens_updates_and_closes_one_perp_perp() -> None:
    m = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    events = opportunities(m, divergence())
    events += opportunities(m, [syn.book("ex-a", SYM, "100.01", T + 500, 2)])
    events += opportunities(m, [syn.funding("ex-b", SYM, "0.0001", T + 600, 2)])
    assert [e.lifecycle for e in events] == [Lifecycle.OPENED, Lifecycle.UPDATED, Lifecycle.CLOSED]
    assert len({e.opportunity_id for e in events}) == 1
    assert events[0].net_apr_bps > 1000
    assert events[2].close_reason is not None


def test_a_redelivered_or_older_record_changes_nothing() -> None:
    m = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    records = divergence()
    opportunities(m, records)
    for r in records:
        applied = m.apply(r)
        assert not applied.applied
        assert not applied.opportunities
    older = syn.book("ex-a", SYM, "90", T - 10, 7)
    assert not m.apply(older).applied


def test_the_order_of_one_asset_s_records_decides_nothing_but_the_open_time() -> None:
    a, b = (
        MarketReducer(MarketSettings(min_eval_interval_ms=0)),
        MarketReducer(MarketSettings(min_eval_interval_ms=0)),
    )
    records = divergence()
    assert len(opportunities(a, records)) == len(opportunities(b, list(reversed(records)))) == 1


def test_evaluation_is_throttled_by_event_time() -> None:
    m = MarketReducer(MarketSettings(min_eval_interval_ms=1_000))
    evaluated = [m.apply(r).evaluated for r in divergence()]
    assert evaluated == [True, False, False, False]
    late = syn.book("ex-a", SYM, "100.02", T + 1_500, 2)
    assert m.apply(late).evaluated


def test_an_unchanged_touch_does_not_re_evaluate() -> None:
    m = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    opportunities(m, divergence())
    same = syn.book("ex-b", SYM, "100", T + 50, 2)
    applied = m.apply(same)
    assert applied.applied
    assert not applied.evaluated


def _with(
    book: BookSnapshot,
    bids: tuple[PriceLevel, ...] | None = None,
    asks: tuple[PriceLevel, ...] | None = None,
) -> BookSnapshot:
    """``book`` with one side replaced (in whichever form the values fit)."""
    return book_snapshot(
        envelope=book.envelope,
        instrument=book.instrument,
        depth=book.depth,
        bids=bid_levels(book) if bids is None else bids,
        asks=ask_levels(book) if asks is None else asks,
    )


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: _with(b, bids=()), "EMPTY_BOOK"),
        (
            lambda b: _with(b, bids=(PriceLevel(price=Decimal(200), size_base=Decimal(1)),)),
            "CROSSED_BOOK",
        ),
        (
            lambda b: _with(b, asks=(PriceLevel(price=Decimal(101), size_base=Decimal(0)),)),
            "NON_POSITIVE_SIZE",
        ),
        (
            # beyond int64 at 9 places: travels as decimal levels, checked the same way
            lambda b: _with(
                b, bids=(PriceLevel(price=Decimal("12345678901.123456789"), size_base=Decimal(1)),)
            ),
            "CROSSED_BOOK",
        ),
    ],
)
def test_a_bad_book_is_refused_with_a_dead_letter_reason(
    mutate: Callable[[BookSnapshot], BookSnapshot], reason: str
) -> None:
    m = MarketReducer(MarketSettings())
    with pytest.raises(InvalidEvent) as refused:
        m.apply(mutate(syn.book("ex-a", SYM, "100", T, 1)))
    assert refused.value.reason == reason
    assert "AAA" not in m.assets


def _opened(asset: str, long_venue: str = "ex-a", t: int = T) -> Opportunity:
    m = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    (opened,) = opportunities(m, divergence(t, asset, long_venue))
    return opened


def _codes(decision: RiskDecision) -> set[Code]:
    return {r.code for r in decision.reasons}


def test_risk_approves_then_decides_once_and_releases_on_close() -> None:
    r = RiskReducer(RiskSettings())
    opened = _opened("AAA")
    changed, decision = r.apply(opened)
    assert changed
    assert decision is not None
    assert decision.outcome is RiskOutcome.APPROVED
    assert decision.approved_size_base > 0
    assert r.apply(opened) == (False, None)  # redelivered: decided once
    closed = opened.model_copy(update={"lifecycle": Lifecycle.CLOSED})
    assert r.apply(closed) == (True, None)
    assert not r.state.exposures
    assert r.apply(opened) == (False, None)  # a late duplicate of a closed one


@pytest.mark.parametrize(
    ("code", "limit", "value", "venue"),
    [
        (Code.SYMBOL_LIMIT_EXCEEDED, "max_symbol_notional_quote", "1", "ex-a"),
        (Code.VENUE_LIMIT_EXCEEDED, "max_venue_notional_quote", "1", "ex-a"),
        (Code.ASSET_LIMIT_EXCEEDED, "max_asset_notional_quote", "1", "ex-a"),
        (Code.TOTAL_LIMIT_EXCEEDED, "max_total_notional_quote", "1", "ex-a"),
        (Code.MAX_CONCURRENT_EXCEEDED, "max_concurrent", "0", "ex-a"),
        (Code.INSUFFICIENT_LIQUIDITY, "min_notional_quote", "1000000", "ex-a"),
        (Code.INSUFFICIENT_BALANCE, None, None, "ex-poor"),
        (Code.KILL_SWITCH_ENGAGED, None, None, "ex-a"),
    ],
)
def test_risk_rejects_each_limit_kind(
    code: Code, limit: str | None, value: str | None, venue: str
) -> None:
    r = RiskReducer(RiskSettings(balances_quote={"ex-poor": Decimal(1)}))
    if limit is not None:
        r.apply(syn.control(ControlAction.LIMIT_CHANGE, T - 10, name=limit, value=value))
    if code is Code.KILL_SWITCH_ENGAGED:
        r.apply(syn.control(ControlAction.KILL_SWITCH_ENGAGE, T - 10))
    _, decision = r.apply(_opened("AAA", venue))
    assert decision is not None
    assert decision.outcome is RiskOutcome.REJECTED
    assert code in _codes(decision)
    assert decision.approved_size_base == 0


def test_risk_rejects_a_stale_opportunity_by_the_event_clock() -> None:
    r = RiskReducer(RiskSettings())
    r.apply(syn.control(ControlAction.PARAMETER_CHANGE, T + 3_600_000, name="x", value="1"))
    _, decision = r.apply(_opened("AAA"))
    assert decision is not None
    assert Code.STALE_MARKET_DATA in _codes(decision)


def _opened_with_a_lagging_leg() -> Opportunity:
    """OPENED at T + 4001, when ex-b's book arrives; ex-a's book is from T + 1 (4 s old)."""
    m = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    records: list[MarketRecord] = [
        syn.funding("ex-a", SYM, "0.0001", T, 1),
        syn.funding("ex-b", SYM, "0.002", T, 1),
        syn.book("ex-a", SYM, "100", T + 1, 1),
        syn.book("ex-b", SYM, "100", T + 4_001, 1),
    ]
    (opened,) = opportunities(m, records)
    assert opened.envelope.event_time_ms == T + 4_001
    assert [leg.quote_time_ms for leg in opened.legs] == [T + 1, T + 4_001]
    return opened


@pytest.mark.parametrize(("clock", "stale"), [(T + 6_001, True), (T + 5_001, False)])
def test_risk_measures_each_legs_quote_age_not_the_records(clock: int, stale: bool) -> None:
    # the risk clock runs 2 s (1 s) past the record: the record is fresh, ex-a's quote is
    # 6 s (5 s) old against max_quote_age_ms = 5 s
    r = RiskReducer(RiskSettings())
    assert r.state.control.limits.max_quote_age_ms == 5_000
    r.apply(syn.control(ControlAction.PARAMETER_CHANGE, clock, name="x", value="1"))
    _, decision = r.apply(_opened_with_a_lagging_leg())
    assert decision is not None
    if stale:
        assert decision.outcome is RiskOutcome.REJECTED
        assert [(c.code, c.detail) for c in decision.reasons] == [
            (Code.STALE_MARKET_DATA, f"ex-a:{SYM} quote is 6000 ms old")
        ]
    else:
        assert decision.outcome is RiskOutcome.APPROVED, decision.reasons


def test_a_refused_opportunity_leaves_the_risk_state_as_it_was() -> None:
    r = RiskReducer(RiskSettings())
    opened = _opened("AAA")
    one_leg = opened.model_copy(update={"legs": opened.legs[:1]})
    before = r.state.to_record()
    with pytest.raises(InvalidEvent):
        r.apply(one_leg)
    assert r.state.to_record() == before


def test_control_commands_apply_once_in_order() -> None:
    r = RiskReducer(RiskSettings())
    engage = syn.control(ControlAction.KILL_SWITCH_ENGAGE, T)
    release = syn.control(ControlAction.KILL_SWITCH_RELEASE, T + 1)
    r.apply(engage)
    r.apply(release)
    assert r.apply(engage) == (False, None)  # redelivered after the release: ignored
    assert not r.state.control.kill_switch


def test_an_unknown_limit_is_refused() -> None:
    r = RiskReducer(RiskSettings())
    with pytest.raises(InvalidEvent):
        r.apply(syn.control(ControlAction.LIMIT_CHANGE, T, name="nope", value="1"))
