"""The QuestDB time-series tables: which topic goes to which table and how a record becomes a row.

Each table has the venue event time as designated timestamp (``ts``), is partitioned by day
and deduplicates on ``(ts, event_id)`` (``DEDUP UPSERT KEYS``), so a re-consumed event
replaces itself instead of adding a row. Prices, sizes and rates are ``DECIMAL(38, 18)``, except
the book levels: int64 mantissas with one price and one size scale, as ``md.book`` carries them
(exact, and QuestDB ingests integers several times faster than decimals).

The market tables (books, trades, funding) also keep each event as Kafka held it
(:data:`WIRE_COLUMNS`: its partition, offset and record timestamp, and base64 of its key and of
its Confluent-framed Avro value): the level columns are the analytics' view (five levels), the
wire columns what a replay from the store re-publishes, byte for byte.
"""

from __future__ import annotations

from binascii import b2a_base64 as _b64
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN
from decimal import Decimal
from operator import attrgetter
from typing import Any

from connectors.storage.stores import Consumed
from schemas.fixed_point import is_fixed
from schemas.fixed_point import mantissa
from schemas.fixed_point import scale_for
from schemas.records.arb import SpreadUpdate
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import Trade
from schemas.records.portfolio import PnlSnapshot
from schemas.topics import ARB_SPREAD
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_TRADE
from schemas.topics import PORTFOLIO_PNL

DECIMAL = "DECIMAL(38, 18)"
SCALE = Decimal(1).scaleb(-18)
BOOK_LEVELS = 5
"""Top levels per side stored of each book snapshot."""

WIRE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("kafka_partition", "INT"),
    ("kafka_offset", "LONG"),
    ("kafka_timestamp_ms", "LONG"),
    ("wire_key", "VARCHAR"),
    ("wire_value", "VARCHAR"),
)
"""The message as consumed (key and value base64): what a store replay re-publishes."""

Row = tuple[dict[str, str | None], dict[str, Any], int]
"""(symbols, columns, event time in ms) of one record's row; a None column is written as NULL."""

Columns = dict[str, list[Any]]
"""Column name -> one value per record of a batch (None: NULL)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A batch of rows by column, as the ILP sender's dataframe path takes it."""

    symbols: Columns
    columns: Columns
    event_ms: list[int]

    def __len__(self) -> int:
        return len(self.event_ms)

    def with_columns(self, extra: Columns) -> Frame:
        return Frame(self.symbols, {**self.columns, **extra}, self.event_ms)

    def row(self, i: int) -> Row:
        """Row ``i`` with its NULL columns left out (how one record reads)."""
        return (
            {k: v[i] for k, v in self.symbols.items()},
            {k: v[i] for k, v in self.columns.items() if v[i] is not None},
            self.event_ms[i],
        )


def _dec(value: Decimal | None) -> Decimal | None:
    """``value`` in the column's scale (18 places; more are rounded half-even)."""
    if value is None:
        return None
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -18:
        return value.quantize(SCALE, rounding=ROUND_HALF_EVEN)
    return value


@dataclass(frozen=True, slots=True)
class SeriesTable:
    """One QuestDB table: its DDL columns (after ``ts``) and its batch builder."""

    name: str
    topic: str
    symbols: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    frame: Callable[[Sequence[Any]], Frame]
    """The rows of a batch of records by column (the one row builder of the table)."""
    wire: bool = False
    """Whether the table also keeps each message as consumed (:data:`WIRE_COLUMNS`)."""

    @property
    def all_columns(self) -> tuple[tuple[str, str], ...]:
        """The DDL columns after ``ts`` and the symbols: the record's, then the wire ones."""
        return (*self.columns, *WIRE_COLUMNS) if self.wire else self.columns

    def batch(self, items: Sequence[Consumed]) -> Frame:
        """The rows of consumed events: the record columns, and the wire ones if kept."""
        frame = self.frame([item.record for item in items])
        return frame.with_columns(wire_columns(items)) if self.wire else frame

    def build(self, record: Any) -> Row:
        """One record's row."""
        return self.frame([record]).row(0)

    @property
    def timestamp_columns(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.all_columns if kind == "TIMESTAMP")

    def ddl(self, table_name: str, *, dedup: bool = True) -> str:
        """``CREATE TABLE IF NOT EXISTS`` of this table under ``table_name``."""
        parts = ["ts TIMESTAMP", *(f"{s} SYMBOL" for s in self.symbols)]
        parts += [f"{name} {kind}" for name, kind in self.all_columns]
        text = (
            f"CREATE TABLE IF NOT EXISTS {table_name} ({', '.join(parts)})"
            " TIMESTAMP(ts) PARTITION BY DAY WAL"
        )
        return f"{text} DEDUP UPSERT KEYS(ts, event_id)" if dedup else text


def wire_columns(items: Sequence[Consumed]) -> Columns:
    """Each event's Kafka position, record timestamp, key and value (base64 text)."""
    return {
        "kafka_partition": [i.partition for i in items],
        "kafka_offset": [i.offset for i in items],
        "kafka_timestamp_ms": [i.timestamp_ms for i in items],
        "wire_key": [None if i.key is None else _b64(i.key, newline=False).decode() for i in items],
        "wire_value": [_b64(i.value, newline=False).decode() for i in items],
    }


_COMMON = (("event_id", "VARCHAR"), ("ingest_ts", "TIMESTAMP"))
_INSTRUMENT = ("exchange", "symbol", "market_type")


def _envelope_columns(records: Sequence[Any]) -> Columns:
    """``event_id`` and ``ingest_ts`` (epoch ms; the store types timestamp columns)."""
    envs = [r.envelope for r in records]
    return {
        "event_id": [e.event_id for e in envs],
        "ingest_ts": [e.ingest_time_ms for e in envs],
    }


def _event_ms(records: Sequence[Any]) -> list[int]:
    return [r.envelope.event_time_ms for r in records]


def _instrument_symbols(records: Sequence[Any], path: str = "instrument") -> Columns:
    refs = [getattr(r, path) for r in records]
    return {
        "exchange": [i.exchange for i in refs],
        "symbol": [i.symbol for i in refs],
        "market_type": [i.market_type.value for i in refs],
    }


def _decimals(records: Sequence[Any], *names: str) -> Columns:
    return {name: [_dec(getattr(r, name)) for r in records] for name in names}


def _book_columns() -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = [*_COMMON, ("source_seq", "LONG")]
    out += [("price_scale", "INT"), ("size_scale", "INT")]
    for side in ("bid", "ask"):
        for n in range(1, BOOK_LEVELS + 1):
            out += [(f"{side}_price_{n}", "LONG"), (f"{side}_size_{n}", "LONG")]
    return tuple(out)


_FAMILIES = ("bid_price", "bid_size", "ask_price", "ask_size")
_FIXED_FAMILIES = tuple(attrgetter(f"{family}s") for family in _FAMILIES)
"""The record's mantissa tuple of each column family (``bid_prices`` ...)."""
_NO_TOP = (None, None, ((),) * len(_FAMILIES))


def _fixed_top(record: BookSnapshot) -> tuple[int | None, int | None, tuple[Sequence[int], ...]]:
    """(price scale, size scale, top mantissas per column family); the scales are None when a
    book travels as decimals whose top levels do not fit int64 at any scale either."""
    if is_fixed(record):
        return (
            record.price_scale,
            record.size_scale,
            (
                record.bid_prices[:BOOK_LEVELS],
                record.bid_sizes[:BOOK_LEVELS],
                record.ask_prices[:BOOK_LEVELS],
                record.ask_sizes[:BOOK_LEVELS],
            ),
        )
    bids, asks = record.bids[:BOOK_LEVELS], record.asks[:BOOK_LEVELS]
    price_scale = scale_for([lv.price for lv in (*bids, *asks)])
    size_scale = scale_for([lv.size_base for lv in (*bids, *asks)])
    if price_scale is None or size_scale is None:
        return _NO_TOP
    return (
        price_scale,
        size_scale,
        (
            tuple(mantissa(lv.price, price_scale) for lv in bids),
            tuple(mantissa(lv.size_base, size_scale) for lv in bids),
            tuple(mantissa(lv.price, price_scale) for lv in asks),
            tuple(mantissa(lv.size_base, size_scale) for lv in asks),
        ),
    )


def _book_frame(records: Sequence[BookSnapshot]) -> Frame:
    """Top levels as exact fixed point: ``price = bid_price_1 / 10^price_scale`` (the record's
    own columns); a book whose top levels fit no int64 scale keeps its level columns NULL."""
    columns: Columns = {
        **_envelope_columns(records),
        "source_seq": [r.envelope.source_seq for r in records],
    }
    if all(map(is_fixed, records)):  # as the connectors publish books: no container per record
        columns["price_scale"] = [r.price_scale for r in records]
        columns["size_scale"] = [r.size_scale for r in records]
        by_family = [[get(r)[:BOOK_LEVELS] for r in records] for get in _FIXED_FAMILIES]
    else:
        tops = [_fixed_top(r) for r in records]
        columns["price_scale"] = [t[0] for t in tops]
        columns["size_scale"] = [t[1] for t in tops]
        by_family = [[t[2][k] for t in tops] for k in range(len(_FAMILIES))]
    for family, mantissas in zip(_FAMILIES, by_family, strict=True):
        # one list per column (allocations make the collector run)
        if mantissas and min(map(len, mantissas)) >= BOOK_LEVELS:  # every book that deep
            for n, level in enumerate(zip(*mantissas, strict=True)):  # transposed in C
                columns[f"{family}_{n + 1}"] = list(level)
            continue
        for n in range(BOOK_LEVELS):
            columns[f"{family}_{n + 1}"] = [m[n] if len(m) > n else None for m in mantissas]
    return Frame(_instrument_symbols(records), columns, _event_ms(records))


def _trade_frame(records: Sequence[Trade]) -> Frame:
    symbols = {**_instrument_symbols(records), "side": [r.side.value for r in records]}
    columns = {
        **_envelope_columns(records),
        "trade_id": [r.trade_id for r in records],
        **_decimals(records, "price", "size_base"),
    }
    return Frame(symbols, columns, _event_ms(records))


def _funding_frame(records: Sequence[FundingRateUpdate]) -> Frame:
    columns = {
        **_envelope_columns(records),
        "funding_rate": [_dec(r.funding_rate) for r in records],
        "funding_interval_ms": [r.funding_interval_ms for r in records],
        "next_funding_ts": [r.next_funding_time_ms for r in records],
        **_decimals(records, "mark_price", "index_price", "predicted_next_funding_rate"),
    }
    return Frame(_instrument_symbols(records), columns, _event_ms(records))


def _spread_frame(records: Sequence[SpreadUpdate]) -> Frame:
    longs = [r.long_leg for r in records]
    shorts = [r.short_leg for r in records]
    symbols: Columns = {
        "kind": [r.kind.value for r in records],
        "base_asset": [r.base_asset for r in records],
        "long_exchange": [leg.instrument.exchange for leg in longs],
        "long_symbol": [leg.instrument.symbol for leg in longs],
        "short_exchange": [leg.instrument.exchange for leg in shorts],
        "short_symbol": [leg.instrument.symbol for leg in shorts],
    }
    columns = {
        **_envelope_columns(records),
        "long_price": [_dec(leg.price) for leg in longs],
        "short_price": [_dec(leg.price) for leg in shorts],
        "long_funding_rate": [_dec(leg.funding_rate) for leg in longs],
        "short_funding_rate": [_dec(leg.funding_rate) for leg in shorts],
        **_decimals(records, "price_spread_bps", "funding_spread_apr_bps"),
    }
    return Frame(symbols, columns, _event_ms(records))


_PNL_FIELDS = (
    "realized_pnl_quote",
    "unrealized_pnl_quote",
    "funding_pnl_quote",
    "fees_quote",
    "total_pnl_quote",
    "gross_exposure_quote",
    "net_exposure_quote",
)


def _pnl_frame(records: Sequence[PnlSnapshot]) -> Frame:
    symbols: Columns = {
        "scope": [r.scope for r in records],
        "quote_currency": [r.quote_currency for r in records],
    }
    columns = {**_envelope_columns(records), **_decimals(records, *_PNL_FIELDS)}
    return Frame(symbols, columns, _event_ms(records))


SERIES: tuple[SeriesTable, ...] = (
    SeriesTable("md_books", MD_BOOK, _INSTRUMENT, _book_columns(), _book_frame, wire=True),
    SeriesTable(
        "md_trades",
        MD_TRADE,
        (*_INSTRUMENT, "side"),
        (*_COMMON, ("trade_id", "VARCHAR"), ("price", DECIMAL), ("size_base", DECIMAL)),
        _trade_frame,
        wire=True,
    ),
    SeriesTable(
        "md_funding",
        MD_FUNDING,
        _INSTRUMENT,
        (
            *_COMMON,
            ("funding_rate", DECIMAL),
            ("funding_interval_ms", "LONG"),
            ("next_funding_ts", "TIMESTAMP"),
            ("mark_price", DECIMAL),
            ("index_price", DECIMAL),
            ("predicted_next_funding_rate", DECIMAL),
        ),
        _funding_frame,
        wire=True,
    ),
    SeriesTable(
        "arb_spreads",
        ARB_SPREAD,
        ("kind", "base_asset", "long_exchange", "long_symbol", "short_exchange", "short_symbol"),
        (
            *_COMMON,
            ("long_price", DECIMAL),
            ("short_price", DECIMAL),
            ("long_funding_rate", DECIMAL),
            ("short_funding_rate", DECIMAL),
            ("price_spread_bps", DECIMAL),
            ("funding_spread_apr_bps", DECIMAL),
        ),
        _spread_frame,
    ),
    SeriesTable(
        "portfolio_pnl",
        PORTFOLIO_PNL,
        ("scope", "quote_currency"),
        (*_COMMON, *((name, DECIMAL) for name in _PNL_FIELDS)),
        _pnl_frame,
    ),
)
"""Every QuestDB table, one per stored topic."""

SERIES_TOPICS: tuple[str, ...] = tuple(t.topic for t in SERIES)
SERIES_BY_TOPIC: dict[str, SeriesTable] = {t.topic: t for t in SERIES}
WIRE_TOPICS: frozenset[str] = frozenset(t.topic for t in SERIES if t.wire)
"""The topics a store replay reads from QuestDB."""
