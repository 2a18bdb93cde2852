"""The backtest engine on a hand-checkable market (tests/backtest_market.py): every cent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from schemas.records.md import BookSnapshot
from schemas.subjects import subject_schema
from schemas.topics import by_name
from streams.backtest import run_backtest
from streams.backtest_data import BacktestDataError
from streams.backtest_data import in_window
from streams.backtest_data import load_path
from streams.backtest_data import write_records_dir
from streams.strategy import Strategy
from streams.strategy import StrategyError
from streams.strategy import load_strategy
from tests import backtest_market as m

CENT = Decimal("0.01")


def test_constant_funding_and_known_fills_give_the_hand_computed_pnl() -> None:
    result = run_backtest(m.market(), Strategy())
    p = result.portfolio
    assert p.funding_pnl_quote == m.FUNDING  # 56.9772
    assert p.fees_quote == m.FEES  # 19.992
    assert p.price_pnl_quote == m.PRICE  # -1.9992
    assert p.slippage_quote == 0  # 1.666 base fills at the touch (5 base a level)
    assert p.total_pnl_quote == m.TOTAL  # 34.986
    assert p.total_pnl_quote.quantize(CENT) == Decimal("34.99")
    assert p.funding_pnl_quote.quantize(CENT) == Decimal("56.98")
    assert p.fees_quote.quantize(CENT) == Decimal("19.99")
    parts = p.price_pnl_quote + p.funding_pnl_quote - p.fees_quote - (p.slippage_quote or 0)
    assert parts == p.total_pnl_quote
    [row] = result.opportunities
    assert (row.kind, row.decision, row.pair_status) == ("PERP_PERP", "APPROVED", "CLOSED")
    assert row.size_base == Decimal("1.666")
    assert row.total_pnl_quote == m.TOTAL
    assert row.settlements == 6  # 3 settlement times x 2 legs


def test_funding_settles_at_the_recorded_times_on_the_positions_held() -> None:
    result = run_backtest(m.market(), Strategy())
    times = sorted({s.time_ms for s in result.settlements})
    assert times == [m.T + 8 * m.HOUR, m.T + 16 * m.HOUR, m.T + 24 * m.HOUR]
    by_venue = {(s.exchange, s.time_ms): s.amount_quote for s in result.settlements}
    assert by_venue[("ex-a", m.T + 8 * m.HOUR)] == Decimal("-0.9996")  # long pays
    assert by_venue[("ex-b", m.T + 8 * m.HOUR)] == Decimal("19.992")  # short receives


def test_a_window_that_ends_before_the_second_settlement_books_one() -> None:
    records = [p.record for p in in_window(_positioned(), None, m.T + 12 * m.HOUR)]
    result = run_backtest(records, Strategy())
    assert result.portfolio.funding_pnl_quote == Decimal("18.9924")
    assert result.portfolio.fees_quote == m.FEES  # closed at the end all the same


def test_without_closing_at_the_end_the_position_is_marked_at_the_mids() -> None:
    strategy = Strategy.model_validate({"strategy": {"close_at_end": False}})
    p = run_backtest(m.market(), strategy).portfolio
    assert p.fees_quote == m.FEES / 2  # the entry only
    assert p.unrealized_pnl_quote == Decimal("-0.9996")  # half the spread on each leg
    assert p.funding_pnl_quote == m.FUNDING


def test_fee_overrides_price_the_fills_and_the_thresholds_gate_the_entry() -> None:
    fees = {"costs": {"fees": {"ex-a": {"maker": 0, "taker": 0}, "ex-b": {"maker": 0, "taker": 0}}}}
    assert run_backtest(m.market(), Strategy.model_validate(fees)).portfolio.fees_quote == 0
    picky = Strategy.model_validate({"strategy": {"entry_apr": 1000, "exit_apr": 4}})
    result = run_backtest(m.market(), picky)  # the carry makes ~168 % net APR
    assert result.opportunities == []
    assert result.portfolio.total_pnl_quote == 0


def test_the_same_input_gives_the_same_result() -> None:
    a, b = run_backtest(m.market(), Strategy()), run_backtest(m.market(), Strategy())
    assert a.portfolio == b.portfolio
    assert a.equity == b.equity


def _positioned() -> list:  # type: ignore[type-arg]
    from streams.incident_replay import Positioned

    out = []
    for i, r in enumerate(m.market()):
        topic = "md.book" if isinstance(r, BookSnapshot) else "md.funding"
        if type(r).__name__ == "InstrumentFacts":
            topic = "md.instrument"
        out.append(Positioned(topic, 0, i, r.envelope.event_time_ms, r))  # type: ignore[attr-defined]
    return out


def test_a_records_directory_round_trips_and_replays_the_same(tmp_path: Path) -> None:
    counts = write_records_dir(tmp_path, m.market())
    assert counts == {"md.book": 722, "md.funding": 722, "md.instrument": 2}
    items = load_path(tmp_path)
    assert [p.record for p in items] == m.market()  # event-time order = the builder's order
    assert run_backtest([p.record for p in items], Strategy()).portfolio.total_pnl_quote == m.TOTAL


def test_corrupt_truncated_or_missing_data_is_refused(tmp_path: Path) -> None:
    write_records_dir(tmp_path, m.market())
    book = tmp_path / "md.book.avro"
    book.write_bytes(book.read_bytes()[:-200])
    with pytest.raises(BacktestDataError, match="not a readable Avro container"):
        load_path(tmp_path)
    book.write_bytes(b"garbage")
    with pytest.raises(BacktestDataError, match=r"md\.book\.avro"):
        load_path(tmp_path)
    with pytest.raises(BacktestDataError, match="no such file"):
        load_path(tmp_path / "absent")
    with pytest.raises(BacktestDataError, match="neither"):
        load_path(_empty(tmp_path))
    (tmp_path / "bundle.tar").write_bytes(b"not a bundle")
    with pytest.raises(BacktestDataError, match=r"bundle\.tar"):
        load_path(tmp_path / "bundle.tar")


def _empty(tmp_path: Path) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_an_inverted_window_is_refused() -> None:
    with pytest.raises(BacktestDataError, match="inverted"):
        in_window(_positioned(), m.T + 10, m.T)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[strategy]\nentry_pct = 5\n", r"strategy\.entry_pct: unknown key"),
        ("[strategy]\nentry_apr = 'lots'\n", r"strategy\.entry_apr: "),
        ("[strategy]\nentry_apr = 2\nexit_apr = 4\n", "must not exceed entry_apr"),
        ("[risks]\nmax_concurrent = 2\n", "risks: unknown key"),
        ("[risk]\nmax_concurrent = 0\n", r"risk\.max_concurrent: "),
        ("[strategy\n", "not valid TOML"),
    ],
)
def test_a_bad_strategy_file_names_the_field(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "strategy.toml"
    path.write_text(toml)
    with pytest.raises(StrategyError, match=message):
        load_strategy(path)


def test_parameters_resolve_to_their_section() -> None:
    s = Strategy().with_params({"entry_apr": "20", "risk.max_concurrent": "3", "seed": "4"})
    assert s.strategy.entry_apr == Decimal(20)
    assert (s.risk.max_concurrent, s.sim.seed) == (3, 4)
    with pytest.raises(StrategyError, match="unknown parameter 'nope'"):
        Strategy().with_params({"nope": "1"})


def test_the_example_strategy_is_valid() -> None:
    example = Path(__file__).parents[3] / "examples" / "strategy.toml"
    strategy = load_strategy(example)
    assert strategy.costs.extra_slippage_bps == 2
    assert strategy.costs.fees["sim-okx:PERP"].taker == Decimal("0.0005")


def test_an_incident_bundle_replays_to_the_same_result(tmp_path: Path) -> None:
    import json

    from streams.bundle import Bundle
    from streams.bundle import Message
    from streams.bundle import Window
    from streams.bundle import write_bundle

    records = _positioned()
    topics = ("md.instrument", "md.book", "md.funding")
    end = records[-1].timestamp_ms + 1
    bundle = Bundle(Window(m.T - 60_000, end), topics, end)
    ids = {t: 2000 + i for i, t in enumerate(topics)}
    for topic, schema_id in ids.items():
        bundle.writer_schemas[schema_id] = json.dumps(subject_schema(by_name(topic)))
    for p in records:
        message = Message(
            p.topic, 0, p.offset, p.timestamp_ms, None, ids[p.topic], p.record.to_avro()
        )
        bundle.messages.setdefault(p.topic, []).append(message)
    path = tmp_path / "incident.tar"
    write_bundle(bundle, path)
    loaded = load_path(path)
    assert [p.record for p in loaded] == m.market()  # timestamp order, facts first
    assert run_backtest([p.record for p in loaded], Strategy()).portfolio.total_pnl_quote == m.TOTAL
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(path.read_bytes()[:-1024])
    with pytest.raises(BacktestDataError, match=r"truncated\.tar"):
        load_path(truncated)


def test_a_settlement_at_the_exclusive_end_is_not_the_window_s() -> None:
    end = m.T + 16 * m.HOUR
    records = [p.record for p in in_window(_positioned(), None, end)]
    assert run_backtest(records, Strategy(), end).portfolio.funding_pnl_quote == Decimal("18.9924")
    inclusive = [p.record for p in in_window(_positioned(), None, end + 1)]
    settled = run_backtest(inclusive, Strategy(), end + 1).portfolio.funding_pnl_quote
    assert settled == 2 * Decimal("18.9924")


def test_a_thin_book_is_walked_and_its_slippage_is_one_cost_of_the_split() -> None:
    # 1 base a level: 1.666 takes 1 at the touch and 0.666 one level (0.6) worse, on each of
    # the four fills (two entries, two exits): slippage 4 * 0.666 * 0.6 = 1.5984
    p = run_backtest(m.market(level_size=Decimal(1)), Strategy()).portfolio
    assert p.slippage_quote is not None
    assert p.price_pnl_quote is not None
    assert p.slippage_quote == Decimal("1.5984")
    assert p.funding_pnl_quote == m.FUNDING
    # the buys' notionals are 0.3996 higher, the sells' 0.3996 lower: the same fees in all
    assert p.fees_quote == m.FEES
    # price PnL before slippage is the spread, as before; the walked fill prices are kept to 18
    # places (1.666 base does not divide their notionals), so the sums are exact to ~1e-18
    tiny = Decimal("1e-15")
    assert abs(p.price_pnl_quote - m.PRICE) < tiny
    assert abs(p.total_pnl_quote - (m.TOTAL - Decimal("1.5984"))) < tiny
    assert p.total_pnl_quote.quantize(CENT) == Decimal("33.39")
    assert p.price_pnl_quote + p.funding_pnl_quote - p.fees_quote - p.slippage_quote == (
        p.total_pnl_quote
    )
