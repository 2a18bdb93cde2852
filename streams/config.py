"""Settings of the streams (a plain frozen model: it never reads the environment).

``fundingflow.settings.Settings`` (or a test) builds one and passes it down. What changes what
the reducers compute (fees, detection and risk parameters) is the processors' own settings
(:mod:`processors.settings`), carried here so the worker and the offline replay
(:mod:`streams.digest`) compute the same state from the same input.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic import model_validator

from processors.settings import FrozenSettings
from processors.settings import MarketSettings
from processors.settings import RiskSettings
from schemas.topics import MD_BOOK
from schemas.topics import by_name

LAYOUT = "v2"
"""Layout of the worker's internal topics: v2 = sequenced batches and Avro table state (v1:
one record per sequenced message, pickled state). It is part of every internal topic's and of
the sequencer group's name, so a worker of a new layout starts on fresh internal topics and
rebuilds its state from the input topics (its sequencer reads them from the start) instead of
refusing state it cannot read."""


class StreamsSettings(FrozenSettings):
    """The Faust worker: where it connects, what it names its topics, how it computes."""

    app_id: str = "fundingflow"
    bootstrap: str = "127.0.0.1:9092"
    registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    topic_prefix: str = ""
    """Prepended to every catalogue topic name (tests isolate themselves with it)."""
    namespace: str = ""
    """Isolated topic namespace (e.g. a replay's): when set, the app id and the topic prefix
    start with ``<namespace>.``, so every topic the worker reads or writes (catalogue topics,
    sequenced topics, table changelogs, the assignor's, the consumer groups) is
    ``<namespace>.``-prefixed and never one of the live ones."""
    market: MarketSettings = MarketSettings()
    risk: RiskSettings = RiskSettings()
    data_dir: Path = Path(".local") / "faust"
    """Faust's data directory (one folder per app id under it). Tables are in memory, so Faust only
    creates empty folders there; the default keeps them in the ignored ``.local/`` instead of the
    working directory."""
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
    stall_after_s: float | None = Field(default=5.0, gt=0)
    """Cut guard (:mod:`streams.cut_guard`): a sequenced partition whose log or fetch
    position is past its stored cut while nothing of its topic was applied for this long is
    rewound to the cut; None turns the guard off (every delivered batch is applied)."""
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
    sequencer_ends_path: Path | None = None
    """Ordered sequencing (a replay's): a JSON file ``{physical topic: {partition: end}}`` of
    the source partitions' final end offsets. When set, the sequencer merges the sources of
    each sequenced partition in a fixed order (time, topic, partition, offset) instead of
    arrival order, holding a message until every source partition of its target has a later
    one or is known complete, so two runs over the same input sequence it identically
    (:class:`streams.sequencer.OrderedMerge`). Sources the file does not list yet wait."""
    sequencer_facts_by_asset: bool = True
    """Sequence each instrument fact in its asset's partition, whatever partition it was read
    from (:class:`streams.sequencer.Router`; off only in its twin test)."""
    create_internal_topics: bool = True
    """Create the internal topics before the agents subscribe (off only in its twin test)."""

    @model_validator(mode="before")
    @classmethod
    def _apply_namespace(cls, data: object) -> object:
        """Prefix the app id and the topic prefix with the namespace (idempotent)."""
        if not isinstance(data, dict) or not data.get("namespace"):
            return data
        ns = f"{data['namespace']}."
        app_id = str(data.get("app_id", "fundingflow"))
        prefix = str(data.get("topic_prefix", ""))
        return {
            **data,
            "app_id": app_id if app_id.startswith(ns) else ns + app_id,
            "topic_prefix": prefix if prefix.startswith(ns) else ns + prefix,
        }

    def in_namespace(self, namespace: str) -> StreamsSettings:
        """These settings in ``namespace`` (app id and topic prefix prefixed with it)."""
        return StreamsSettings.model_validate({**self.model_dump(), "namespace": namespace})

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
