"""Spreads: basis, cross-exchange and funding differentials, computed by hand."""

from __future__ import annotations

from decimal import Decimal

from processors.spreads import basis
from processors.spreads import cross_exchange_spread
from processors.spreads import funding_differential
from processors.spreads import price_spread_bps
from processors.spreads import spot_perp_funding
from processors.units import Book
from processors.units import BookLevel
from processors.units import FundingRate

D = Decimal

H = 3_600_000


def _book(bid: str, ask: str, size: str = "10") -> Book:
    return Book(bids=(BookLevel(D(bid), D(size)),), asks=(BookLevel(D(ask), D(size)),), ts_ms=0)


SPOT = _book("99.9", "100.1")
PERP = _book("100.9", "101.1")


def test_price_spread_is_in_bps_of_the_mean() -> None:
    assert price_spread_bps(D(101), D(99)) == D(200)
    assert price_spread_bps(D(99), D(101)) == D(-200)


def test_basis_mid_and_executable() -> None:
    b = basis(SPOT, PERP)
    assert b.mid_bps == D(1) / D("100.5") * 10_000
    # buy spot at the ask 100.1, sell the perp at the bid 100.9
    assert b.executable_bps == D("0.8") / D("100.5") * 10_000
    assert (b.long_price, b.short_price) == (D("100.1"), D("100.9"))


def test_executable_spread_for_a_size_walks_depth() -> None:
    deep = Book(
        bids=(BookLevel(D(101), D(1)), BookLevel(D(100), D(1))),
        asks=(BookLevel(D(102), D(1)),),
        ts_ms=0,
    )
    s = cross_exchange_spread(_book("98", "99"), deep, size_base=D(2))
    assert s.short_price == D("100.5")
    assert s.long_price == D(99)
    assert s.executable_bps == price_spread_bps(D("100.5"), D(99))


def test_executable_spread_is_none_without_depth() -> None:
    s = cross_exchange_spread(SPOT, PERP, size_base=D(11))
    assert s.executable_bps is None
    assert s.mid_bps == basis(SPOT, PERP).mid_bps


def test_swapping_legs_flips_the_mid_sign() -> None:
    assert cross_exchange_spread(SPOT, PERP).mid_bps == -cross_exchange_spread(PERP, SPOT).mid_bps


def test_funding_differential_1h_venue_against_8h_venue() -> None:
    hourly = FundingRate(D("0.00001"), H)  # long here: 0.001 %/h
    eight = FundingRate(D("0.0001"), 8 * H)  # short here: 0.0125 bp/h
    d = funding_differential(long_rate=hourly, short_rate=eight)
    assert d.per_hour == D("0.0000025")
    assert d.per_8h == D("0.00002")
    assert d.apr_simple == D("0.0219")
    assert funding_differential(eight, hourly).per_hour == -d.per_hour


def test_negative_funding_differential_means_the_position_pays() -> None:
    d = funding_differential(FundingRate(D("0.0001"), 8 * H), FundingRate(D("-0.0001"), 8 * H))
    assert d.apr_simple == D("-0.219")


def test_spot_perp_funding_counts_only_the_perp() -> None:
    rate = FundingRate(D("0.0001"), 8 * H)
    assert spot_perp_funding(rate, perp_is_short=True).apr_simple == D("0.1095")
    assert spot_perp_funding(rate, perp_is_short=False).apr_simple == D("-0.1095")
