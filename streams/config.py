"""Settings of the streams (a plain frozen model: it never reads the environment).

``fundingflow.settings.Settings`` (or a test) builds one and passes it down. Everything that
changes what the reducers compute (fees, detection and risk parameters) is here, so the worker
and the offline replay (:mod:`streams.digest`) compute the same state from the same input.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from processors.detection import DetectionConfig
from processors.risk import ControlState
from processors.sizing import Limits
from processors.units import FeeSchedule
from processors.units import MarketKind
from processors.units import persistable
from schemas.records.md import InstrumentFacts
from schemas.topics import MD_BOOK
from schemas.topics import by_name

LAYOUT = "v2"
"""Layout of the worker's internal topics: v2 = sequenced batches and Avro table state (v1:
one record per sequenced message, pickled state). It is part of every internal topic's and of
the sequencer group's name, so a worker of a new layout starts on fresh internal topics and
rebuilds its state from the input topics (its sequencer reads them from the start) instead of
refusing state it cannot read."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeeRates(_Frozen):
    """Fee rates as fractions of notional (negative maker = rebate)."""

    maker: Decimal
    taker: Decimal


class RiskSettings(_Frozen):
    """Initial limits (``ops.control`` LIMIT_CHANGE overrides them) and venue balances."""

    max_symbol_notional_quote: Decimal = Decimal(50_000)
    max_venue_notional_quote: Decimal = Decimal(100_000)
    max_asset_notional_quote: Decimal = Decimal(100_000)
    max_total_notional_quote: Decimal = Decimal(250_000)
    max_leverage: Decimal = Decimal(3)
    max_concurrent: int = 10
    max_quote_age_ms: int = 5_000
    min_notional_quote: Decimal = Decimal(10)
    balances_quote: dict[str, Decimal] = Field(default_factory=dict)
    """Free balance per venue; a venue without an entry has ``default_balance_quote``."""
    default_balance_quote: Decimal = Decimal(100_000)

    def control_state(self) -> ControlState:
        return ControlState(
            persistable(  # persisted with the risk state: fitted to decimal(38, 18)
                Limits(
                    max_symbol_notional_quote=self.max_symbol_notional_quote,
                    max_venue_notional_quote=self.max_venue_notional_quote,
                    max_asset_notional_quote=self.max_asset_notional_quote,
                    max_total_notional_quote=self.max_total_notional_quote,
                    max_leverage=self.max_leverage,
                    max_concurrent=self.max_concurrent,
                    max_quote_age_ms=self.max_quote_age_ms,
                    min_notional_quote=self.min_notional_quote,
                )
            )
        )

    def balance(self, venue: str) -> Decimal:
        return self.balances_quote.get(venue, self.default_balance_quote)


class MarketSettings(_Frozen):
    """What the market-state reducer needs beyond the events."""

    spot_fees: FeeRates = FeeRates(maker=Decimal("0.001"), taker=Decimal("0.001"))
    perp_fees: FeeRates = FeeRates(maker=Decimal("0.0002"), taker=Decimal("0.0005"))
    venue_fees: dict[str, FeeRates] = Field(default_factory=dict)
    """Overrides by ``<exchange>`` or ``<exchange>:SPOT`` / ``<exchange>:PERP``."""
    min_eval_interval_ms: int = Field(default=250, ge=0)
    """Re-evaluate an asset at most once per this much *event time* (0: on every change).
    Deterministic: it depends on event times only, never on the wall clock."""
    emit_spreads: bool = True
    horizon_ms: int = 48 * 3_600_000
    """Holding horizon the edge is priced over (funding earned vs one-off costs); equal to the
    maximum holding time, so an opportunity is judged over the period it may be held."""
    max_holding_ms: int = 48 * 3_600_000
    stale_after_ms: int = 5_000
    max_notional_quote: Decimal = Decimal(10_000)
    max_open: int = 20
    allow_short_spot: bool = False
    """Reverse carry (short spot, long perp when funding is negative): sells borrowed coins,
    so it also needs the spot venue's borrow rate in its instrument facts."""

    def fees(
        self, exchange: str, kind: MarketKind, facts: InstrumentFacts | None = None
    ) -> FeeSchedule:
        """The fee rates an instrument is priced with, first found: this worker's override for
        the venue (``venue_fees``), the venue's rates from its instrument facts (which carry the
        connector's per-account override, ``fee_source``), the default schedule of its kind."""
        rates = self.venue_fees.get(f"{exchange}:{kind.value}") or self.venue_fees.get(exchange)
        if rates is not None:
            return FeeSchedule(rates.maker, rates.taker)
        if facts is not None and facts.maker_fee is not None and facts.taker_fee is not None:
            return FeeSchedule(facts.maker_fee, facts.taker_fee)
        rates = self.spot_fees if kind is MarketKind.SPOT else self.perp_fees
        return FeeSchedule(rates.maker, rates.taker)

    def detection(self) -> DetectionConfig:
        return DetectionConfig(
            horizon_ms=self.horizon_ms,
            max_holding_ms=self.max_holding_ms,
            stale_after_ms=self.stale_after_ms,
            max_notional_quote=self.max_notional_quote,
            max_open=self.max_open,
            allow_short_spot=self.allow_short_spot,
        )


class StreamsSettings(_Frozen):
    """The Faust worker: where it connects, what it names its topics, how it computes."""

    app_id: str = "fundingflow"
    bootstrap: str = "127.0.0.1:9092"
    registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    topic_prefix: str = ""
    """Prepended to every catalogue topic name (tests isolate themselves with it)."""
    market: MarketSettings = MarketSettings()
    risk: RiskSettings = RiskSettings()
    digest_path: Path | None = None
    """Where the worker writes its state digest (periodically and on shutdown)."""
    digest_interval_s: float = Field(default=2.0, gt=0)
    digest_detail: bool = False
    """Also write the canonical state itself (tests diff it against the replay's)."""
    producer_linger_s: float = Field(default=0.001, ge=0)
    """Explicit producer linger (aiokafka ``linger_ms``); asyncio sockets have Nagle off.

    aiokafka keeps one produce request in flight per broker, so messages batch up behind the
    in-flight request anyway; the linger only bounds the wait of the first one (latency)."""
    producer_max_batch_size: int = Field(default=512 * 1024, ge=1024)
    """Bytes per partition batch (aiokafka default 16 KiB: a few dozen ticks a request)."""
    producer_max_request_size: int = Field(default=1_000_000, ge=1024)
    """Bytes per produce request (the broker's ``message.max.bytes`` is about 1 MB)."""
    producer_compression: str | None = None
    """Uncompressed on loopback: compression costs CPU on small messages (3-4x in librdkafka)."""
    consumer_max_fetch_size: int = Field(default=4 * 1024**2, ge=1024)
    """Bytes per partition per fetch."""
    broker_max_poll_records: int | None = Field(default=None, ge=1)
    """Records per ``getmany`` (None: no cap). Capping it starved the market agent in the
    benchmark: Faust's one fetch loop then waits on the sequencer's full buffer with fewer
    sequenced records in hand (faust-streaming#53)."""
    stream_buffer_maxsize: int = Field(default=16_384, ge=1)
    """Events buffered per stream before Faust's one fetch loop waits (for every stream)."""
    commit_interval_s: float = Field(default=1.0, gt=0)
    """Offset commit timer. Each commit first flushes the producer and waits for its acks (so
    at-least-once holds), so commits are batched: a timer plus ``commit_every`` acked events."""
    commit_every: int = Field(default=20_000, ge=1)
    """Also commit after this many acked events (each commit pauses the fetch loop)."""
    commit_livelock_soft_timeout_s: float = Field(default=60.0, gt=0)
    """Warn when a partition has not committed for this long."""
    event_loop: str | None = "uvloop"
    """Event loop of the worker (``uvloop`` when importable; None: asyncio's)."""
    auto_offset_reset: str = "earliest"
    session_timeout_s: float = Field(default=10.0, gt=0)
    """Broker session and rebalance timeout: how long a crashed worker holds its partitions."""
    web_port: int | None = None
    """Faust's web view (``/table/...``) on this port; None disables it."""
    log_level: str = "WARNING"
    sequencer: bool = True
    """Run the sequencer (:mod:`streams.sequencer`) in the worker process (off: another process
    sequences, e.g. a second worker of the same app id already does; both split the sources)."""
    sequencer_chunk: int = Field(default=5_000, ge=1)
    """Messages the sequencer takes per consume call (then produces, flushes and commits)."""
    sequencer_batch_max: int = Field(default=1_000, ge=1)
    """Messages per batch record at most (one Faust event of the stateful agents)."""
    sequencer_linger_ms: float = Field(default=3.0, ge=0)
    """After the first message of a chunk, how long the sequencer gathers more (latency it
    adds at low rates; at high rates a chunk fills first)."""
    sequencer_commit_interval_ms: float = Field(default=100.0, gt=0)
    """How often the sequencer commits the source offsets its delivered batches carry."""
    sequencer_fetch_wait_ms: int = Field(default=20, ge=0)
    """How long the broker may hold an empty fetch of the sequencer (idle latency only)."""
    create_internal_topics: bool = True
    """Create the internal topics before the agents subscribe (off only in its twin test)."""

    def topic(self, name: str) -> str:
        """Physical name of catalogue topic ``name``."""
        return f"{self.topic_prefix}{name}"

    @property
    def md_sequenced(self) -> str:
        """Internal topic: md.book and md.funding merged in one order per asset partition."""
        return f"{self.app_id}-md-sequenced-{LAYOUT}"

    @property
    def risk_sequenced(self) -> str:
        """Internal one-partition topic: arb.opportunity and ops.control in one total order."""
        return f"{self.app_id}-risk-sequenced-{LAYOUT}"

    @property
    def md_partitions(self) -> int:
        return by_name(MD_BOOK).partitions
