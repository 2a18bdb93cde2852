"""Properties of tradable sizes: a common multiple of every step, maximal, never refused."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from processors.lots import Lot
from processors.lots import common_step
from processors.lots import tradable_size

D = Decimal
steps = st.sampled_from([D("0.001"), D("0.01"), D("0.1"), D(1), D("0.5"), D("0.3"), D(10)])
contract_sizes = st.sampled_from([D(1), D("0.01"), D("0.001"), D(10), D("0.1")])
sizes = st.decimals(min_value=D(0), max_value=D(10_000), places=6)
lots = st.builds(
    Lot,
    contract_sizes,
    amount_step=st.one_of(st.none(), steps),
    min_amount=st.one_of(st.none(), st.sampled_from([D(0), D("0.01"), D(1)])),
    min_notional_quote=st.one_of(st.none(), st.sampled_from([D(5), D(100)])),
)
prices = st.decimals(min_value=D(1), max_value=D(100_000), places=2)


@given(st.lists(steps, min_size=1, max_size=4))
def test_common_step_is_the_least_common_multiple(values: list[Decimal]) -> None:
    unit = common_step(values)
    assert unit is not None
    assert all(unit % v == 0 for v in values)
    # no smaller common multiple on the grid of the finest step
    finest = min(values)
    k = 1
    while finest * k < unit:
        assert not all((finest * k) % v == 0 for v in values)
        k += 1


@given(sizes, lots, lots, prices, prices)
def test_tradable_size_is_accepted_by_both_legs_and_maximal(
    size: Decimal, a: Lot, b: Lot, pa: Decimal, pb: Decimal
) -> None:
    got = tradable_size(size, [a, b], [pa, pb])
    assert 0 <= got <= size
    if got > 0:
        assert a.accepts(got, pa)
        assert b.accepts(got, pb)
    known = [s for s in (a.step_base, b.step_base) if s is not None]
    unit = common_step(known)
    if unit is not None:
        assert got % unit == 0
        # maximal: the next multiple up is above the wanted size (or it was refused by a minimum)
        candidate = (size // unit) * unit
        assert got in (candidate, 0)
        if got == 0 and candidate > 0:
            assert not (a.accepts(candidate, pa) and b.accepts(candidate, pb))
    else:
        assert got in (size, 0)
