"""The sinks' table maps: every stored topic has a table, and records become complete rows."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connectors.storage.relational import BY_TOPIC
from connectors.storage.relational import TABLES
from connectors.storage.relational import missing_topics
from connectors.storage.stores import Consumed
from connectors.storage.timeseries import BOOK_LEVELS
from connectors.storage.timeseries import SERIES
from connectors.storage.timeseries import SERIES_BY_TOPIC
from connectors.storage.timeseries import _dec
from connectors.storage.timeseries import _fixed_top
from fundingflow.stack.migrations import MIGRATIONS
from schemas.fixed_point import ask_levels
from schemas.fixed_point import bid_levels
from schemas.fixed_point import book_snapshot
from schemas.fixed_point import is_fixed
from schemas.fixed_point import value_of
from schemas.records.common import PriceLevel
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.samples import sample
from schemas.topics import by_name


def test_every_exec_and_portfolio_topic_has_a_postgres_table() -> None:
    assert missing_topics() == []


def test_the_migration_creates_every_postgres_table() -> None:
    text = "".join(path.read_text() for path in sorted(MIGRATIONS.glob("*.sql")))
    for table in TABLES:
        assert f"CREATE TABLE IF NOT EXISTS {table.name} (" in text


def test_a_row_has_one_value_per_column_for_every_record_of_the_topic() -> None:
    for table in TABLES:
        for record_type in by_name(table.topic).value_records:
            row = table.row(Consumed(sample(record_type), table.topic, 2, 41))
            assert len(row) == len(table.column_names), (table.name, record_type.__name__)
            assert row[0] == sample(record_type).envelope.event_id  # type: ignore[attr-defined]
            assert row[6:9] == (table.topic, 2, 41)


def test_the_payload_is_the_record_as_json() -> None:
    for table in TABLES:
        payload = table.column_names.index("payload")
        for record_type in by_name(table.topic).value_records:
            record = sample(record_type)
            row = table.row(Consumed(record, table.topic, 0, 0))
            assert row[payload] == record.model_dump_json(), (table.name, record_type.__name__)


def test_enums_are_written_as_their_wire_value() -> None:
    table = BY_TOPIC["exec.fill"]
    record = sample(by_name("exec.fill").value_records[0])
    row = dict(zip(table.column_names, table.row(Consumed(record, "exec.fill", 0, 0)), strict=True))
    assert row["side"] == record.side.value  # type: ignore[attr-defined]
    assert row["market_type"] == record.instrument.market_type.value  # type: ignore[attr-defined]


def test_questdb_tables_dedup_on_the_designated_timestamp_and_event_id() -> None:
    for table in SERIES:
        ddl = table.ddl(table.name)
        assert "TIMESTAMP(ts) PARTITION BY DAY WAL" in ddl
        assert ddl.endswith("DEDUP UPSERT KEYS(ts, event_id)")
        assert "DEDUP" not in table.ddl(table.name, dedup=False)


def test_every_questdb_row_fills_only_declared_columns() -> None:
    for table in SERIES:
        record = sample(by_name(table.topic).value_records[0])
        symbols, columns, event_ms = table.build(record)
        assert set(symbols) == set(table.symbols)
        assert set(columns) <= {name for name, _ in table.columns}
        assert event_ms == record.envelope.event_time_ms  # type: ignore[attr-defined]


def test_a_book_row_keeps_the_top_levels_exactly() -> None:
    record = realistic_book()
    assert is_fixed(record)
    _, columns, _ = SERIES_BY_TOPIC["md.book"].build(record)
    bids = bid_levels(record)
    assert value_of(columns["bid_price_1"], columns["price_scale"]) == bids[0].price
    assert value_of(columns["bid_size_1"], columns["size_scale"]) == bids[0].size_base
    assert f"bid_price_{BOOK_LEVELS + 1}" not in columns


def realistic_book(levels: int = 7, offset: int = 0) -> BookSnapshot:
    base = sample(BookSnapshot)
    mid = Decimal("65000.5") + offset
    bids = [PriceLevel(price=mid - i, size_base=Decimal("0.125") * (i + 1)) for i in range(levels)]
    asks = [PriceLevel(price=mid + 1 + i, size_base=Decimal("2") + i) for i in range(levels)]
    return book_snapshot(
        envelope=base.envelope, instrument=base.instrument, depth=levels, bids=bids, asks=asks
    )


def test_a_book_too_precise_for_int64_keeps_its_level_columns_null() -> None:
    _, columns, _ = SERIES_BY_TOPIC["md.book"].build(sample(BookSnapshot))
    assert "bid_price_1" not in columns
    assert "price_scale" not in columns


def test_a_decimal_book_is_stored_in_fixed_point_too() -> None:
    levels = (PriceLevel(price=Decimal("65000.125"), size_base=Decimal("0.5")),)
    record = sample(BookSnapshot).model_copy(
        update={
            "bids": levels,
            "asks": levels,
            "bid_prices": (),
            "bid_sizes": (),
            "ask_prices": (),
            "ask_sizes": (),
        }
    )
    _, columns, _ = SERIES_BY_TOPIC["md.book"].build(record)
    assert (columns["bid_price_1"], columns["price_scale"]) == (65000125, 3)
    assert (columns["ask_size_1"], columns["size_scale"]) == (5, 1)


def test_decimals_beyond_eighteen_places_round_half_even() -> None:
    assert _dec(Decimal("0.0000000000000000125")) == Decimal("0.000000000000000012")
    assert _dec(Decimal("1.5")) == Decimal("1.5")
    assert _dec(None) is None


def test_funding_row_leaves_missing_optionals_out() -> None:
    record = sample(FundingRateUpdate).model_copy(update={"index_price": None})
    _, columns, _ = SERIES_BY_TOPIC["md.funding"].build(record)
    assert "index_price" not in columns


@given(st.lists(st.integers(1, 7), min_size=1, max_size=6))
def test_a_batch_of_books_by_column_equals_each_book_on_its_own(depths: list[int]) -> None:
    table = SERIES_BY_TOPIC["md.book"]
    books = [realistic_book(levels) for levels in depths]
    frame = table.frame(books)
    for i, record in enumerate(books):
        alone = table.build(record)
        assert frame.row(i) == alone
        _, columns, _ = alone
        for n in range(1, BOOK_LEVELS + 1):
            assert (f"bid_price_{n}" in columns) == (n <= depths[i])


_BOOK_KINDS = st.sampled_from(["fixed", "decimal", "too_precise"])


def _book_of(kind: str, levels: int, offset: int) -> BookSnapshot:
    """A book in fixed point, one as decimal levels, or one whose levels fit no int64 scale."""
    if kind == "fixed":
        return realistic_book(levels, offset)
    if kind == "too_precise":
        return sample(BookSnapshot)
    fixed = realistic_book(levels, offset)
    return fixed.model_copy(
        update={
            "bids": bid_levels(fixed),
            "asks": ask_levels(fixed),
            "bid_prices": (),
            "bid_sizes": (),
            "ask_prices": (),
            "ask_sizes": (),
        }
    )


@given(st.lists(st.tuples(_BOOK_KINDS, st.integers(1, 7)), min_size=1, max_size=8))
def test_a_mixed_batch_of_books_has_each_books_own_levels(books: list[tuple[str, int]]) -> None:
    """Every row of a batch (fixed-point, decimal and unscalable books mixed, any depth) has the
    levels of its book on its own: scales, then the top mantissas or NULL."""
    table = SERIES_BY_TOPIC["md.book"]
    records = [_book_of(kind, levels, i) for i, (kind, levels) in enumerate(books)]
    frame = table.frame(records)
    for i, record in enumerate(records):
        assert frame.row(i) == table.build(record)
        price_scale, size_scale, tops = _fixed_top(record)
        assert frame.columns["price_scale"][i] == price_scale
        assert frame.columns["size_scale"][i] == size_scale
        for family, mantissas in zip(
            ("bid_price", "bid_size", "ask_price", "ask_size"), tops, strict=True
        ):
            for n in range(BOOK_LEVELS):
                expected = mantissas[n] if n < len(mantissas) else None
                assert frame.columns[f"{family}_{n + 1}"][i] == expected
