"""Python types for Avro scalars, with the range checks the wire format needs.

``AvroDecimal`` is the one decimal type of every schema: Avro ``bytes`` with logical type
decimal, precision 38, scale 18. Values with more than 18 decimal places are rounded
half-even on construction (computed fees and products easily carry 30+ places); values that
cannot fit 38 digits, NaN and infinities are refused.
"""

from __future__ import annotations

from decimal import MAX_EMAX
from decimal import MAX_PREC
from decimal import MIN_EMIN
from decimal import ROUND_HALF_EVEN
from decimal import Context
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator
from pydantic import Field

DECIMAL_PRECISION = 38
DECIMAL_SCALE = 18
QUANTUM = Decimal(1).scaleb(-DECIMAL_SCALE)
DECIMAL_LIMIT = Decimal(10) ** (DECIMAL_PRECISION - DECIMAL_SCALE)
_NEG_LIMIT = -DECIMAL_LIMIT
DECIMAL_MAX = Decimal("9" * (DECIMAL_PRECISION - DECIMAL_SCALE) + "." + "9" * DECIMAL_SCALE)
_CONTEXT = Context(prec=2 * DECIMAL_PRECISION)
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""Moves an exponent without rounding any coefficient."""
LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1


def fit_decimal(value: Decimal) -> Decimal:
    """Round ``value`` half-even to 18 places; refuse what decimal(38, 18) cannot hold.

    Whether ``value`` has more than 18 places is read from its exponent without reading its
    digits: exactly 18 (``same_quantum``), or else moved up by 18 places, whether it is a whole
    number as written (``to_integral_value`` keeps a non-negative exponent as it is)."""
    if value.is_finite():
        try:
            if not value.same_quantum(QUANTUM):
                moved = value.scaleb(DECIMAL_SCALE, _EXACT)
                if not moved.same_quantum(moved.to_integral_value(context=_EXACT)):
                    value = value.quantize(QUANTUM, ROUND_HALF_EVEN, _CONTEXT)
        except ArithmeticError:
            pass
        else:
            if _NEG_LIMIT < value < DECIMAL_LIMIT:
                return value
    return _fit_decimal_by_digits(value)


def _fit_decimal_by_digits(value: Decimal) -> Decimal:
    """:func:`fit_decimal` read from the digits: the reference, and the path that raises."""
    if not value.is_finite():
        raise ValueError(f"expected a finite decimal, was {value}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -DECIMAL_SCALE:
        value = value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=_CONTEXT)
    if value.copy_abs() >= DECIMAL_LIMIT:
        raise ValueError(f"expected fewer than 20 integer digits, was {value}")
    return value


def wire_decimal(value: Decimal) -> Decimal:
    """``value`` exactly as decimal(38, 18) decodes it: fitted (:func:`fit_decimal`), with
    exactly 18 places, zero without a sign. Equal to ``value`` in value *and* representation
    after an Avro round trip (``str`` included), which plain equality does not promise.

    One half-even quantize to 18 places: the same value as fitting first (rounding to 18
    places twice is rounding once), without reading the digits; anything that one quantize
    does not cover (not finite, too many digits, 20+ integer digits) takes the fitting path,
    which raises its error."""
    if value.is_finite():
        try:
            fitted = value.quantize(QUANTUM, ROUND_HALF_EVEN, _CONTEXT)
        except ArithmeticError:
            pass
        else:
            if _NEG_LIMIT < fitted < DECIMAL_LIMIT:
                return fitted.copy_abs() if fitted.is_zero() else fitted
    fitted = fit_decimal(value).quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=_CONTEXT)
    return fitted.copy_abs() if fitted.is_zero() else fitted


AvroDecimal = Annotated[Decimal, AfterValidator(fit_decimal)]
"""Avro decimal(38, 18); see :func:`fit_decimal`."""

Long = Annotated[int, Field(ge=LONG_MIN, le=LONG_MAX)]
"""Avro long: a signed 64-bit integer."""

Int = Annotated[int, Field(ge=INT_MIN, le=INT_MAX)]
"""Avro int: a signed 32-bit integer."""

Float = Annotated[float, Field(allow_inf_nan=False)]
"""Avro float or double, finite only (NaN would break equality and replay digests)."""
