"""Opportunity candidates and their evaluation against a market view.

Three kinds (``arb.SpreadKind``), each a directional pair (long one instrument, short another)
of the same base and quote currency:

- ``SPOT_PERP`` (carry): long spot / short perp when the perp's funding is positive; the reverse
  (short spot, reverse carry) only when ``allow_short_spot`` and the spot venue's borrow rate is
  known (its interest is a cost). Same venue unless configured otherwise.
- ``PERP_PERP`` (funding spread): long the perp with the lower rate per hour, short the higher,
  across venues (intervals may differ: normalized per hour for the choice).
- ``CROSS_EXCHANGE_PRICE`` (price spread): the same market type on two venues, long the cheaper
  mid, short the dearer. A spot short leg (borrowing the coins) needs ``allow_short_spot`` and a
  known borrow rate.

Edges, for a size and the config's horizon:

- gross edge (quote) = funding the receiving legs collect over the horizon, plus for
  ``CROSS_EXCHANGE_PRICE`` the mid spread captured on convergence ``size * (mid_short - mid_long)``;
- net edge = gross edge - every cost of :mod:`processors.costs` (so ``net <= gross``);
- bps are of the cost breakdown's notional; APR = ``edge / notional * year / horizon``;
- break-even is for the carry types only: ``None`` for ``CROSS_EXCHANGE_PRICE``, whose edge is the
  convergence of prices, not funding (it opens on its net edge alone).
- basis of the carry types: entry and exit are both priced on today's books (the exit walks
  the opposite side now), so the edge assumes the basis (perp mid - spot mid, or between two
  perps) is the same at exit as at entry: its convergence is counted neither as edge nor as
  loss. A perp premium that closes would add ``size * basis`` to a long-spot/short-perp carry
  (and a discount that closes would cost as much); it is left out because a perp's basis reverts
  on no schedule, and measured instead by the basis term of the risk score.

Risk score in [0, 1] (higher is riskier), ``0.4 * depth_use + 0.3 * staleness + 0.3 * basis``:
``depth_use`` = size / depth-limited size, ``staleness`` = age of the oldest leg quote /
``stale_after_ms``, ``basis`` = |mid spread| / ``basis_risk_scale_bps`` for the carry types (the
price divergence a hedged carry is exposed to; 0 for ``CROSS_EXCHANGE_PRICE``); each clamped to
[0, 1].
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from processors.books import max_size_within_slippage
from processors.costs import CostEstimate
from processors.costs import CostLeg
from processors.costs import InsufficientDepth
from processors.costs import estimate_costs
from processors.funding import next_settlement_ms
from processors.lots import tradable_size
from processors.spreads import FundingDifferential
from processors.spreads import funding_differential
from processors.spreads import price_spread_bps
from processors.units import MS_PER_HOUR
from processors.units import MS_PER_YEAR
from processors.units import ONE
from processors.units import ZERO
from processors.units import FundingRate
from processors.units import InstrumentKey
from processors.units import InstrumentState
from processors.units import bps_of
from processors.units import entry_side
from processors.units import exit_side
from schemas.records.arb import SpreadKind
from schemas.records.common import MarketType
from schemas.records.common import PositionSide

MarketView = Mapping[InstrumentKey, InstrumentState]


SPREAD_KINDS = (SpreadKind.SPOT_PERP, SpreadKind.PERP_PERP, SpreadKind.CROSS_EXCHANGE_PRICE)
"""The kinds of ``arb.SpreadKind`` the detector finds (every one but ``UNKNOWN``)."""


def id_name(kind: SpreadKind) -> str:
    """The name ids of ``kind`` are derived from.

    ``CROSS_EXCHANGE_PRICE`` ids were derived from ``CROSS_EXCHANGE`` before the wire's kind was
    the detector's own; keeping that name keeps every id a replay of old input derives."""
    return "CROSS_EXCHANGE" if kind is SpreadKind.CROSS_EXCHANGE_PRICE else kind.value


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Open when net edge >= both open thresholds; close when below either exit threshold."""

    open_net_bps: Decimal
    open_net_apr: Decimal
    exit_net_bps: Decimal
    exit_net_apr: Decimal

    def __post_init__(self) -> None:
        if self.exit_net_bps > self.open_net_bps or self.exit_net_apr > self.open_net_apr:
            raise ValueError("exit thresholds must not exceed open thresholds (hysteresis)")


_CARRY = Thresholds(Decimal(5), Decimal("0.10"), Decimal(0), Decimal("0.04"))
_PRICE = Thresholds(Decimal(10), Decimal(0), Decimal(2), Decimal("-1000"))


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    horizon_ms: int = 24 * MS_PER_HOUR
    max_holding_ms: int = 48 * MS_PER_HOUR
    stale_after_ms: int = 5_000
    max_slippage_bps: Decimal = Decimal(10)
    max_notional_quote: Decimal = Decimal(10_000)
    allow_short_spot: bool = False
    spot_perp_same_venue: bool = True
    max_open: int = 20
    basis_risk_scale_bps: Decimal = Decimal(100)
    thresholds: Mapping[SpreadKind, Thresholds] = field(
        default_factory=lambda: {
            SpreadKind.SPOT_PERP: _CARRY,
            SpreadKind.PERP_PERP: _CARRY,
            SpreadKind.CROSS_EXCHANGE_PRICE: _PRICE,
        }
    )


@dataclass(frozen=True, slots=True, order=True)
class Candidate:
    type: SpreadKind
    long: InstrumentKey
    short: InstrumentKey

    @property
    def pair_key(self) -> tuple[SpreadKind, frozenset[InstrumentKey]]:
        """Direction-free identity: one opportunity per pair at a time."""
        return self.type, frozenset((self.long, self.short))


@dataclass(frozen=True, slots=True)
class Evaluation:
    size_base: Decimal
    depth_size_base: Decimal
    costs: CostEstimate
    gross_edge_quote: Decimal
    gross_edge_bps: Decimal
    gross_edge_apr: Decimal
    net_edge_quote: Decimal
    net_edge_bps: Decimal
    net_edge_apr: Decimal
    mid_spread_bps: Decimal
    funding: FundingDifferential | None
    risk_score: Decimal
    urgency_ms: int | None
    """Milliseconds until the next settlement of any perp leg."""
    quote_ts_ms: tuple[int, int]
    """Book timestamps of the (long, short) legs."""
    mids: tuple[Decimal, Decimal]
    kinds: tuple[MarketType, MarketType]

    @property
    def carry_sign(self) -> int:
        carry = self.costs.net_carry_per_hour_quote
        return (carry > 0) - (carry < 0)


def _direction_ok(state: InstrumentState, side: PositionSide, config: DetectionConfig) -> bool:
    """A short spot leg sells borrowed coins: allowed only by ``allow_short_spot`` and only
    where the venue's borrow rate is known, so the interest is priced (never assumed free)."""
    if state.kind is MarketType.SPOT and side is PositionSide.SHORT:
        return config.allow_short_spot and state.borrow is not None
    return True


def _rate(state: InstrumentState) -> FundingRate | None:
    return state.funding.rate if state.funding else None


def _pair_candidates(
    a: InstrumentState, b: InstrumentState, config: DetectionConfig
) -> Iterator[Candidate]:
    kinds = {a.kind, b.kind}
    same_venue = a.key.exchange == b.key.exchange
    if kinds == {MarketType.SPOT, MarketType.PERP}:
        spot, perp = (a, b) if a.kind is MarketType.SPOT else (b, a)
        rate = _rate(perp)
        if rate is None or rate.rate == 0 or (config.spot_perp_same_venue and not same_venue):
            return
        long, short = (spot, perp) if rate.rate > 0 else (perp, spot)
        if _direction_ok(short, PositionSide.SHORT, config):
            yield Candidate(SpreadKind.SPOT_PERP, long.key, short.key)
        return
    if same_venue:
        return
    ra, rb = _rate(a), _rate(b)
    perps = a.kind is MarketType.PERP
    if perps and ra is not None and rb is not None and ra.per_hour() != rb.per_hour():
        low, high = (a, b) if ra.per_hour() < rb.per_hour() else (b, a)
        yield Candidate(SpreadKind.PERP_PERP, low.key, high.key)
    if a.book.mid != b.book.mid:
        cheap, dear = (a, b) if a.book.mid < b.book.mid else (b, a)
        if _direction_ok(dear, PositionSide.SHORT, config):
            yield Candidate(SpreadKind.CROSS_EXCHANGE_PRICE, cheap.key, dear.key)


def detect(view: MarketView, config: DetectionConfig) -> list[Candidate]:
    """Every directional candidate in the view, in a deterministic order."""
    groups: dict[tuple[str, str], list[InstrumentState]] = {}
    for key in sorted(view):
        groups.setdefault((key.base, key.quote), []).append(view[key])
    found: list[Candidate] = []
    for members in groups.values():
        for a, b in itertools.combinations(members, 2):
            found.extend(_pair_candidates(a, b, config))
    return sorted(found)


def _clamp01(x: Decimal) -> Decimal:
    return min(max(x, ZERO), ONE)


def _urgency(states: tuple[InstrumentState, ...], now_ms: int) -> int | None:
    waits = [next_settlement_ms(s.funding, now_ms) - now_ms for s in states if s.funding]
    return min(waits) if waits else None


def evaluate(
    candidate: Candidate, view: MarketView, now_ms: int, config: DetectionConfig
) -> Evaluation | None:
    """Size and price ``candidate`` now; None when a leg is missing, unfunded (carry types)
    or without depth."""
    long, short = view.get(candidate.long), view.get(candidate.short)
    if long is None or short is None:
        return None
    legs = (long, short)
    carry = candidate.type is not SpreadKind.CROSS_EXCHANGE_PRICE
    if carry and any(s.kind is MarketType.PERP and s.funding is None for s in legs):
        return None
    sides = (PositionSide.LONG, PositionSide.SHORT)
    depth = min(
        max_size_within_slippage(s.book.levels(trade), trade, config.max_slippage_bps)
        for s, side in zip(legs, sides, strict=True)
        for trade in (entry_side(side), exit_side(side))
    )
    ref_price = max(long.book.mid, short.book.mid)
    wanted = min(depth, config.max_notional_quote / ref_price)
    # both legs tradable on their own venues: the largest common multiple of their lots
    size = tradable_size(wanted, (long.lot, short.lot), (long.book.best_ask, short.book.best_bid))
    if size <= 0:
        return None
    try:
        costs = estimate_costs(
            [CostLeg(s, side) for s, side in zip(legs, sides, strict=True)],
            size,
            now_ms,
            config.horizon_ms,
            carry_trade=carry,
        )
    except InsufficientDepth:
        return None
    gross = costs.funding_received_quote
    if not carry:
        gross += size * (short.book.mid - long.book.mid)
    net = gross - costs.quote.total
    notional = costs.notional_quote
    year_factor = Decimal(MS_PER_YEAR) / config.horizon_ms
    mid_bps = price_spread_bps(short.book.mid, long.book.mid)
    rl, rs = _rate(long), _rate(short)
    zero_rate = FundingRate(ZERO, MS_PER_HOUR)
    funding = funding_differential(rl or zero_rate, rs or zero_rate) if (rl or rs) else None
    oldest = min(long.book.ts_ms, short.book.ts_ms)
    risk = (
        Decimal("0.4") * _clamp01(size / depth)
        + Decimal("0.3") * _clamp01(Decimal(now_ms - oldest) / config.stale_after_ms)
        + Decimal("0.3") * (_clamp01(abs(mid_bps) / config.basis_risk_scale_bps) if carry else ZERO)
    )
    return Evaluation(
        size_base=size,
        depth_size_base=depth,
        costs=costs,
        gross_edge_quote=gross,
        gross_edge_bps=bps_of(gross, notional),
        gross_edge_apr=gross / notional * year_factor,
        net_edge_quote=net,
        net_edge_bps=bps_of(net, notional),
        net_edge_apr=net / notional * year_factor,
        mid_spread_bps=mid_bps,
        funding=funding,
        risk_score=risk,
        urgency_ms=_urgency(legs, now_ms),
        quote_ts_ms=(long.book.ts_ms, short.book.ts_ms),
        mids=(long.book.mid, short.book.mid),
        kinds=(long.kind, short.kind),
    )
