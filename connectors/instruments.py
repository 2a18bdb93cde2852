"""Instrument metadata from ccxt ``markets`` and the arbitrage universe built from it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from connectors.config import ConnectorSettings
from connectors.config import FeeOverride
from connectors.venue import Instrument
from connectors.venue import InstrumentPair
from connectors.venues import profile_for
from schemas.records.common import MarketType

# ccxt precision modes (ccxt.base.decimal_to_precision)
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4


def _dec(value: object) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _step(value: object, precision_mode: int) -> Decimal | None:
    number = _dec(value)
    if number is None:
        return None
    if precision_mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(number))
    if precision_mode == TICK_SIZE:
        return number
    return None  # significant digits: no fixed step


def market_type(market: Mapping[str, Any]) -> MarketType:
    """ccxt market flags → our enum (UNKNOWN for anything else, never an error)."""
    if market.get("spot"):
        return MarketType.SPOT
    inverse = bool(market.get("inverse"))
    if market.get("swap"):
        return MarketType.INVERSE_PERP if inverse else MarketType.PERP
    if market.get("future"):
        return MarketType.INVERSE_FUTURE if inverse else MarketType.FUTURE
    if market.get("option"):
        return MarketType.OPTION
    return MarketType.UNKNOWN


def to_instrument(
    exchange: str,
    market: Mapping[str, Any],
    precision_mode: int,
    fees: Mapping[str, FeeOverride] | None = None,
) -> Instrument:
    """One ccxt market structure → :class:`Instrument` (fees overridden per tier)."""
    symbol = str(market["symbol"])
    precision = market.get("precision") or {}
    all_limits = market.get("limits") or {}
    limits = all_limits.get("amount") or {}
    cost = all_limits.get("cost") or {}
    override = (fees or {}).get(symbol) or (fees or {}).get("*") or FeeOverride()
    contract_size = _dec(market.get("contractSize")) if market.get("contract") else None
    maker = override.maker if override.maker is not None else _dec(market.get("maker"))
    taker = override.taker if override.taker is not None else _dec(market.get("taker"))
    return Instrument(
        exchange=exchange,
        symbol=symbol,
        venue_symbol=str(market.get("id", symbol)),
        market_type=market_type(market),
        base=str(market.get("base")),
        quote=str(market.get("quote")),
        settle=None if market.get("settle") is None else str(market.get("settle")),
        contract_size_base=contract_size or Decimal(1),
        price_increment=_step(precision.get("price"), precision_mode),
        amount_increment=_step(precision.get("amount"), precision_mode),
        min_amount=_dec(limits.get("min")),
        maker_fee=maker,
        taker_fee=taker,
        active=market.get("active") is not False,
        min_notional_quote=_dec(cost.get("min")),
        fees_overridden=override.maker is not None or override.taker is not None,
    )


@dataclass(frozen=True, slots=True)
class Currencies:
    """Quote currency of a venue's arbitrage markets and settlement currency of its perps."""

    quote: str
    settle: str


def venue_currencies(venue_id: str, settings: ConnectorSettings) -> Currencies:
    """The user's per-venue setting, else the venue module's (USDT for most, USDC for
    hyperliquid); the settlement currency defaults to the quote."""
    venue = settings.venue(venue_id)
    profile = profile_for(venue_id)
    quote = venue.quote or profile.quote
    settle = venue.settle or (profile.settle if venue.quote is None else None) or quote
    return Currencies(quote, settle)


def select(
    instruments: Iterable[Instrument],
    assets: Iterable[str] | None,
    currencies: Currencies = Currencies("USDT", "USDT"),
) -> list[Instrument]:
    """Spot ``<asset>/<quote>`` and linear perp ``<asset>/<quote>:<settle>`` of each asset
    (every asset when ``assets`` is None)."""
    wanted = None if assets is None else set(assets)
    out = []
    for ins in instruments:
        if (wanted is not None and ins.base not in wanted) or not ins.active:
            continue
        if ins.quote != currencies.quote:
            continue
        if ins.market_type is MarketType.SPOT or (
            ins.market_type is MarketType.PERP and ins.settle == currencies.settle
        ):
            out.append(ins)
    return sorted(out, key=lambda i: (i.base, i.exchange, i.symbol))


def pairs(instruments: Iterable[Instrument]) -> list[InstrumentPair]:
    """Hedgeable pairs of one base asset: spot–perp (any venues) and perp–perp (across venues).

    A pair lists a long leg and a short leg; which direction pays is the detector's business,
    so each unordered combination appears once (spot long, perp short; perps by venue order).
    """
    by_base: dict[str, list[Instrument]] = {}
    for ins in instruments:
        by_base.setdefault(ins.base, []).append(ins)
    out = []
    for base, group in sorted(by_base.items()):
        spots = [i for i in group if i.market_type is MarketType.SPOT]
        perps = [i for i in group if i.market_type is MarketType.PERP]
        out += [InstrumentPair(base, "spot_perp", s, p) for s in spots for p in perps]
        out += [
            InstrumentPair(base, "perp_perp", a, b)
            for a, b in itertools.combinations(perps, 2)
            if a.exchange != b.exchange
        ]
    return out
