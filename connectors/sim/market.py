"""Price, basis and funding dynamics of the shared simulated market.

Per asset, a common index price follows a geometric Brownian motion. Per venue and asset, the perp
premium over the index is an Ornstein-Uhlenbeck process whose mean is set by a funding regime (a
Markov chain, overridden by scripted episodes), and the venue's spot price carries a small OU
dislocation. Funding follows the premium-index rule: the time-averaged premium since the last
settlement plus a clamped interest term, capped, scaled to the venue's interval. All randomness
comes from one ``random.Random(seed)``, drawn in a fixed order, so a seed fixes the whole path.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections import deque
from dataclasses import dataclass
from dataclasses import field
from typing import NamedTuple

from connectors.sim.scenario import HOUR_MS
from connectors.sim.scenario import MarketSpec
from connectors.sim.scenario import Scenario

YEAR_MS = 365 * 24 * HOUR_MS
TRADES_KEPT = 500
BOOK_HISTORY = 256  # updates kept per market so a watcher gets them in order (n, n+1, ...)
MASK64 = (1 << 64) - 1


class MarketChange(NamedTuple):
    """One thing that changed in a step: kind is book, trade, funding or settlement."""

    venue: str
    symbol: str
    kind: str


@dataclass(slots=True)
class BookState:
    """The latest book update of one market (the book itself is built on demand from this)."""

    seq: int = 0  # internal, strictly increasing per update
    nonce: int = 0  # what the venue reports (malformed kinds tamper with it)
    ts: int = 0
    mid: float = 0.0
    noise_seed: int = 0
    malformed: str | None = None

    def update(self) -> BookUpdate:
        return BookUpdate(self.seq, self.nonce, self.ts, self.mid, self.noise_seed, self.malformed)


class BookUpdate(NamedTuple):
    """One published book update; the book itself is a pure function of these fields."""

    seq: int
    nonce: int
    ts: int
    mid: float
    noise_seed: int
    malformed: str | None


@dataclass(frozen=True, slots=True)
class TradeTick:
    id: int
    ts: int
    side: str
    price: float
    amount: float
    malformed: str | None


@dataclass(slots=True)
class FundingState:
    interval_ms: int
    next_funding_ts: int
    premium_sum: float = 0.0
    premium_n: int = 0
    rate: float = 0.0
    seq: int = 0
    ts: int = 0
    mark: float = 0.0
    index: float = 0.0
    malformed: str | None = None
    snapshot_next_ts: int = 0  # fundingTimestamp as of the last published update
    previous_rate: float | None = None
    previous_ts: int | None = None
    snapshot_previous: tuple[float | None, int | None] = (None, None)
    history: list[tuple[int, float]] = field(default_factory=list)


@dataclass(slots=True)
class _Pair:
    """Dynamics of one (venue, asset): perp premium, spot dislocation and funding regime."""

    venue: str
    asset: str
    basis_a: float
    basis_noise: float
    disloc_a: float
    disloc_noise: float
    basis: float = 0.0
    disloc: float = 0.0
    regime: str = "neutral"
    regime_until: int = 0


_MIX_START = 0x9E3779B97F4A7C15
_MIX_MULTIPLIER = 0xBF58476D1CE4E5B9


def _mix_step(x: int, v: int) -> int:
    x = (x ^ (v & MASK64)) * _MIX_MULTIPLIER & MASK64
    return x ^ (x >> 31)


def _mix(*values: int) -> int:
    """A deterministic 64-bit hash of integers (splitmix-style), independent of PYTHONHASHSEED.

    ``_mix(a, b, c) == _mix_step(_mix(a, b), c)``: a caller hashing many values under one
    prefix keeps the prefix's state and pays for the last step only.
    """
    x = _MIX_START
    for v in values:
        x = _mix_step(x, v)
    return x


class MarketModel:
    """The shared market of all simulated venues; ``step()`` advances it by one scenario step."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.rng = random.Random(seed)
        self.now_ms = scenario.epoch_ms
        self.step_count = 0
        self.index: dict[str, float] = {a: s.price for a, s in scenario.assets.items()}
        dt = scenario.step_ms / YEAR_MS
        self._gbm = {
            a: ((-0.5 * s.vol * s.vol) * dt, s.vol * math.sqrt(dt))
            for a, s in scenario.assets.items()
        }
        self.pairs: dict[tuple[str, str], _Pair] = {}
        for v in scenario.venues.values():
            a_b = math.exp(-math.log(2) * scenario.step_ms / (v.basis_half_life_minutes * 60_000))
            a_d = math.exp(-math.log(2) * scenario.step_ms / 120_000)
            for asset in scenario.assets:
                self.pairs[(v.id, asset)] = _Pair(
                    venue=v.id,
                    asset=asset,
                    basis_a=a_b,
                    basis_noise=v.basis_sd * math.sqrt(1 - a_b * a_b),
                    disloc_a=a_d,
                    disloc_noise=v.dislocation_sd * math.sqrt(1 - a_d * a_d),
                    basis=scenario.regimes["neutral"].bias,
                )
        self._episodes: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
        for e in scenario.episodes:
            self._episodes.setdefault((e.venue, e.asset), []).append(
                (e.start_ms, e.end_ms, e.regime)
            )
        self.markets: list[MarketSpec] = list(scenario.markets.values())
        self.books: dict[tuple[str, str], BookState] = {}
        self.book_history: dict[tuple[str, str], deque[BookUpdate]] = {}
        self.trades: dict[tuple[str, str], deque[TradeTick]] = {}
        self.funding: dict[tuple[str, str], FundingState] = {}
        for i, m in enumerate(self.markets):
            key = (m.venue, m.symbol)
            self.books[key] = BookState(mid=self.mid(m), ts=self.now_ms, noise_seed=_mix(seed, i))
            self.book_history[key] = deque([self.books[key].update()], maxlen=BOOK_HISTORY)
            self.trades[key] = deque(maxlen=TRADES_KEPT)
            if m.swap:
                self.funding[key] = FundingState(
                    interval_ms=m.funding_interval_ms,
                    next_funding_ts=self.now_ms + m.funding_interval_ms,
                    ts=self.now_ms,
                    mark=self.mid(m),
                    index=self.index[m.asset],
                )
                self.funding[key].rate = self._funding_rate(m, self.funding[key], m.venue)
                self.funding[key].snapshot_next_ts = self.funding[key].next_funding_ts
        self._trade_ids: dict[tuple[str, str], int] = dict.fromkeys(self.books, 0)
        self._noise_prefix = [_mix(seed, i) for i in range(len(self.markets))]
        self.injected: Counter[str] = Counter()  # "channel:kind" -> updates malformed in the feed

    # ---- reading -----------------------------------------------------------------------------

    def mid(self, m: MarketSpec) -> float:
        pair = self.pairs[(m.venue, m.asset)]
        return self.index[m.asset] * (1.0 + (pair.basis if m.swap else pair.disloc))

    def is_stale(self, venue: str, ts_ms: int | None = None) -> bool:
        offset = (self.now_ms if ts_ms is None else ts_ms) - self.scenario.epoch_ms
        return any(a <= offset < b for a, b in self.scenario.venues[venue].stale_windows)

    def regime_of(self, venue: str, asset: str, ts_ms: int | None = None) -> str:
        offset = (self.now_ms if ts_ms is None else ts_ms) - self.scenario.epoch_ms
        for start, end, regime in self._episodes.get((venue, asset), ()):
            if start <= offset < end:
                return regime
        return self.pairs[(venue, asset)].regime

    # ---- stepping ----------------------------------------------------------------------------

    def step(self) -> list[MarketChange]:
        sc = self.scenario
        rng = self.rng
        gauss = rng.gauss
        self.now_ms += sc.step_ms
        self.step_count += 1
        now = self.now_ms
        for asset, (drift, vol) in self._gbm.items():
            self.index[asset] *= math.exp(drift + vol * gauss(0.0, 1.0))
        for pair in self.pairs.values():
            self._step_regime(pair, now)
            bias = sc.regimes[self.regime_of(pair.venue, pair.asset, now)].bias
            pair.basis = bias + (pair.basis - bias) * pair.basis_a + pair.basis_noise * gauss(0, 1)
            pair.disloc = pair.disloc * pair.disloc_a + pair.disloc_noise * gauss(0.0, 1.0)
        stale = {v: self.is_stale(v, now) for v in sc.venues}
        changes: list[MarketChange] = []
        p_book, p_trade = sc.book_update_probability, sc.trade_probability
        random_ = rng.random
        for i, m in enumerate(self.markets):
            if stale[m.venue]:
                continue
            if random_() < p_book:
                key = (m.venue, m.symbol)
                self._update_book(i, m, self.books[key], now)
                self.book_history[key].append(self.books[key].update())
                changes.append(MarketChange(m.venue, m.symbol, "book"))
            if random_() < p_trade:
                self._add_trade(m, (m.venue, m.symbol), now)
                changes.append(MarketChange(m.venue, m.symbol, "trade"))
        for m in self.markets:
            if m.swap:
                changes.extend(self._step_funding(m, now, stale[m.venue]))
        return changes

    def _step_regime(self, pair: _Pair, now: int) -> None:
        if now < pair.regime_until:
            return
        regimes = self.scenario.regimes
        if pair.regime_until:  # not the first step: switch to a successor regime
            nxt = regimes[pair.regime].next
            u, acc = self.rng.random(), 0.0
            for name, p in nxt.items():
                acc += p
                if u < acc:
                    pair.regime = name
                    break
        hours = self.rng.expovariate(1.0 / regimes[pair.regime].mean_hours)
        pair.regime_until = now + max(self.scenario.step_ms, round(hours * HOUR_MS))

    def _malformed(self, channel: str, kinds: tuple[str, ...]) -> str | None:
        u = self.rng.random()
        rate = self.scenario.malformed.rate
        if u >= rate or not kinds:
            return None
        kind = kinds[min(len(kinds) - 1, int(u / rate * len(kinds)))]
        self.injected[f"{channel}:{kind}"] += 1
        return kind

    def _update_book(self, i: int, m: MarketSpec, book: BookState, now: int) -> None:
        book.seq += 1
        book.ts = now
        book.mid = self.mid(m)
        book.noise_seed = _mix_step(self._noise_prefix[i], book.seq)  # _mix(seed, i, seq)
        kind = self._malformed("book", self.scenario.malformed.book_kinds)
        book.malformed = kind
        if kind == "duplicated_nonce":
            return  # the venue repeats the previous nonce
        if kind == "out_of_order_nonce":
            book.nonce -= 1  # older than the previous one; the next update continues from here
            return
        book.nonce += 4 if kind == "nonce_gap" else 1

    def _add_trade(self, m: MarketSpec, key: tuple[str, str], now: int) -> None:
        rng = self.rng
        side = "buy" if rng.random() < 0.5 else "sell"
        mid = self.books[key].mid
        half = max(m.price_tick, mid * m.half_spread)
        raw = mid + half if side == "buy" else mid - half
        price = round(round(raw / m.price_tick) * m.price_tick, m.price_decimals)
        lots = 1 + int(rng.expovariate(1.0) * m.depth * 0.2 / m.amount_step)
        amount = round(lots * m.amount_step, m.amount_decimals)
        self._trade_ids[key] += 1
        kind = self._malformed("trade", self.scenario.malformed.trade_kinds)
        self.trades[key].append(TradeTick(self._trade_ids[key], now, side, price, amount, kind))

    def _funding_rate(self, m: MarketSpec, f: FundingState, venue: str) -> float:
        sc = self.scenario
        v = sc.venues[venue]
        premium = f.premium_sum / f.premium_n if f.premium_n else self.pairs[venue, m.asset].basis
        clamp = sc.interest_clamp_8h
        rate_8h = premium + min(clamp, max(-clamp, sc.interest_rate_8h - premium))
        rate_8h = min(v.funding_cap_8h, max(-v.funding_cap_8h, rate_8h))
        return round(rate_8h * f.interval_ms / (8 * HOUR_MS), 8)

    def _step_funding(self, m: MarketSpec, now: int, stale: bool) -> list[MarketChange]:
        f = self.funding[(m.venue, m.symbol)]
        f.premium_sum += self.pairs[(m.venue, m.asset)].basis
        f.premium_n += 1
        out: list[MarketChange] = []
        if now >= f.next_funding_ts:
            settled = self._funding_rate(m, f, m.venue)
            f.history.append((f.next_funding_ts, settled))
            f.previous_rate, f.previous_ts = settled, f.next_funding_ts
            f.next_funding_ts += f.interval_ms
            f.premium_sum, f.premium_n = 0.0, 0
            out.append(MarketChange(m.venue, m.symbol, "settlement"))
        if not stale and (now - self.scenario.epoch_ms) % self.scenario.funding_update_ms == 0:
            f.seq += 1
            f.ts = now
            f.rate = self._funding_rate(m, f, m.venue)
            f.mark = self.mid(m)
            f.index = self.index[m.asset]
            f.snapshot_next_ts = f.next_funding_ts
            f.snapshot_previous = (f.previous_rate, f.previous_ts)
            f.malformed = self._malformed("funding", self.scenario.malformed.funding_kinds)
            out.append(MarketChange(m.venue, m.symbol, "funding"))
        return out
