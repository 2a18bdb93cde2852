"""Property: the fast decimal(38, 18) fitting gives what the reference composition gives.

:func:`schemas.scalars.fit_decimal` reads whether a value has more than 18 places from its
exponent instead of its digits (``as_tuple``, kept as the reference path);
:func:`schemas.scalars.wire_decimal` quantizes once instead of fitting first and quantizing
again;
:func:`processors.units.persistable` walks each type by a plan made once instead of asking
``dataclasses`` for the fields of every value. Both must give the same value *and*
representation (``str``), and refuse the same inputs with the same error.
"""

from __future__ import annotations

import dataclasses
from collections import namedtuple
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN
from decimal import Decimal

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from processors.units import _fit_generic
from processors.units import persistable
from schemas.scalars import _CONTEXT
from schemas.scalars import DECIMAL_LIMIT
from schemas.scalars import QUANTUM
from schemas.scalars import _fit_decimal_by_digits
from schemas.scalars import fit_decimal
from schemas.scalars import wire_decimal

PROPERTY = settings(max_examples=400, deadline=None)


def reference_wire_decimal(value: Decimal) -> Decimal:
    """``wire_decimal`` as it was written first: fit, then quantize to exactly 18 places."""
    fitted = _fit_decimal_by_digits(value)
    fitted = fitted.quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=_CONTEXT)
    return fitted.copy_abs() if fitted.is_zero() else fitted


def _outcome(fn: object, value: object) -> tuple[str, str]:
    try:
        result = fn(value)  # type: ignore[operator]
    except Exception as e:  # the error is part of what must be equal
        return type(e).__name__, str(e)
    return "ok", repr(result)


decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(-DECIMAL_LIMIT * 2, DECIMAL_LIMIT * 2, places=25),
    st.builds(
        lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
        st.integers(0, 1),
        st.lists(st.integers(0, 9), min_size=1, max_size=80),
        st.integers(-120, 60),
    ),
    st.sampled_from(
        [
            Decimal("-0"),
            Decimal("0E-30"),
            Decimal("-0E+5"),
            Decimal("1.0000000000000000000"),
            Decimal("99999999999999999999.9999999999999999994"),
            Decimal("99999999999999999999.9999999999999999995"),
            Decimal("-99999999999999999999.9999999999999999995"),
            DECIMAL_LIMIT,
            Decimal("sNaN"),
            Decimal("NaN"),
            Decimal("1E+999990"),
            Decimal("-1E-999990"),
            Decimal("1" * 90 + "E-100"),
            Decimal("1" * 90 + "E-60"),
            Decimal("5" + "0" * 80 + "E-99"),
            Decimal("0E-1000"),
            Decimal("-Infinity"),
        ]
    ),
)


@PROPERTY
@given(decimals)
def test_fit_decimal_equals_the_reference(value: Decimal) -> None:
    assert _outcome(fit_decimal, value) == _outcome(_fit_decimal_by_digits, value)


@PROPERTY
@given(decimals)
def test_wire_decimal_equals_the_reference(value: Decimal) -> None:
    assert _outcome(wire_decimal, value) == _outcome(reference_wire_decimal, value)


@dataclass(frozen=True, slots=True)
class Leg:
    price: Decimal
    note: str
    count: int | None = None


@dataclass(frozen=True)
class Figures:
    legs: tuple[Leg, ...]
    total: Decimal
    best: Leg | None = None


@dataclass(frozen=True)
class Derived:
    value: Decimal
    twice: Decimal = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "twice", self.value * 2)


class Rate(Decimal):
    pass


Pair = namedtuple("Pair", "a b")

finite = decimals.filter(lambda d: d.is_finite())
legs = st.builds(Leg, decimals, st.text(max_size=3), st.none() | st.integers())
values = st.recursive(
    st.one_of(decimals, legs, st.integers(), st.none(), st.text(max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(tuple),
        st.builds(Figures, st.lists(legs, max_size=3).map(tuple), decimals, st.none() | legs),
        st.builds(Pair, inner, inner),
        st.builds(Derived, finite),
        finite.map(Rate),
    ),
    max_leaves=12,
)


@PROPERTY
@given(values)
def test_persistable_equals_the_generic_walk(value: object) -> None:
    assert _outcome(persistable, value) == _outcome(_fit_generic, value)
