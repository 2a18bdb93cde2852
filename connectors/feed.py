"""The feed loop: stream books, funding and trades from venues, normalize, publish, DLQ.

One asyncio task per stream (book and trades per instrument, funding per venue). Every item is
either a record for its ``md.*`` topic or a refusal for ``dlq.md``; the loop never stops for a
bad payload. It ends after ``limit`` records, after ``duration_s`` of venue time (the
SimExchange clock for ``sim``, wall time otherwise), or when a stream fails for good.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import structlog

from connectors.config import ConnectorSettings
from connectors.dead_letters import dead_letter_topic
from connectors.dead_letters import to_dead_letter
from connectors.factory import create_venues
from connectors.facts import FactsTracker
from connectors.facts import instrument_facts
from connectors.instruments import select
from connectors.instruments import venue_currencies
from connectors.publisher import DEAD_LETTERS
from connectors.sinks import Sink
from connectors.venue import Instrument
from connectors.venue import Rejected
from connectors.venue import Venue
from processors.units import BorrowRate
from schemas.avro_record import AvroRecord
from schemas.records.common import MarketType
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import Trade
from schemas.topics import DLQ_MD
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from schemas.topics import MD_TRADE

log = structlog.get_logger("connectors.feed")
STREAMS = ("book", "funding", "trades")
TOPIC_OF: dict[type[AvroRecord], str] = {
    BookSnapshot: MD_BOOK,
    FundingRateUpdate: MD_FUNDING,
    Trade: MD_TRADE,
}


@dataclass(frozen=True)
class FeedConfig:
    venues: tuple[str, ...]
    assets: tuple[str, ...] = ("BTC", "ETH")
    duration_s: float | None = None
    limit: int | None = None
    seed: int | None = None
    speed: str = "max"
    sim_epoch_ms: int | None = None
    """Start of the simulated clock; None: the scenario's fixed epoch (reproducible runs)."""
    streams: tuple[str, ...] = STREAMS
    settings: ConnectorSettings = field(default_factory=ConnectorSettings)
    venue_factory: Callable[[str], Sequence[Venue]] | None = None
    """Builds the venues of one configured id (tests inject scripted ones); default: ccxt or
    the sim world."""
    order_gateway: tuple[str, int] | None = None
    """(host, port) to serve the simulated venues' accounts on for a paper executor
    (``connectors.sim.gateway``); None: not served."""


@dataclass
class FeedStats:
    published: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    started_ms: int = 0
    venue_ms: int = 0
    wall_s: float = 0.0

    @property
    def total(self) -> int:
        """Market records and dead letters (what a ``limit`` bounds); facts are not counted."""
        facts = self.published[MD_INSTRUMENT]
        return sum(self.published.values()) - facts + sum(self.dead_letters.values())

    @property
    def facts(self) -> int:
        """Instrument facts published (one per instrument on start, then on change)."""
        return self.published[MD_INSTRUMENT]


class _Done(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside a stream task when the feed reached its bound."""


class _Feed:
    def __init__(self, config: FeedConfig, sink: Sink, venues: Sequence[Venue]) -> None:
        self.config = config
        self.sink = sink
        self.venues = venues
        self.stats = FeedStats()
        self.deadline_ms: dict[str, int] = {}
        self.finished = False
        self.facts = FactsTracker()

    async def publish_facts(self, venue: Venue, instruments: Sequence[Instrument]) -> int:
        """Publish the facts of ``instruments`` that are new or changed (with the interest to
        borrow each spot instrument's base asset, where the venue lends); returns how many."""
        now = venue_now_ms(venue)
        borrow: dict[str, BorrowRate | None] = {}
        for ins in instruments:
            if ins.market_type is MarketType.SPOT and ins.base not in borrow:
                borrow[ins.base] = await venue.fetch_borrow_rate(ins.base)
        sent = 0
        for ins in instruments:
            spot = ins.market_type is MarketType.SPOT
            facts = instrument_facts(ins, now, borrow=borrow.get(ins.base) if spot else None)
            if self.facts.changed(facts):
                self.sink.emit(MD_INSTRUMENT, facts)
                self.stats.published[MD_INSTRUMENT] += 1
                sent += 1
        return sent

    async def refresh_facts(self, venue: Venue, selected: Sequence[Instrument]) -> None:
        """Reload the venue's markets periodically; re-publish the facts that changed."""
        wanted = {i.symbol for i in selected}
        while not self.finished:
            await asyncio.sleep(self.config.settings.instrument_refresh_s)
            try:
                loaded = await venue.load_instruments(reload=True)
            except Exception as e:  # a failed reload keeps the facts in force; retried later
                log.warning("instrument_refresh_failed", exchange=venue.id, error=type(e).__name__)
                continue
            reloaded = [i for i in loaded if i.symbol in wanted]
            changed = await self.publish_facts(venue, reloaded)
            if changed:
                log.info("instrument_facts_changed", exchange=venue.id, count=changed)

    def handle(self, venue: Venue, item: AvroRecord | Rejected) -> None:
        if self.finished:  # another stream reached the bound first
            raise _Done
        now = venue_now_ms(venue)
        if isinstance(item, Rejected):
            self.sink.emit(
                dead_letter_topic(item), to_dead_letter(item, now, f"connector:{venue.id}")
            )
            self.stats.dead_letters[item.reason.value] += 1
            DEAD_LETTERS.labels(item.reason.value).inc()
            log.info("payload_refused", exchange=venue.id, symbol=item.symbol, reason=item.reason)
        else:
            topic = TOPIC_OF[type(item)]
            self.sink.emit(topic, item)
            self.stats.published[topic] += 1
        self.stats.venue_ms = max(self.stats.venue_ms, now)
        limit = self.config.limit
        deadline = self.deadline_ms.get(venue.id)
        if (limit is not None and self.stats.total >= limit) or (
            deadline is not None and now >= deadline
        ):
            self.finished = True
            raise _Done

    async def pump(self, venue: Venue, stream: AsyncIterator[AvroRecord | Rejected]) -> None:
        async for item in stream:
            self.handle(venue, item)


def venue_now_ms(venue: Venue) -> int:
    """The venue's clock (virtual for the sim), else the wall clock."""
    now = getattr(venue, "now_ms", None)
    return int(now()) if callable(now) else int(time.time() * 1000)


def _streams(
    feed: _Feed, venue: Venue, instruments: list[Instrument]
) -> list[AsyncIterator[AvroRecord | Rejected]]:
    cfg = feed.config
    depth = cfg.settings.book_depth
    out: list[AsyncIterator[AvroRecord | Rejected]] = []
    if "book" in cfg.streams:
        out += [venue.stream_order_book(i.symbol, depth) for i in instruments]
    if "trades" in cfg.streams:
        out += [venue.stream_trades(i.symbol) for i in instruments]
    perps = [i.symbol for i in instruments if i.is_perp]
    if "funding" in cfg.streams and perps:
        out.append(venue.stream_funding_rates(perps))
    return out


async def run_feed(config: FeedConfig, sink: Sink) -> FeedStats:
    """Run the feed until its bound; the sink is closed (and raises on undelivered records)."""
    factory = config.venue_factory or (
        lambda vid: create_venues(
            vid,
            config.settings,
            seed=config.seed,
            speed=config.speed,
            sim_epoch_ms=config.sim_epoch_ms,
        )
    )
    venues = [venue for vid in config.venues for venue in factory(vid)]
    feed = _Feed(config, sink, venues)
    gateway = await _start_gateway(config, venues)
    started = time.monotonic()
    sink.start([MD_INSTRUMENT, MD_BOOK, MD_FUNDING, MD_TRADE, DLQ_MD])
    tasks: list[asyncio.Task[None]] = []
    side_tasks: list[asyncio.Task[None]] = []  # never awaited for the end: cancelled with it
    try:
        for venue in venues:
            currencies = venue_currencies(venue.id, config.settings)
            instruments = select(await venue.load_instruments(), config.assets, currencies)
            if not instruments:
                log.warning(
                    "no_instruments",
                    exchange=venue.id,
                    assets=config.assets,
                    quote=currencies.quote,
                    settle=currencies.settle,
                )
            elif not any(i.is_perp for i in instruments):
                log.warning(
                    "no_perps",
                    exchange=venue.id,
                    assets=config.assets,
                    settle=currencies.settle,
                    detail="no linear perp matched: no funding from this venue",
                )
            await feed.publish_facts(venue, instruments)  # before any book that they size
            now = venue_now_ms(venue)
            feed.stats.started_ms = feed.stats.started_ms or now
            if config.duration_s is not None:
                feed.deadline_ms[venue.id] = now + int(config.duration_s * 1000)
            tasks += [
                asyncio.create_task(feed.pump(venue, s), name=f"{venue.id}-{n}")
                for n, s in enumerate(_streams(feed, venue, instruments))
            ]
            if instruments:
                refresh = feed.refresh_facts(venue, instruments)
                side_tasks.append(asyncio.create_task(refresh, name=f"{venue.id}-facts"))
        await _wait(tasks, config.duration_s)
    finally:
        for task in tasks + side_tasks:
            task.cancel()
        await asyncio.gather(*tasks, *side_tasks, return_exceptions=True)
        for venue in venues:
            await venue.close()
        if gateway is not None:
            await gateway.stop()
        feed.stats.wall_s = time.monotonic() - started
    sink.close()
    return feed.stats


async def _start_gateway(config: FeedConfig, venues: Sequence[Venue]) -> Any:
    """Serve the sim venues' accounts when asked; a port in use is logged, not fatal (the
    market feed does not depend on it)."""
    if config.order_gateway is None:
        return None
    from connectors.ccxt_venue import CcxtVenue
    from connectors.sim.exchange import SimExchange
    from connectors.sim.gateway import OrderGateway

    sims = {
        v.id: v.exchange
        for v in venues
        if isinstance(v, CcxtVenue) and isinstance(v.exchange, SimExchange)
    }
    if not sims:
        return None
    gateway = OrderGateway(sims, *config.order_gateway)
    try:
        await gateway.start()
    except OSError as exc:
        log.error("order_gateway_not_started", address=config.order_gateway, error=str(exc))
        return None
    return gateway


async def _wait(tasks: list[asyncio.Task[None]], duration_s: float | None) -> None:
    """Until a task signals done or fails (re-raised), or every stream ended; wall-clock
    guard of twice the duration (plus 10 s) in case a venue stops sending."""
    timeout = None if duration_s is None else max(duration_s * 2, duration_s + 10)
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = set(tasks)
    while pending:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        done, pending = await asyncio.wait(
            pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            return
        for task in done:
            error = task.exception()
            if isinstance(error, _Done):
                return
            if error is not None:
                raise error
