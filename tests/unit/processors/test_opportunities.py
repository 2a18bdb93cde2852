"""Detection and the opportunity lifecycle: open -> update -> close, with hysteresis.

The carry fixture: spot and perp quoted 99.99 / 100.01 on one venue, 1 bp taker fees, a size
capped at 10,000 quote (100 base). One-off costs: fees 2 + 2, spread 100 * 0.02 * 2 = 4, i.e.
8 quote = 8 bps. Funding r per 8h, next settlement 1h ahead: 3 settlements in the 24h horizon,
gross = 30,000 r bps, net = 30,000 r - 8 bps. With the default carry thresholds (open 5 bps and
10 % APR, exit 0 bps or 4 % APR), it opens at r >= 0.000434 and closes below r ~ 0.000303.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from processors.detection import Candidate
from processors.detection import DetectionConfig
from processors.detection import detect
from processors.detection import evaluate
from processors.opportunities import OpportunityBook
from processors.opportunities import opportunity_id
from processors.opportunities import step
from processors.units import Book
from processors.units import BookLevel
from processors.units import BorrowRate
from processors.units import FeeSchedule
from processors.units import FundingRate
from processors.units import FundingSchedule
from processors.units import InstrumentKey
from processors.units import InstrumentState
from processors.units import persistable
from schemas.records.arb import CloseReason
from schemas.records.arb import Lifecycle
from schemas.records.arb import SpreadKind
from schemas.records.common import MarketType

D = Decimal

H = 3_600_000
SPOT = InstrumentKey("a", "BTC/USDT")
PERP = InstrumentKey("a", "BTC/USDT:USDT")
FEES = FeeSchedule(D("0.0001"), D("0.0001"))
CONFIG = DetectionConfig()


def _book(ts_ms: int, bid: str = "99.99", ask: str = "100.01") -> Book:
    return Book((BookLevel(D(bid), D(1000)),), (BookLevel(D(ask), D(1000)),), ts_ms)


def _perp(
    key: InstrumentKey, rate: str, now_ms: int, interval_ms: int = 8 * H, **book: str
) -> InstrumentState:
    quotes = _book(now_ms, **book)
    funding = FundingSchedule(FundingRate(D(rate), interval_ms), now_ms + H, quotes.mid)
    return InstrumentState(key, MarketType.PERP, quotes, FEES, funding)


def _carry_view(
    rate: str, now_ms: int, spot_ts: int | None = None
) -> dict[InstrumentKey, InstrumentState]:
    spot_book = _book(now_ms if spot_ts is None else spot_ts)
    return {
        SPOT: InstrumentState(SPOT, MarketType.SPOT, spot_book, FEES),
        PERP: _perp(PERP, rate, now_ms),
    }


def _open_carry(now_ms: int = 0) -> OpportunityBook:
    book, events = step(OpportunityBook(), _carry_view("0.0005", now_ms), now_ms, CONFIG)
    assert [e.kind for e in events] == [Lifecycle.OPENED]
    return book


def test_carry_opens_with_costs_edges_and_urgency() -> None:
    book, events = step(OpportunityBook(), _carry_view("0.0005", 0), 0, CONFIG)
    (event,) = events
    opp = event.opportunity
    ev = opp.evaluation
    assert opp.candidate == Candidate(SpreadKind.SPOT_PERP, SPOT, PERP)
    assert opp.id == opportunity_id(opp.candidate, 0)
    assert ev.size_base == D(100)
    assert ev.costs.quote.one_off == D(8)
    assert ev.gross_edge_quote == D(15)  # 3 * 0.0005 * 10,000
    assert ev.net_edge_quote == D(7)
    assert ev.net_edge_bps == D(7)
    assert ev.net_edge_apr == D("0.2555")  # 7 bps a day * 365
    # 5 a settlement at 1 h, 9 h, ...: 5 < 8 at 1 h, 10 >= 8 at 9 h (steady: 8 / 0.625 = 12.8 h)
    assert ev.costs.break_even_hours == D(9)
    assert ev.costs.break_even_intervals == 2
    assert ev.urgency_ms == H
    assert D(0) <= ev.risk_score <= D(1)
    assert book.open == (opp,)


def test_negative_funding_needs_short_spot_permission() -> None:
    view = _carry_view("-0.0005", 0)
    assert detect(view, CONFIG) == []
    allowed = DetectionConfig(allow_short_spot=True)
    assert detect(view, allowed) == []  # the spot venue's borrow rate is unknown
    lending = {**view, SPOT: replace(view[SPOT], borrow=BorrowRate(D("0.0001"), 24 * H))}
    assert detect(lending, CONFIG) == []
    assert detect(lending, allowed) == [Candidate(SpreadKind.SPOT_PERP, PERP, SPOT)]


def test_update_when_figures_change_and_silence_when_they_do_not() -> None:
    book = _open_carry()
    same, events = step(book, _carry_view("0.0005", 0), 0, CONFIG)
    assert events == []
    assert same == book
    updated, events = step(book, _carry_view("0.0004", 1000), 1000, CONFIG)
    (event,) = events
    assert event.kind is Lifecycle.UPDATED
    assert event.opportunity.id == book.open[0].id
    assert event.opportunity.evaluation.net_edge_bps == D(4)
    assert updated.open[0].updated_at_ms == 1000


@pytest.mark.parametrize(
    ("rate", "now_ms", "spot_ts", "reasons"),
    [
        ("0.0002", 1000, None, (CloseReason.EDGE_BELOW_THRESHOLD,)),
        ("-0.0005", 1000, None, (CloseReason.FUNDING_FLIPPED, CloseReason.EDGE_BELOW_THRESHOLD)),
        ("0.0005", 10_000, 1000, (CloseReason.STALE_DATA,)),
        ("0.0005", 48 * H, None, (CloseReason.EXPIRED,)),
    ],
)
def test_close_by_each_reason(
    rate: str, now_ms: int, spot_ts: int | None, reasons: tuple[CloseReason, ...]
) -> None:
    book = _open_carry()
    after, events = step(book, _carry_view(rate, now_ms, spot_ts), now_ms, CONFIG)
    closed = [e for e in events if e.kind is Lifecycle.CLOSED]
    assert len(closed) == 1
    assert closed[0].reasons == reasons
    assert closed[0].reason == reasons[0]
    assert closed[0].opportunity.id == book.open[0].id
    assert book.open[0].id not in {o.id for o in after.open}


def test_leg_leaving_the_view_closes_as_stale() -> None:
    book = _open_carry()
    view = _carry_view("0.0005", 1000)
    del view[SPOT]
    _, events = step(book, view, 1000, CONFIG)
    assert [(e.kind, e.reasons) for e in events] == [(Lifecycle.CLOSED, (CloseReason.STALE_DATA,))]


def test_hysteresis_inside_the_band_neither_opens_nor_closes() -> None:
    band = ["0.00035", "0.00040", "0.00032", "0.00042", "0.00031"]
    book = OpportunityBook()
    for i, rate in enumerate(band):  # never above the open threshold: nothing opens
        book, events = step(book, _carry_view(rate, i), i, CONFIG)
        assert events == []
    book = _open_carry()
    for i, rate in enumerate(band, start=1):  # never below the exit threshold: nothing closes
        book, events = step(book, _carry_view(rate, i), i, CONFIG)
        assert [e.kind for e in events] == [Lifecycle.UPDATED]
    assert len(book.open) == 1


def test_break_even_beyond_max_holding_does_not_open() -> None:
    short_hold = DetectionConfig(max_holding_ms=8 * H)  # break-even is 9 h
    assert step(OpportunityBook(), _carry_view("0.0005", 0), 0, short_hold)[1] == []
    at_break_even = DetectionConfig(max_holding_ms=9 * H)
    assert len(step(OpportunityBook(), _carry_view("0.0005", 0), 0, at_break_even)[1]) == 1


def test_stale_quotes_never_open() -> None:
    _, events = step(OpportunityBook(), _carry_view("0.0005", 10_000, spot_ts=0), 10_000, CONFIG)
    assert events == []


def test_perp_perp_longs_the_lower_hourly_rate_across_intervals() -> None:
    hourly = InstrumentKey("h", "ETH/USDT:USDT")
    eight = InstrumentKey("e", "ETH/USDT:USDT")
    view = {
        hourly: _perp(hourly, "0.0001", 0, interval_ms=H),  # 1 bp / h
        eight: _perp(eight, "0.0004", 0),  # 0.5 bp / h
    }
    found = detect(view, CONFIG)
    assert Candidate(SpreadKind.PERP_PERP, eight, hourly) in found
    ev = evaluate(Candidate(SpreadKind.PERP_PERP, eight, hourly), view, 0, CONFIG)
    assert ev is not None
    assert ev.funding is not None
    assert ev.funding.per_hour == D("0.00005")
    assert ev.funding.apr_simple == D("0.438")
    # both venues settle next at +1 h: the short hourly leg receives 24 * 1 bp in (0, 24 h]
    # (1 h .. 24 h), the long 8h leg pays 3 * 4 bp (1 h, 9 h, 17 h)
    assert ev.costs.funding_received_quote == D("0.0024") * D(10_000)
    assert ev.costs.quote.funding_paid == D("0.0012") * D(10_000)
    assert ev.net_edge_quote <= ev.gross_edge_quote
    # one-off 8 (fees 4, spread 4): funding nets -3 at 1 h, 4 at 8 h, 1 at 9 h, 8 at 16 h
    assert ev.costs.break_even_hours == D(16)


def test_cross_exchange_buys_the_cheap_venue_and_converges() -> None:
    cheap = InstrumentKey("c", "SOL/USDT:USDT")
    dear = InstrumentKey("d", "SOL/USDT:USDT")
    view = {
        cheap: _perp(cheap, "0", 0, bid="99.99", ask="100.01"),
        dear: _perp(dear, "0", 0, bid="100.49", ask="100.51"),
    }
    book, events = step(OpportunityBook(), view, 0, CONFIG)
    (event,) = events
    opp = event.opportunity
    assert opp.candidate == Candidate(SpreadKind.CROSS_EXCHANGE_PRICE, cheap, dear)
    size = D(10_000) / D("100.5")  # the book keeps figures fitted to decimal(38, 18)
    assert opp.evaluation.size_base == persistable(size) == D("99.502487562189054726")
    assert opp.evaluation.gross_edge_quote == persistable(size * D("0.5"))
    # converged: both venues at the same mid; the edge is gone
    view[dear] = _perp(dear, "0", 1, bid="99.99", ask="100.01")
    view[cheap] = _perp(cheap, "0", 1, bid="99.99", ask="100.01")
    _, events = step(book, view, 1, CONFIG)
    assert [(e.kind, e.reasons) for e in events] == [
        (Lifecycle.CLOSED, (CloseReason.EDGE_BELOW_THRESHOLD,))
    ]


def test_cross_exchange_break_even_is_none_even_with_a_positive_carry() -> None:
    cheap = InstrumentKey("c", "SOL/USDT:USDT")
    dear = InstrumentKey("d", "SOL/USDT:USDT")
    view = {  # the long cheap leg receives 1 bp per 8 h: a small positive carry
        cheap: _perp(cheap, "-0.0001", 0, bid="99.99", ask="100.01"),
        dear: _perp(dear, "0", 0, bid="100.49", ask="100.51"),
    }
    candidate = Candidate(SpreadKind.CROSS_EXCHANGE_PRICE, cheap, dear)
    ev = evaluate(candidate, view, 0, CONFIG)
    assert ev is not None
    size = D(10_000) / D("100.5")
    # carry per hour 0.0001 / 8 * mark 100 * size = 0.00125 size; one-off costs are
    # size * (1 bp * (100.01 + 100.49 + 99.99 + 100.51) + 2 * 0.02) = 0.0801 size, so carry
    # alone would "break even" in 64.08 h, a figure with no meaning for a convergence trade
    assert ev.costs.net_carry_per_hour_quote == D("0.0001") / 8 * 100 * size
    assert ev.costs.quote.one_off == D("0.0801") * size
    assert ev.costs.break_even_hours is None
    assert ev.costs.break_even_intervals is None
    _, events = step(OpportunityBook(), view, 0, CONFIG)
    assert [e.opportunity.candidate for e in events] == [candidate]


def test_max_open_limits_new_opportunities_best_first() -> None:
    view = _carry_view("0.0005", 0)
    other_spot, other_perp = InstrumentKey("b", "BTC/USDT"), InstrumentKey("b", "BTC/USDT:USDT")
    view[other_spot] = InstrumentState(other_spot, MarketType.SPOT, _book(0), FEES)
    view[other_perp] = _perp(other_perp, "0.0009", 0)
    _, events = step(OpportunityBook(), view, 0, DetectionConfig(max_open=1))
    (event,) = events
    assert event.opportunity.candidate.short == other_perp


def test_replay_is_deterministic() -> None:
    views = [(_carry_view(r, t), t) for t, r in enumerate(["0.0005", "0.0004", "0.0001"])]
    runs = []
    for _ in range(2):
        book, log = OpportunityBook(), []
        for view, t in views:
            book, events = step(book, view, t, CONFIG)
            log.extend(events)
        runs.append((book, log))
    assert runs[0] == runs[1]
