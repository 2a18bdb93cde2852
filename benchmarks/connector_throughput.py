"""Connector throughput on the simulated venues: normalized records/s, beside a baseline.

    python -m benchmarks.connector_throughput [--payloads 12000] [--records 30000] [--json]

Three measurements, each next to a baseline measured in the same process (the machine's load
moves absolute figures; ratios stay comparable):

* ``normalize``: payloads captured from the sim once, then normalized by kind (books, funding,
  trades) with the connector's path and with the path it replaced (:mod:`._old_normalize`
  below: raw JSON + sha256 of every payload, pydantic-validated records, a processors ``Book``
  for validation). One pass over payloads never seen before (the connector's memo of
  numbers cleared first), best of three rounds.
* ``sim``: the ``SimExchange`` streams alone (``watch_order_book`` / ``watch_trades``), no
  normalization: what the simulated venue costs by itself.
* ``feed``: the whole ``fundingflow connect --venues sim --speed max`` loop (every book,
  trades and funding stream of the three sim venues, sequencing, dead letters) into a sink
  that counts (``feed``) or Avro-encodes (``feed_encoded``) and drops each record, with the
  connector's normalization and with the old one patched in (``*_old``).

Prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from typing import Any

from connectors import normalize
from connectors.config import ConnectorSettings
from connectors.config import ValidationBounds
from connectors.factory import create_venues
from connectors.feed import FeedConfig
from connectors.feed import run_feed
from connectors.instruments import select
from connectors.venue import Instrument
from connectors.venue import InvalidPayload
from processors.books import validate_book
from processors.units import Book
from processors.units import BookLevel
from schemas import fixed_point
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.errors import InvalidEvent
from schemas.records.common import Envelope
from schemas.records.common import PriceLevel
from schemas.records.common import Side
from schemas.records.dlq import DeadLetterReason as R
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import Trade
from schemas.registry import InMemoryRegistry
from schemas.subjects import subject_schema_str
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_TRADE
from schemas.topics import by_name

TARGET = 20_000
DEPTH = ConnectorSettings().book_depth


# ------------------------------------------------------------------ the replaced path, frozen


class _OldContext(normalize.Context):
    """The old context: raw JSON of every payload built up front, sha256 event ids."""

    __slots__ = ()

    def envelope(
        self, event_time_ms: int, source_seq: int | None = None, identity: str | None = None
    ) -> Envelope:
        del identity
        digest = hashlib.sha256(self.raw).hexdigest()
        name = f"{self.topic}|{self.exchange}|{self.symbol or ''}|{digest}"
        return Envelope(
            event_id=str(uuid.uuid5(normalize.EVENT_ID_NAMESPACE, name)),
            event_time_ms=event_time_ms,
            ingest_time_ms=self.ingest_time_ms,
            source_seq=source_seq,
        )


def _old_context(ins: Instrument, topic: str, payload: object, ingest: int) -> _OldContext:
    raw = normalize.raw_json(payload)
    return _OldContext(ins.exchange, ins.symbol, topic, payload, ingest, raw_bytes=raw)


def _old_book(
    order_book: object, ins: Instrument, depth: int, ingest: int, bounds: ValidationBounds
) -> BookSnapshot:
    ctx = _old_context(ins, MD_BOOK, order_book, ingest)
    if not isinstance(order_book, dict) or order_book.get("symbol") != ins.symbol:
        raise ctx.refuse(R.MALFORMED_PAYLOAD, "not a book of this instrument")

    def levels(side: Any, name: str) -> tuple[BookLevel, ...]:
        if not isinstance(side, list):
            raise ctx.refuse(R.MALFORMED_PAYLOAD, f"{name} is not a list of levels")
        return tuple(
            BookLevel(ctx.required(lv[0], f"{name} price"), ctx.required(lv[1], f"{name} size"))
            for lv in side[:depth]
        )

    bids = levels(order_book.get("bids"), "bids")
    asks = levels(order_book.get("asks"), "asks")
    event_time_ms = ctx.event_time(order_book.get("timestamp"), bounds)
    nonce = ctx.integer(order_book.get("nonce"), "nonce", required=False)
    try:
        validate_book(Book(bids, asks, event_time_ms, nonce))
    except InvalidEvent as e:
        raise ctx.refuse(R.MALFORMED_PAYLOAD, e.detail) from None
    size = ins.contract_size_base
    return BookSnapshot(
        envelope=ctx.envelope(event_time_ms, nonce),
        instrument=ins.ref,
        depth=depth,
        bids=tuple(PriceLevel(price=lv.price, size_base=lv.size_base * size) for lv in bids),
        asks=tuple(PriceLevel(price=lv.price, size_base=lv.size_base * size) for lv in asks),
    )


def _old_trade(trade: object, ins: Instrument, ingest: int, bounds: ValidationBounds) -> Trade:
    ctx = _old_context(ins, MD_TRADE, trade, ingest)
    if not isinstance(trade, dict) or trade.get("symbol") != ins.symbol:
        raise ctx.refuse(R.MALFORMED_PAYLOAD, "not a trade of this instrument")
    price = ctx.positive(trade.get("price"), "price")
    amount = ctx.positive(trade.get("amount"), "amount", R.NON_POSITIVE_SIZE)
    trade_id = trade.get("id")
    return Trade(
        envelope=ctx.envelope(ctx.event_time(trade.get("timestamp"), bounds)),
        instrument=ins.ref,
        trade_id=None if trade_id is None else str(trade_id),
        side=Side.BUY if trade.get("side") == "buy" else Side.SELL,
        price=price,
        size_base=amount * ins.contract_size_base,
    )


def _old_funding(
    funding_rate: object,
    ins: Instrument,
    ingest: int,
    bounds: ValidationBounds,
    *,
    interval_ms: int | None = None,
    source: object = None,
) -> FundingRateUpdate:
    del source
    ctx = _old_context(ins, MD_FUNDING, funding_rate, ingest)
    if not isinstance(funding_rate, dict) or funding_rate.get("symbol") != ins.symbol:
        raise ctx.refuse(R.MALFORMED_PAYLOAD, "not a funding rate of this instrument")
    fr = funding_rate
    rate = ctx.required(fr.get("fundingRate"), "fundingRate")
    if abs(rate) > bounds.max_abs_funding_rate:
        raise ctx.refuse(R.FUNDING_RATE_OUT_OF_BOUNDS, "out of bounds")
    interval = normalize.funding_interval_of(fr) or interval_ms
    next_time = ctx.integer(fr.get("fundingTimestamp"), "fundingTimestamp")
    if interval is None or next_time is None:
        raise ctx.refuse(R.MALFORMED_PAYLOAD, "incomplete")
    return FundingRateUpdate(
        envelope=ctx.envelope(ctx.event_time(fr.get("timestamp"), bounds)),
        instrument=ins.ref,
        funding_rate=rate,
        funding_interval_ms=interval,
        next_funding_time_ms=next_time,
        mark_price=ctx.positive(fr.get("markPrice"), "markPrice"),
        index_price=ctx.positive(fr.get("indexPrice"), "indexPrice"),
        predicted_next_funding_rate=None,
    )


@contextmanager
def _old_normalization() -> Iterator[None]:
    """Patch the replaced path into ``connectors.normalize`` (the venue calls it by module)."""
    saved = (normalize.to_book_snapshot, normalize.to_trade, normalize.to_funding_rate_update)
    normalize.to_book_snapshot = _old_book  # type: ignore[assignment]
    normalize.to_trade = _old_trade  # type: ignore[assignment]
    normalize.to_funding_rate_update = _old_funding  # type: ignore[assignment]
    try:
        yield
    finally:
        normalize.to_book_snapshot, normalize.to_trade, normalize.to_funding_rate_update = saved


# ------------------------------------------------------------------------- capture and time


Payloads = dict[str, list[tuple[object, Instrument]]]


async def _capture(count: int) -> tuple[Payloads, int]:
    """``count`` books and trades (and up to 600 funding rates) from the sim world: all of its
    venues, BTC and ETH, one market after the other."""
    venues = create_venues("sim", ConnectorSettings())
    out: Payloads = {"books": [], "trades": [], "funding": []}
    ingest = 0
    for venue in venues:
        instruments = select(await venue.load_instruments(), ("BTC", "ETH"))
        ex = venue.exchange
        per = max(1, count // (len(venues) * len(instruments)))
        for ins in instruments:
            for _ in range(per):
                out["books"].append((await ex.watch_order_book(ins.symbol, DEPTH), ins))
            trades: list[tuple[object, Instrument]] = []
            while len(trades) < per:
                trades += [(t, ins) for t in await ex.watch_trades(ins.symbol)]
            out["trades"] += trades[:per]
        perps = [i for i in instruments if i.is_perp]
        by_symbol = {i.symbol: i for i in perps}  # a malformed rate may name another symbol
        funding: list[tuple[object, Instrument]] = []
        while len(funding) < min(count, 600) // len(venues):
            rates = await ex.fetch_funding_rates(list(by_symbol))
            funding += [(fr, by_symbol.get(s, perps[0])) for s, fr in rates.items()]
            await ex.sleep(60_000)
        out["funding"] += funding
        ingest = max(ingest, venue.now_ms())
    return out, ingest + 10_000_000


def _cold() -> None:
    """Forget the numbers the connector learnt (each round starts as a fresh process)."""
    normalize._NUMBERS.clear()
    normalize._FIXED.clear()
    normalize._FIXED_BASES.clear()
    normalize._UNITS.clear()
    fixed_point._DIGITS.clear()


def _rate(items: list[tuple[object, Instrument]], call: Callable[..., Any]) -> int:
    """Items per second of one pass of ``call(payload, instrument)`` over payloads seen for
    the first time (memo cold), best of three rounds."""
    best = 0.0
    for _ in range(3):
        _cold()
        gc.collect()
        start = time.perf_counter()
        for payload, ins in items:
            with suppress(InvalidPayload):
                call(payload, ins)
        best = max(best, len(items) / (time.perf_counter() - start))
    return round(best)


def normalize_figures(count: int) -> dict[str, Any]:
    payloads, ingest = asyncio.run(_capture(count))
    bounds = ValidationBounds(max_future_skew_ms=10**12)
    paths: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
        "books": (
            lambda p, i: normalize.to_book_snapshot(p, i, DEPTH, ingest, bounds),
            lambda p, i: _old_book(p, i, DEPTH, ingest, bounds),
        ),
        "trades": (
            lambda p, i: normalize.to_trade(p, i, ingest, bounds),
            lambda p, i: _old_trade(p, i, ingest, bounds),
        ),
        "funding": (
            lambda p, i: normalize.to_funding_rate_update(p, i, ingest, bounds, interval_ms=1),
            lambda p, i: _old_funding(p, i, ingest, bounds, interval_ms=1),
        ),
    }
    out: dict[str, Any] = {}
    for kind, (new, old) in paths.items():
        items = payloads[kind]
        old_rate = _rate(items, old)
        new_rate = _rate(items, new)
        out[kind] = {
            "payloads": len(items),
            "records_per_s": new_rate,
            "old_records_per_s": old_rate,
            "vs_old": round(new_rate / old_rate, 2),
        }
    return out


async def _sim_streams(records: int) -> float:
    """Payloads/s of the sim's book and trade streams alone (no normalization)."""
    venues = create_venues("sim", ConnectorSettings())
    seen = 0

    async def books(ex: Any, symbol: str) -> None:
        nonlocal seen
        while seen < records:
            await ex.watch_order_book(symbol, DEPTH)
            seen += 1

    async def trades(ex: Any, symbol: str) -> None:
        nonlocal seen
        while seen < records:
            batch = await ex.watch_trades(symbol)  # not `seen += len(await ...)`: that reads
            seen += len(batch)  # `seen` before the await and loses the other tasks' counts

    tasks = []
    for venue in venues:
        for ins in select(await venue.load_instruments(), ("BTC", "ETH")):
            tasks += [books(venue.exchange, ins.symbol), trades(venue.exchange, ins.symbol)]
    start = time.perf_counter()
    await asyncio.gather(*tasks)
    return seen / (time.perf_counter() - start)


class _CountingSink:
    """Counts records (optionally Avro-encoding each, as the Kafka publisher does); keeps none,
    so the garbage collector sees what a real run's heap looks like."""

    def __init__(self, encode: bool) -> None:
        self.codec: Codec | None = None
        if encode:
            registry = InMemoryRegistry()
            for topic in (MD_BOOK, MD_FUNDING, MD_TRADE, "dlq.md"):
                spec = by_name(topic)
                registry.register(spec.subject, subject_schema_str(spec))
            self.codec = Codec(registry)
        self.count = 0
        self.bytes = 0

    def start(self, topics: list[str]) -> None:
        del topics

    def emit(self, topic: str, record: AvroRecord) -> None:
        self.count += 1
        if self.codec is not None:
            self.bytes += len(self.codec.encode(record, topic))

    def close(self) -> None:
        return None


def feed_rate(records: int, *, encode: bool) -> dict[str, Any]:
    sink = _CountingSink(encode)
    config = FeedConfig(venues=("sim",), limit=records, speed="max")
    gc.collect()
    stats = asyncio.run(run_feed(config, sink))
    return {
        "published": dict(sorted(stats.published.items())),
        "records": stats.total,
        "dead_letters": sum(stats.dead_letters.values()),
        "wall_s": round(stats.wall_s, 3),
        "records_per_s": round(stats.total / stats.wall_s),
    }


def run(payloads: int = 12_000, records: int = 30_000) -> dict[str, Any]:
    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    figures: dict[str, Any] = {"target_records_per_s": TARGET, "book_depth": DEPTH}
    figures["normalize"] = normalize_figures(payloads)
    figures["sim_payloads_per_s"] = round(asyncio.run(_sim_streams(records)))
    feed: dict[str, Any] = {}
    with _old_normalization():
        feed["feed_old"] = feed_rate(records, encode=False)
    feed["feed"] = feed_rate(records, encode=False)
    with _old_normalization():
        feed["feed_encoded_old"] = feed_rate(records, encode=True)
    feed["feed_encoded"] = feed_rate(records, encode=True)
    feed["feed_vs_old"] = round(
        feed["feed"]["records_per_s"] / feed["feed_old"]["records_per_s"], 2
    )
    feed["feed_encoded_vs_old"] = round(
        feed["feed_encoded"]["records_per_s"] / feed["feed_encoded_old"]["records_per_s"], 2
    )
    figures.update(feed)
    figures["normalize"]["mix"] = _mix(figures["normalize"], feed["feed"]["published"])
    return figures


def _mix(rates: dict[str, Any], published: dict[str, int]) -> dict[str, Any]:
    """Records/s of normalization alone on the feed's own mix of books, trades and funding."""
    kinds = {"books": MD_BOOK, "trades": MD_TRADE, "funding": MD_FUNDING}
    total = sum(published.get(t, 0) for t in kinds.values()) or 1
    out: dict[str, Any] = {"payloads": total}
    for key in ("records_per_s", "old_records_per_s"):
        seconds = sum(published.get(t, 0) / total / rates[k][key] for k, t in kinds.items())
        out[key] = round(1 / seconds)
    out["vs_old"] = round(out["records_per_s"] / out["old_records_per_s"], 2)
    return out


def _print(figures: dict[str, Any]) -> None:
    print(f"connector throughput (book depth {figures['book_depth']}, records/s)")
    print(f"{'normalize':<10} {'new':>10} {'old':>10} {'ratio':>7}")
    for kind, f in figures["normalize"].items():
        print(
            f"{kind:<10} {f['records_per_s']:>10,} {f['old_records_per_s']:>10,} "
            f"{f['vs_old']:>6.2f}x"
        )
    print(f"sim streams alone (no normalization): {figures['sim_payloads_per_s']:,} payloads/s")
    for name in ("feed", "feed_encoded"):
        new, old = figures[name], figures[f"{name}_old"]
        print(
            f"{name:<13} {new['records_per_s']:>8,} /s   old {old['records_per_s']:>8,} /s   "
            f"{figures[f'{name}_vs_old']:.2f}x   ({new['records']:,} records, "
            f"{new['dead_letters']} dead letters)"
        )
    print(f"target: >= {figures['target_records_per_s']:,} normalized records/s (feed)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--payloads", type=int, default=12_000, help="payloads per kind")
    parser.add_argument("--records", type=int, default=30_000, help="records per feed run")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    figures = run(args.payloads, args.records)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        _print(figures)


if __name__ == "__main__":
    main()
