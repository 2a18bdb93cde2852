"""Position sizing under limits, balances and depth.

The size of a multi-leg trade is the same base amount on every leg, the minimum of caps that
are each monotone non-decreasing in their input (depth, a limit, a balance), so the result is
monotone too. Exposure is gross: every leg adds ``size * price`` to its symbol, venue, asset
and the total, whatever its direction (a hedge is not netted for limits).

Margin per unit of base: ``price / max_leverage`` for a perp, the full ``price`` for spot;
usable balance per venue is ``available * (1 - margin_buffer)``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from processors.units import ONE
from processors.units import ZERO
from processors.units import InstrumentKey
from schemas.records.common import MarketType
from schemas.records.risk import RiskReasonCode


@dataclass(frozen=True, slots=True)
class Limits:
    max_symbol_notional_quote: Decimal
    max_venue_notional_quote: Decimal
    max_asset_notional_quote: Decimal
    max_total_notional_quote: Decimal
    max_leverage: Decimal = ONE
    margin_buffer: Decimal = Decimal("0.2")
    """Fraction of each venue's available balance never committed."""
    max_concurrent: int = 10
    max_quote_age_ms: int = 5_000
    min_notional_quote: Decimal = Decimal(10)
    """A size below this notional on the reference price is rejected as too small."""


@dataclass(frozen=True, slots=True)
class Portfolio:
    """What is already committed: gross notional per instrument, free balance per venue."""

    exposures_quote: Mapping[InstrumentKey, Decimal] = field(default_factory=dict)
    available_balance_quote: Mapping[str, Decimal] = field(default_factory=dict)
    open_opportunities: int = 0


@dataclass(frozen=True, slots=True)
class SizingLeg:
    instrument: InstrumentKey
    kind: MarketType
    price: Decimal


@dataclass(frozen=True, slots=True)
class SizeCap:
    code: RiskReasonCode
    detail: str
    cap_base: Decimal


@dataclass(frozen=True, slots=True)
class SizeCaps:
    caps: tuple[SizeCap, ...]

    @property
    def size_base(self) -> Decimal:
        return min((c.cap_base for c in self.caps), default=ZERO)

    @property
    def binding(self) -> SizeCap | None:
        return min(self.caps, key=lambda c: c.cap_base, default=None)


def _headroom_caps(
    code: RiskReasonCode,
    legs: Sequence[SizingLeg],
    group: Callable[[InstrumentKey], str],
    exposure: Mapping[str, Decimal],
    limit: Decimal,
) -> Iterable[SizeCap]:
    per_unit: dict[str, Decimal] = {}
    for leg in legs:
        name = group(leg.instrument)
        per_unit[name] = per_unit.get(name, ZERO) + leg.price
    for name in sorted(per_unit):
        used = exposure.get(name, ZERO)
        cap = max((limit - used) / per_unit[name], ZERO)
        yield SizeCap(code, f"{name}: {used} of {limit} quote used", cap)


def _grouped(
    exposures: Mapping[InstrumentKey, Decimal], group: Callable[[InstrumentKey], str]
) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for key, value in exposures.items():
        out[group(key)] = out.get(group(key), ZERO) + abs(value)
    return out


def size_caps(
    legs: Sequence[SizingLeg], depth_size_base: Decimal, portfolio: Portfolio, limits: Limits
) -> SizeCaps:
    """Every cap on the common base size of ``legs``, with the reason it exists."""
    exposures = portfolio.exposures_quote
    caps = [
        SizeCap(
            RiskReasonCode.INSUFFICIENT_LIQUIDITY,
            "depth within the slippage bound",
            max(depth_size_base, ZERO),
        )
    ]
    groups: tuple[tuple[RiskReasonCode, Callable[[InstrumentKey], str], Decimal], ...] = (
        (RiskReasonCode.SYMBOL_LIMIT_EXCEEDED, str, limits.max_symbol_notional_quote),
        (
            RiskReasonCode.VENUE_LIMIT_EXCEEDED,
            lambda k: k.exchange,
            limits.max_venue_notional_quote,
        ),
        (RiskReasonCode.ASSET_LIMIT_EXCEEDED, lambda k: k.base, limits.max_asset_notional_quote),
        (RiskReasonCode.TOTAL_LIMIT_EXCEEDED, lambda _k: "total", limits.max_total_notional_quote),
    )
    for code, group, limit in groups:
        caps.extend(_headroom_caps(code, legs, group, _grouped(exposures, group), limit))
    margin: dict[str, Decimal] = {}
    for leg in legs:
        per_unit = leg.price / limits.max_leverage if leg.kind is MarketType.PERP else leg.price
        margin[leg.instrument.exchange] = margin.get(leg.instrument.exchange, ZERO) + per_unit
    for venue in sorted(margin):
        free = portfolio.available_balance_quote.get(venue, ZERO) * (ONE - limits.margin_buffer)
        caps.append(
            SizeCap(
                RiskReasonCode.INSUFFICIENT_BALANCE,
                f"{venue}: {free} quote usable",
                max(free / margin[venue], ZERO),
            )
        )
    return SizeCaps(tuple(caps))
