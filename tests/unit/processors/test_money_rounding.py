"""Money is rounded half-even whatever the thread's decimal context: ccxt's
``decimal_to_precision`` leaves the calling thread rounding half-up (the executor calls ccxt
before it books fills and fees), and a quantize that follows the context would then round a
halfway value the other way than the backtest (which never calls ccxt) does."""

from __future__ import annotations

import decimal
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from processors.portfolio import _q
from schemas.scalars import QUANTUM

CCXT_CONTEXT = decimal.Context(rounding=decimal.ROUND_HALF_UP, traps=[decimal.Underflow])
HALFWAY = Decimal("0.0000000000000000025")  # half of the 18th place, after a 2


@given(st.integers(min_value=-(10**20), max_value=10**20))
def test_halfway_values_round_half_even_under_ccxts_context(units: int) -> None:
    value = Decimal(units) * QUANTUM + HALFWAY  # exactly halfway between two quanta
    with decimal.localcontext(decimal.Context()):
        reference = value.quantize(QUANTUM, decimal.ROUND_HALF_EVEN)
    with decimal.localcontext(CCXT_CONTEXT):
        assert _q(value) == reference


def test_twin_a_quantize_that_follows_the_context_rounds_the_other_way() -> None:
    value = HALFWAY
    with decimal.localcontext(CCXT_CONTEXT):
        assert value.quantize(QUANTUM) != _q(value)
