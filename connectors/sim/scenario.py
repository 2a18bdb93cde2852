"""Scenario: the bundled data file describing the simulated venues, and specs derived from it.

A scenario is plain JSON (``connectors/sim/scenarios/<name>.json``). It holds the assets (start
price, volatility, tick, lot), the funding regimes, scripted episodes that force a regime on one
venue and asset, the malformed-payload plan, and per-venue facts (fees, funding intervals,
contract sizes, latency, spreads, basis dynamics, stale windows, starting balances).
``MarketSpec`` is the per-market view every other module reads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from dataclasses import field
from importlib import resources
from pathlib import Path
from typing import Any

HOUR_MS = 3_600_000
QUOTE = "USDT"


@dataclass(frozen=True, slots=True)
class AssetSpec:
    name: str
    price: float
    vol: float  # annualised volatility of the common mid price
    price_tick: float
    amount_step: float
    min_amount: float
    depth: float  # base units on the best level before the venue multiplier


@dataclass(frozen=True, slots=True)
class RegimeSpec:
    name: str
    bias: float  # mean perp premium over the index while in this regime
    mean_hours: float
    next: dict[str, float]


@dataclass(frozen=True, slots=True)
class Episode:
    venue: str
    asset: str
    start_ms: int  # offset from the scenario epoch
    end_ms: int
    regime: str


@dataclass(frozen=True, slots=True)
class MalformedSpec:
    rate: float
    book_kinds: tuple[str, ...]
    funding_kinds: tuple[str, ...]
    trade_kinds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VenueSpec:
    id: str
    name: str
    spot_fees: tuple[float, float]  # (maker, taker)
    swap_fees: tuple[float, float]
    funding_hours: dict[str, int]
    contract_size: dict[str, float]
    swap_id_suffix: str
    id_separator: str
    latency_ms: int
    spread_bps: float
    depth_multiplier: float
    basis_sd: float
    basis_half_life_minutes: float
    dislocation_sd: float
    funding_cap_8h: float
    leverage: float
    maintenance_margin_rate: float
    stale_windows: tuple[tuple[int, int], ...]  # (start offset ms, end offset ms)
    balances: dict[str, float]


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """Everything the simulator needs about one market of one venue."""

    venue: str
    symbol: str
    id: str
    asset: str
    base: str
    quote: str
    swap: bool
    contract_size: float  # 1.0 for spot
    price_tick: float
    price_decimals: int
    amount_step: float
    amount_decimals: int
    min_amount: float
    min_cost: float
    maker: float
    taker: float
    funding_interval_ms: int  # 0 for spot
    half_spread: float  # fraction of mid
    level_gap: float  # fraction of mid between levels
    depth: float  # amount units (contracts for swaps) on the best level


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    epoch_ms: int
    step_ms: int
    levels: int
    book_update_probability: float
    trade_probability: float
    funding_update_ms: int
    interest_rate_8h: float
    interest_clamp_8h: float
    malformed: MalformedSpec
    assets: dict[str, AssetSpec]
    regimes: dict[str, RegimeSpec]
    episodes: tuple[Episode, ...]
    venues: dict[str, VenueSpec]
    markets: dict[tuple[str, str], MarketSpec] = field(default_factory=dict)

    def venue_markets(self, venue: str) -> list[MarketSpec]:
        return [m for (v, _), m in self.markets.items() if v == venue]


def decimals_of(step: float) -> int:
    """Number of decimals of a power-of-ten step (0.001 -> 3, 1 -> 0)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _venue(vid: str, raw: dict[str, Any]) -> VenueSpec:
    return VenueSpec(
        id=vid,
        name=str(raw["name"]),
        spot_fees=(float(raw["spot_fees"]["maker"]), float(raw["spot_fees"]["taker"])),
        swap_fees=(float(raw["swap_fees"]["maker"]), float(raw["swap_fees"]["taker"])),
        funding_hours={k: int(v) for k, v in raw["funding_hours"].items()},
        contract_size={k: float(v) for k, v in raw["contract_size"].items()},
        swap_id_suffix=str(raw["swap_id_suffix"]),
        id_separator=str(raw["id_separator"]),
        latency_ms=int(raw["latency_ms"]),
        spread_bps=float(raw["spread_bps"]),
        depth_multiplier=float(raw["depth_multiplier"]),
        basis_sd=float(raw["basis_sd"]),
        basis_half_life_minutes=float(raw["basis_half_life_minutes"]),
        dislocation_sd=float(raw["dislocation_sd"]),
        funding_cap_8h=float(raw["funding_cap_8h"]),
        leverage=float(raw["leverage"]),
        maintenance_margin_rate=float(raw["maintenance_margin_rate"]),
        stale_windows=tuple(
            (int(w["start_s"]) * 1000, (int(w["start_s"]) + int(w["duration_s"])) * 1000)
            for w in raw["stale_windows"]
        ),
        balances={k: float(v) for k, v in raw["balances"].items()},
    )


def _market(venue: VenueSpec, asset: AssetSpec, swap: bool) -> MarketSpec:
    sep = venue.id_separator
    cs = venue.contract_size.get(asset.name, 1.0) if swap else 1.0
    step = float(f"{asset.amount_step / cs:.10g}")
    min_amount = max(step, float(f"{asset.min_amount / cs:.10g}"))
    maker, taker = venue.swap_fees if swap else venue.spot_fees
    return MarketSpec(
        venue=venue.id,
        symbol=f"{asset.name}/{QUOTE}:{QUOTE}" if swap else f"{asset.name}/{QUOTE}",
        id=f"{asset.name}{sep}{QUOTE}" + (venue.swap_id_suffix if swap else ""),
        asset=asset.name,
        base=asset.name,
        quote=QUOTE,
        swap=swap,
        contract_size=cs,
        price_tick=asset.price_tick,
        price_decimals=decimals_of(asset.price_tick),
        amount_step=step,
        amount_decimals=decimals_of(step),
        min_amount=min_amount,
        min_cost=5.0,
        maker=maker,
        taker=taker,
        funding_interval_ms=venue.funding_hours[asset.name] * HOUR_MS if swap else 0,
        half_spread=venue.spread_bps * (0.6 if swap else 1.0) / 2e4,
        level_gap=0.5e-4,
        depth=asset.depth * venue.depth_multiplier / cs,
    )


def parse_scenario(raw: dict[str, Any]) -> Scenario:
    assets = {
        name: AssetSpec(
            name=name,
            price=float(a["price"]),
            vol=float(a["vol"]),
            price_tick=float(a["price_tick"]),
            amount_step=float(a["amount_step"]),
            min_amount=float(a["min_amount"]),
            depth=float(a["depth"]),
        )
        for name, a in raw["assets"].items()
    }
    regimes = {
        name: RegimeSpec(
            name=name,
            bias=float(r["bias"]),
            mean_hours=float(r["mean_hours"]),
            next={k: float(v) for k, v in r["next"].items()},
        )
        for name, r in raw["regimes"].items()
    }
    episodes = tuple(
        Episode(
            venue=str(e["venue"]),
            asset=str(e["asset"]),
            start_ms=round(float(e["start_hours"]) * HOUR_MS),
            end_ms=round((float(e["start_hours"]) + float(e["hours"])) * HOUR_MS),
            regime=str(e["regime"]),
        )
        for e in raw["episodes"]
    )
    venues = {vid: _venue(vid, v) for vid, v in raw["venues"].items()}
    markets: dict[tuple[str, str], MarketSpec] = {}
    for venue in venues.values():
        for asset in assets.values():
            for swap in (False, True):
                spec = _market(venue, asset, swap)
                markets[(venue.id, spec.symbol)] = spec
    m = raw["malformed"]
    return Scenario(
        name=str(raw["name"]),
        epoch_ms=int(raw["epoch_ms"]),
        step_ms=int(raw["step_ms"]),
        levels=int(raw["levels"]),
        book_update_probability=float(raw["book_update_probability"]),
        trade_probability=float(raw["trade_probability"]),
        funding_update_ms=int(raw["funding_update_ms"]),
        interest_rate_8h=float(raw["interest_rate_8h"]),
        interest_clamp_8h=float(raw["interest_clamp_8h"]),
        malformed=MalformedSpec(
            rate=float(m["rate"]),
            book_kinds=tuple(m["book_kinds"]),
            funding_kinds=tuple(m["funding_kinds"]),
            trade_kinds=tuple(m["trade_kinds"]),
        ),
        assets=assets,
        regimes=regimes,
        episodes=episodes,
        venues=venues,
        markets=markets,
    )


def load_scenario(name_or_path: str | Path = "default", **overrides: Any) -> Scenario:
    """Load a bundled scenario by name or a JSON file by path; ``overrides`` replace top-level keys.

    Example: ``load_scenario("default", step_ms=60_000, malformed={"rate": 0.0, ...})``.
    """
    if isinstance(name_or_path, Path) or str(name_or_path).endswith(".json"):
        text = Path(name_or_path).read_text(encoding="utf-8")
    else:
        res = resources.files("connectors.sim").joinpath("scenarios", f"{name_or_path}.json")
        text = res.read_text(encoding="utf-8")
    raw: dict[str, Any] = json.loads(text)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return parse_scenario(raw)
