"""Tradable sizes: each venue's lot (contract size, amount step, minimums) and a common size.

Units: an order amount is in the venue's *amount unit*, contracts for a contract market and
base units for spot; ``contract_size_base`` converts (base = contracts * contract size). Every
figure a hedge compares is in base units, so a leg's step in base is
``amount_step * contract_size_base`` and its minimum ``min_amount * contract_size_base``.

Both legs of a trade hold the same base size, so that size must be a multiple of every leg's
base step: a multiple of their least common multiple, computed exactly on decimals
(``0.01`` and ``1`` give ``1``, ``0.3`` and ``0.2`` give ``0.6``). The tradable size is the
largest such multiple not above the wanted size; when it misses a leg's minimum amount or
minimum notional, nothing is tradable (zero), never a size one venue would refuse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Lot:
    """What one venue accepts as an order amount on one instrument."""

    contract_size_base: Decimal
    """Base units per contract (1 for spot and for venues quoting amounts in base)."""
    amount_step: Decimal | None = None
    """Increment of the order amount, in amount units; None when the venue states none."""
    min_amount: Decimal | None = None
    """Smallest order amount, in amount units."""
    min_notional_quote: Decimal | None = None
    """Smallest order value, in quote currency."""

    def __post_init__(self) -> None:
        if not (self.contract_size_base.is_finite() and self.contract_size_base > 0):
            raise ValueError(f"contract size must be positive, was {self.contract_size_base}")
        for name in ("amount_step", "min_amount", "min_notional_quote"):
            value = getattr(self, name)
            if value is not None and not (value.is_finite() and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, was {value}")

    @property
    def step_base(self) -> Decimal | None:
        """The amount step in base units (None or zero: any size)."""
        if self.amount_step is None or self.amount_step == 0:
            return None
        return self.amount_step * self.contract_size_base

    @property
    def min_base(self) -> Decimal:
        return ZERO if self.min_amount is None else self.min_amount * self.contract_size_base

    def contracts(self, size_base: Decimal) -> Decimal:
        """``size_base`` in this venue's amount unit (contracts)."""
        return size_base / self.contract_size_base

    def accepts(self, size_base: Decimal, price: Decimal) -> bool:
        """Whether an order of ``size_base`` at ``price`` is valid here."""
        step = self.step_base
        if size_base <= 0 or (step is not None and size_base % step != 0):
            return False
        if size_base < self.min_base:
            return False
        return self.min_notional_quote is None or size_base * price >= self.min_notional_quote


def common_step(steps: Sequence[Decimal]) -> Decimal | None:
    """Least common multiple of positive decimal steps, exactly (None for no step)."""
    if not steps:
        return None
    exponent = min(int(s.as_tuple().exponent) for s in steps)
    scale = Decimal(1).scaleb(exponent)
    multiple = 1
    for step in steps:
        units = int(step / scale)
        if units <= 0 or Decimal(units) * scale != step:
            raise ValueError(f"step must be positive, was {step}")
        multiple = math.lcm(multiple, units)
    return (Decimal(multiple) * scale).normalize()


def tradable_size(
    size_base: Decimal, lots: Sequence[Lot | None], prices: Sequence[Decimal]
) -> Decimal:
    """The largest base size not above ``size_base`` that every leg accepts, or zero.

    ``lots[i]`` and ``prices[i]`` describe leg ``i``; a leg whose lot is unknown (None) takes
    any size. The result is a multiple of every known base step and meets every minimum amount
    and notional; zero when none does (no trade)."""
    if size_base <= 0:
        return ZERO
    known = [lot for lot in lots if lot is not None]
    steps = [step for lot in known if (step := lot.step_base) is not None]
    unit = common_step(steps)
    size = size_base if unit is None else (size_base // unit) * unit
    if size <= 0:
        return ZERO
    for lot, price in zip(lots, prices, strict=True):
        if lot is not None and not lot.accepts(size, price):
            return ZERO
    return size
