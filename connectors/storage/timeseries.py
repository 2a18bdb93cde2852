"""The QuestDB time-series tables: which topic goes to which table and how a record becomes a row.

Each table has the venue event time as designated timestamp (``ts``), is partitioned by day
and deduplicates on ``(ts, event_id)`` (``DEDUP UPSERT KEYS``), so a re-consumed event
replaces itself instead of adding a row. Prices, sizes and rates are ``DECIMAL(38, 18)``, except
the book levels: int64 mantissas with one price and one size scale, as ``md.book`` carries them
(exact, and QuestDB ingests integers several times faster than decimals).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN
from decimal import Decimal
from typing import Any

from questdb import TimestampMicros

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

Row = tuple[dict[str, str | None], dict[str, Any], int]
"""(symbols, columns, event time in ms) of one ILP row; a None column is written as NULL."""


def _dec(value: Decimal | None) -> Decimal | None:
    """``value`` in the column's scale (18 places; more are rounded half-even)."""
    if value is None:
        return None
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -18:
        return value.quantize(SCALE, rounding=ROUND_HALF_EVEN)
    return value


def _micros(ms: int | None) -> TimestampMicros | None:
    return None if ms is None else TimestampMicros(ms * 1000)


@dataclass(frozen=True, slots=True)
class SeriesTable:
    """One QuestDB table: its DDL columns (after ``ts``) and its row builder."""

    name: str
    topic: str
    symbols: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    build: Callable[[Any], Row]

    def ddl(self, table_name: str, *, dedup: bool = True) -> str:
        """``CREATE TABLE IF NOT EXISTS`` of this table under ``table_name``."""
        parts = ["ts TIMESTAMP", *(f"{s} SYMBOL" for s in self.symbols)]
        parts += [f"{name} {kind}" for name, kind in self.columns]
        text = (
            f"CREATE TABLE IF NOT EXISTS {table_name} ({', '.join(parts)})"
            " TIMESTAMP(ts) PARTITION BY DAY WAL"
        )
        return f"{text} DEDUP UPSERT KEYS(ts, event_id)" if dedup else text


_COMMON = (("event_id", "VARCHAR"), ("ingest_ts", "TIMESTAMP"))
_INSTRUMENT = ("exchange", "symbol", "market_type")


def _envelope_columns(record: Any) -> dict[str, Any]:
    env = record.envelope
    return {"event_id": env.event_id, "ingest_ts": _micros(env.ingest_time_ms)}


def _instrument_symbols(record: Any) -> dict[str, str | None]:
    i = record.instrument
    return {"exchange": i.exchange, "symbol": i.symbol, "market_type": i.market_type.value}


def _book_columns() -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = [*_COMMON, ("source_seq", "LONG")]
    out += [("price_scale", "INT"), ("size_scale", "INT")]
    for side in ("bid", "ask"):
        for n in range(1, BOOK_LEVELS + 1):
            out += [(f"{side}_price_{n}", "LONG"), (f"{side}_size_{n}", "LONG")]
    return tuple(out)


def _fixed_top(record: BookSnapshot) -> tuple[int, int, dict[str, tuple[int, ...]]] | None:
    """(price scale, size scale, mantissas per column family) of the top levels; None when a
    book travels as decimals whose top levels do not fit int64 at any scale either."""
    if is_fixed(record):
        return (
            record.price_scale,
            record.size_scale,
            {
                "bid_price": record.bid_prices[:BOOK_LEVELS],
                "bid_size": record.bid_sizes[:BOOK_LEVELS],
                "ask_price": record.ask_prices[:BOOK_LEVELS],
                "ask_size": record.ask_sizes[:BOOK_LEVELS],
            },
        )
    bids, asks = record.bids[:BOOK_LEVELS], record.asks[:BOOK_LEVELS]
    price_scale = scale_for([lv.price for lv in (*bids, *asks)])
    size_scale = scale_for([lv.size_base for lv in (*bids, *asks)])
    if price_scale is None or size_scale is None:
        return None
    return (
        price_scale,
        size_scale,
        {
            "bid_price": tuple(mantissa(lv.price, price_scale) for lv in bids),
            "bid_size": tuple(mantissa(lv.size_base, size_scale) for lv in bids),
            "ask_price": tuple(mantissa(lv.price, price_scale) for lv in asks),
            "ask_size": tuple(mantissa(lv.size_base, size_scale) for lv in asks),
        },
    )


_BOOK_NAMES = {
    family: tuple(f"{family}_{n}" for n in range(1, BOOK_LEVELS + 1))
    for family in ("bid_price", "bid_size", "ask_price", "ask_size")
}


def _book_row(record: BookSnapshot) -> Row:
    """Top levels as exact fixed point: ``price = bid_price_1 / 10^price_scale`` (the record's
    own columns); a book whose top levels fit no int64 scale keeps its level columns NULL."""
    env = record.envelope
    columns: dict[str, Any] = {
        "event_id": env.event_id,
        "ingest_ts": TimestampMicros(env.ingest_time_ms * 1000),
        "source_seq": env.source_seq,
    }
    fixed = _fixed_top(record)
    if fixed is not None:
        columns["price_scale"], columns["size_scale"], families = fixed
        for family, values in families.items():
            columns.update(zip(_BOOK_NAMES[family], values, strict=False))
    return _instrument_symbols(record), columns, env.event_time_ms


def _trade_row(record: Trade) -> Row:
    symbols: dict[str, str | None] = {**_instrument_symbols(record), "side": record.side.value}
    columns = {
        **_envelope_columns(record),
        "trade_id": record.trade_id,
        "price": _dec(record.price),
        "size_base": _dec(record.size_base),
    }
    return symbols, columns, record.envelope.event_time_ms


def _funding_row(record: FundingRateUpdate) -> Row:
    columns = {
        **_envelope_columns(record),
        "funding_rate": _dec(record.funding_rate),
        "funding_interval_ms": record.funding_interval_ms,
        "next_funding_ts": _micros(record.next_funding_time_ms),
        "mark_price": _dec(record.mark_price),
        "index_price": _dec(record.index_price),
        "predicted_next_funding_rate": _dec(record.predicted_next_funding_rate),
    }
    return _instrument_symbols(record), columns, record.envelope.event_time_ms


def _spread_row(record: SpreadUpdate) -> Row:
    long_leg, short_leg = record.long_leg, record.short_leg
    symbols: dict[str, str | None] = {
        "kind": record.kind.value,
        "base_asset": record.base_asset,
        "long_exchange": long_leg.instrument.exchange,
        "long_symbol": long_leg.instrument.symbol,
        "short_exchange": short_leg.instrument.exchange,
        "short_symbol": short_leg.instrument.symbol,
    }
    columns = {
        **_envelope_columns(record),
        "long_price": _dec(long_leg.price),
        "short_price": _dec(short_leg.price),
        "long_funding_rate": _dec(long_leg.funding_rate),
        "short_funding_rate": _dec(short_leg.funding_rate),
        "price_spread_bps": _dec(record.price_spread_bps),
        "funding_spread_apr_bps": _dec(record.funding_spread_apr_bps),
    }
    return symbols, columns, record.envelope.event_time_ms


_PNL_FIELDS = (
    "realized_pnl_quote",
    "unrealized_pnl_quote",
    "funding_pnl_quote",
    "fees_quote",
    "total_pnl_quote",
    "gross_exposure_quote",
    "net_exposure_quote",
)


def _pnl_row(record: PnlSnapshot) -> Row:
    symbols: dict[str, str | None] = {
        "scope": record.scope,
        "quote_currency": record.quote_currency,
    }
    columns: dict[str, Any] = _envelope_columns(record)
    for name in _PNL_FIELDS:
        columns[name] = _dec(getattr(record, name))
    return symbols, columns, record.envelope.event_time_ms


SERIES: tuple[SeriesTable, ...] = (
    SeriesTable("md_books", MD_BOOK, _INSTRUMENT, _book_columns(), _book_row),
    SeriesTable(
        "md_trades",
        MD_TRADE,
        (*_INSTRUMENT, "side"),
        (*_COMMON, ("trade_id", "VARCHAR"), ("price", DECIMAL), ("size_base", DECIMAL)),
        _trade_row,
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
        _funding_row,
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
        _spread_row,
    ),
    SeriesTable(
        "portfolio_pnl",
        PORTFOLIO_PNL,
        ("scope", "quote_currency"),
        (*_COMMON, *((name, DECIMAL) for name in _PNL_FIELDS)),
        _pnl_row,
    ),
)
"""Every QuestDB table, one per stored topic."""

SERIES_TOPICS: tuple[str, ...] = tuple(t.topic for t in SERIES)
SERIES_BY_TOPIC: dict[str, SeriesTable] = {t.topic: t for t in SERIES}
