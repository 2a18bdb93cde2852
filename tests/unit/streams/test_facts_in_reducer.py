"""Instrument facts in the market reducer: sizes on every venue's lot, the venue's own fees."""

from __future__ import annotations

from decimal import Decimal

import pytest

from benchmarks import synthetic as syn
from processors.market_state import MarketRecord
from processors.market_state import MarketReducer
from processors.settings import MarketSettings
from schemas.errors import InvalidEvent
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.md import FeeSource
from schemas.records.md import InstrumentFacts

T = 1_767_225_600_000
SYM = "AAA/USDT:USDT"
D = Decimal


def facts(
    venue: str,
    contract: str,
    *,
    step: str = "1",
    min_amount: str = "1",
    taker: str | None = None,
    t: int = T - 1_000,
    min_notional: str | None = None,
) -> InstrumentFacts:
    return InstrumentFacts(
        envelope=Envelope(
            event_id=f"facts-{venue}-{contract}-{t}", event_time_ms=t, ingest_time_ms=t
        ),
        instrument=InstrumentRef(exchange=venue, symbol=SYM, market_type=MarketType.PERP),
        venue_symbol="AAAUSDT",
        settle="USDT",
        contract_size_base=D(contract),
        amount_step=D(step),
        min_amount=D(min_amount),
        min_notional_quote=None if min_notional is None else D(min_notional),
        maker_fee=None if taker is None else D("0.0001"),
        taker_fee=None if taker is None else D(taker),
        fee_source=FeeSource.VENUE if taker is not None else FeeSource.UNKNOWN,
    )


def market(t: int = T) -> list[MarketRecord]:
    # mid 6000: the 10,000-quote notional cap wants 1.6666.. base, as in the 1.665973 BTC case
    return [
        syn.funding("ex-a", SYM, "0.0001", t, 1, mark="6000"),
        syn.funding("ex-b", SYM, "0.002", t, 1, mark="6000"),
        syn.book("ex-a", SYM, "6000", t + 1, 1),
        syn.book("ex-b", SYM, "6000", t + 2, 1),
    ]


def opened(records: list[MarketRecord]) -> Opportunity:
    reducer = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    events = [o for r in records for o in reducer.apply(r).opportunities]
    found = [e for e in events if e.lifecycle is Lifecycle.OPENED]
    assert len(found) == 1
    return found[0]


def test_without_facts_the_size_is_not_rounded() -> None:
    size = opened(market()).max_size_base
    assert D("1.66") < size < D("1.67")


def test_hundredth_contracts_against_whole_contracts_trade_one_whole_unit() -> None:
    opp = opened([facts("ex-a", "0.01"), facts("ex-b", "1"), *market()])
    assert opp.max_size_base == 1  # 100 contracts of 0.01 on ex-a, 1 contract on ex-b


def test_a_size_that_rounds_to_zero_is_no_opportunity() -> None:
    reducer = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    records = [facts("ex-a", "0.01"), facts("ex-b", "10"), *market()]
    events = [o for r in records for o in reducer.apply(r).opportunities]
    assert events == []  # 1.67 base cannot be a whole number of 10-unit contracts


def test_the_venue_s_fees_from_its_facts_price_the_leg() -> None:
    plain = opened(market())
    priced = opened([facts("ex-a", "1", step="0.001", taker="0.0009"), *market()])
    long_leg = priced.legs[0]
    assert long_leg.instrument.exchange == "ex-a"
    assert long_leg.fee_rate_bps == D(9)
    assert priced.costs.entry_fees_quote > plain.costs.entry_fees_quote


def test_a_worker_fee_override_wins_over_the_facts() -> None:
    from processors.settings import FeeRates

    settings = MarketSettings(
        min_eval_interval_ms=0, venue_fees={"ex-a": FeeRates(maker=D(0), taker=D("0.0003"))}
    )
    reducer = MarketReducer(settings)
    records = [facts("ex-a", "1", step="0.001", taker="0.0009"), *market()]
    events = [o for r in records for o in reducer.apply(r).opportunities]
    assert events[0].legs[0].fee_rate_bps == D(3)


def test_changed_facts_re_evaluate_and_unchanged_ones_do_not() -> None:
    reducer = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    for r in [facts("ex-a", "0.01"), facts("ex-b", "1"), *market()]:
        reducer.apply(r)
    same = facts("ex-b", "1", t=T + 10)  # republished after a restart: same facts, later
    assert reducer.apply(same).applied
    assert not reducer.apply(same).applied  # redelivery
    assert not reducer.apply(facts("ex-b", "1", t=T + 20)).evaluated
    bigger = reducer.apply(facts("ex-b", "1", t=T + 30, min_notional="1000000"))
    assert bigger.evaluated
    assert [o.lifecycle for o in bigger.opportunities] == [Lifecycle.CLOSED]


SPOT = "AAA/USDT"


def spot_facts(borrow: str | None, t: int = T - 1_000) -> InstrumentFacts:
    return InstrumentFacts(
        envelope=Envelope(event_id=f"facts-spot-{borrow}", event_time_ms=t, ingest_time_ms=t),
        instrument=InstrumentRef(exchange="ex-a", symbol=SPOT, market_type=MarketType.SPOT),
        venue_symbol="AAAUSDT",
        contract_size_base=D(1),
        amount_step=D("0.001"),
        borrow_rate=None if borrow is None else D(borrow),
        borrow_period_ms=None if borrow is None else 86_400_000,
    )


def reverse_market(t: int = T) -> list[MarketRecord]:
    # the perp's funding is negative (shorts pay longs): long perp, short spot
    return [
        syn.funding("ex-a", SYM, "-0.001", t, 1, mark="6000"),
        syn.book("ex-a", SPOT, "6000", t + 1, 1),
        syn.book("ex-a", SYM, "6000", t + 2, 1),
    ]


def reverse_opportunities(records: list[MarketRecord]) -> list[Opportunity]:
    reducer = MarketReducer(MarketSettings(min_eval_interval_ms=0, allow_short_spot=True))
    return [o for r in records for o in reducer.apply(r).opportunities]


def test_reverse_carry_needs_the_venue_s_borrow_rate() -> None:
    assert reverse_opportunities(reverse_market()) == []
    assert reverse_opportunities([spot_facts(None), *reverse_market()]) == []


def test_reverse_carry_pays_the_interest_on_the_borrowed_coins() -> None:
    (opp,) = reverse_opportunities([spot_facts("0.0006"), *reverse_market()])
    assert opp.legs[1].instrument.symbol == SPOT  # the short leg
    size = opp.max_size_base
    # 0.0006 a day = 0.000025 an hour of the spot mid 6000, 48 started hours over the horizon
    assert opp.costs.borrow_quote == D("0.000025") * 48 * size * 6000
    parts = (
        opp.costs.entry_fees_quote,
        opp.costs.exit_fees_quote,
        opp.costs.slippage_quote,
        opp.costs.funding_over_horizon_quote,
        opp.costs.spread_cost_to_close_quote,
        opp.costs.borrow_quote,
    )
    assert opp.costs.total_cost_quote == sum(parts, D(0))


def test_bad_facts_are_refused_and_the_asset_keeps_trading() -> None:
    reducer = MarketReducer(MarketSettings(min_eval_interval_ms=0, allow_short_spot=True))
    bad = spot_facts("0.0006").model_copy(update={"borrow_rate": D("-0.0001")})
    with pytest.raises(InvalidEvent, match="borrow rate"):
        reducer.apply(bad)
    no_period = spot_facts("0.0006").model_copy(update={"borrow_period_ms": None})
    with pytest.raises(InvalidEvent, match="borrow rate"):
        reducer.apply(no_period)
    applied = [reducer.apply(r) for r in market()]
    assert any(a.opportunities for a in applied)  # later books still evaluate
