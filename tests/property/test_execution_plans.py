"""Execution plans, properties: children sum to the target (up to less than a lot or the
minimum), every child is a size the venue accepts, VWAP follows the volume profile, and an
iceberg never shows more than its display size."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from processors.execution_plans import LegTerms
from processors.execution_plans import PlanSpec
from processors.execution_plans import min_units
from processors.execution_plans import plan
from processors.execution_plans import split_units
from processors.execution_plans import volume_profile
from processors.lots import Lot
from processors.protective_prices import protective_limit
from processors.units import Book
from processors.units import BookLevel
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import Side
from schemas.records.execution import ExecutionPlan
from schemas.records.execution import PlanKind
from schemas.records.md import Trade

D = Decimal
START = 1_767_225_600_000
INS = InstrumentRef(exchange="sim-okx", symbol="ETH/USDT:USDT", market_type=MarketType.PERP)

steps = st.sampled_from([D("0.001"), D("0.01"), D("0.1"), D("1")])
contract_sizes = st.sampled_from([D("1"), D("0.1"), D("0.01"), D("10")])


@st.composite
def lots(draw: st.DrawFn) -> Lot:
    contract = draw(contract_sizes)
    step = draw(steps)
    return Lot(
        contract_size_base=contract,
        amount_step=step,
        min_amount=step * draw(st.integers(1, 5)),
        min_notional_quote=draw(st.sampled_from([None, D("5"), D("50")])),
    )


@st.composite
def legs(draw: st.DrawFn) -> LegTerms:
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    price = D(draw(st.integers(1_000, 400_000))) / 100
    return LegTerms(
        side=side, lot=draw(lots()), tick=D("0.01"), expected_price=price,
        protective_price=protective_limit(side, price, D(50), D("0.01")),
    )  # fmt: skip


def _target(data: st.DataObject, leg: LegTerms) -> Decimal:
    step = leg.lot.step_base
    assert step is not None
    return step * data.draw(st.integers(0, 2_000)) + step * D(data.draw(st.integers(0, 99))) / 100


def _book(leg: LegTerms, sizes: list[int]) -> Book:
    step = leg.lot.step_base
    assert step is not None
    p, tick = leg.expected_price, D("0.01")
    asks = tuple(BookLevel(p + tick * i, step * s) for i, s in enumerate(sizes))
    bids = tuple(BookLevel(p - tick * (i + 1), step * s) for i, s in enumerate(sizes))
    return Book(bids=bids, asks=asks, ts_ms=START)


def _trade(at: int, size: Decimal) -> Trade:
    return Trade(
        envelope=Envelope(event_id=f"t{at}", event_time_ms=at, ingest_time_ms=at),
        instrument=INS, side=Side.BUY, price=D("3300"), size_base=size,
    )  # fmt: skip


def _check_children(entry: ExecutionPlan, leg: LegTerms, target: Decimal) -> None:
    step = leg.lot.step_base
    assert step is not None
    total = sum((c.size_base for c in entry.children), D(0))
    assert total + entry.remainder_base == target
    for child in entry.children:
        price = child.limit_price or leg.expected_price
        assert leg.lot.accepts(child.size_base, price), (child.size_base, price)
        if child.limit_price is not None:
            assert child.limit_price % D("0.01") == 0


KINDS = [PlanKind.MARKET, PlanKind.IOC, PlanKind.FOK, PlanKind.LIMIT, PlanKind.POST_ONLY]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_children_sum_to_the_target_and_each_is_a_valid_size(data: st.DataObject) -> None:
    leg = data.draw(legs())
    target = _target(data, leg)
    kind = data.draw(st.sampled_from([*KINDS, PlanKind.TWAP, PlanKind.VWAP, PlanKind.ICEBERG]))
    step = leg.lot.step_base
    assert step is not None
    spec = PlanSpec(
        kind=kind,
        slices=data.draw(st.integers(1, 12)),
        duration_ms=data.draw(st.integers(1_000, 600_000)),
        display_size_base=step * data.draw(st.integers(1, 400)),
    )
    trades = [_trade(START - 1 - i * 997, step * (i % 7)) for i in range(50)]
    entry = plan(spec, target, leg, start_ms=START, trades=trades)
    _check_children(entry, leg, target)
    least = min_units(leg.lot, step, leg.protective_price) * step
    # what is not planned is below a step, or the whole target is below the minimum
    assert (
        entry.remainder_base < step
        or (not entry.children and target < least + step)
        or (kind is PlanKind.ICEBERG and entry.remainder_base < least)
    )
    releases = [c.release_ms for c in entry.children]
    assert releases == sorted(releases)
    assert all(START <= r < START + max(spec.duration_ms, 1) for r in releases)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_an_iceberg_never_shows_more_than_its_display_size(data: st.DataObject) -> None:
    leg = data.draw(legs())
    target = _target(data, leg)
    step = leg.lot.step_base
    assert step is not None
    least = min_units(leg.lot, step, leg.protective_price)
    display = step * data.draw(st.integers(least, least + 300))
    spec = PlanSpec(kind=PlanKind.ICEBERG, display_size_base=display, duration_ms=60_000)
    entry = plan(spec, target, leg, start_ms=START)
    _check_children(entry, leg, target)
    assert all(c.size_base <= display for c in entry.children)
    assert entry.remainder_base < least * step  # only a rest below the minimum is left


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 10_000),
    st.lists(st.integers(0, 1_000), min_size=1, max_size=20),
)
def test_split_units_is_exact_and_within_one_unit_of_each_share(
    units: int, weights: list[int]
) -> None:
    parts = split_units(units, [D(w) for w in weights])
    total = sum(weights)
    if total == 0:
        assert parts == [0] * len(weights)
        return
    assert sum(parts) == units
    for part, w in zip(parts, weights, strict=True):
        assert abs(part - D(units) * w / total) < 1


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 500), min_size=2, max_size=10),
    st.integers(50, 3_000),
)
def test_vwap_children_follow_the_trade_volume_profile(volumes: list[int], units: int) -> None:
    n = len(volumes)
    part = 6_000
    duration = n * part
    step = D("0.01")
    leg = LegTerms(
        side=Side.BUY, lot=Lot(D(1), step, step), tick=D("0.01"),
        expected_price=D("3300"), protective_price=D("3316.5"),
    )  # fmt: skip
    trades = [
        _trade(START - duration + i * part + k, step * v)
        for i, v in enumerate(volumes)
        for k in (0, part // 2)
    ]
    assert volume_profile(trades, n, START, duration) == [step * 2 * v for v in volumes]
    entry = plan(
        PlanSpec(kind=PlanKind.VWAP, slices=n, duration_ms=duration),
        step * units, leg, start_ms=START, trades=trades,
    )  # fmt: skip
    total = sum(volumes)
    exact = [D(units) * v / total for v in volumes]
    releases = [START + i * part for i in range(n)]
    # min size is one step, so no slice is merged: every non-empty share is a child
    got = {c.release_ms: c.size_base / step for c in entry.children}
    assert sum(got.values()) == units
    for at, share in zip(releases, exact, strict=True):
        assert abs(got.get(at, D(0)) - share) < 1


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_levels_take_each_level_at_most_its_size_up_to_the_target(data: st.DataObject) -> None:
    leg = data.draw(legs())
    step = leg.lot.step_base
    assert step is not None
    sizes = data.draw(st.lists(st.integers(1, 200), min_size=1, max_size=8))
    book = _book(leg, sizes)
    target = _target(data, leg)
    entry = plan(PlanSpec(kind=PlanKind.LEVELS, slices=0), target, leg, start_ms=START, book=book)
    _check_children(entry, leg, target)
    levels = book.levels(leg.side)
    prices = [lv.price for lv in levels]
    taken = D(0)
    for child in entry.children:
        assert child.limit_price in prices
        depth = prices.index(child.limit_price)
        taken += child.size_base
        # a child never takes more than the levels up to its own (what it may fill there)
        assert taken <= sum((lv.size_base for lv in levels[: depth + 1]), D(0))
    assert len(entry.children) <= len(levels)
