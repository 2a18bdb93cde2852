"""The topic catalogue: the one module that names topics, their records, keys and configs.

Keys are plain UTF-8 strings (never Avro), so only ``<topic>-value`` subjects exist in the
registry (TopicNameStrategy). Market data is keyed by base asset so every venue of one asset
meets in the same partition of the stateful agents.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

from schemas.avro_record import AvroRecord
from schemas.records.account import BalanceUpdate
from schemas.records.account import VenuePosition
from schemas.records.arb import Opportunity
from schemas.records.arb import SpreadUpdate
from schemas.records.common import InstrumentRef
from schemas.records.dlq import DeadLetter
from schemas.records.execution import CancelOrder
from schemas.records.execution import Fill
from schemas.records.execution import OrderEvent
from schemas.records.execution import PairUpdate
from schemas.records.execution import SubmitOrder
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts
from schemas.records.md import Kline
from schemas.records.md import Trade
from schemas.records.ops import ControlCommand
from schemas.records.ops import Incident
from schemas.records.portfolio import FundingPaid
from schemas.records.portfolio import PnlSnapshot
from schemas.records.portfolio import PositionChanged
from schemas.records.risk import RiskDecision
from schemas.records.state import AssetLifecycle
from schemas.records.state import AssetSnapshot
from schemas.records.state import RiskState
from schemas.records.stream import SequencedBatch

MD_BOOK = "md.book"
MD_TRADE = "md.trade"
MD_FUNDING = "md.funding"
MD_KLINE = "md.kline"
MD_INSTRUMENT = "md.instrument"
ACCOUNT_BALANCE = "account.balance"
ACCOUNT_POSITION = "account.position"
ARB_SPREAD = "arb.spread"
ARB_OPPORTUNITY = "arb.opportunity"
RISK_DECISION = "risk.decision"
EXEC_COMMAND = "exec.command"
EXEC_ORDER_EVENT = "exec.order_event"
EXEC_FILL = "exec.fill"
EXEC_PAIR = "exec.pair"
PORTFOLIO_POSITION = "portfolio.position"
PORTFOLIO_FUNDING = "portfolio.funding"
PORTFOLIO_PNL = "portfolio.pnl"
OPS_CONTROL = "ops.control"
OPS_INCIDENT = "ops.incident"
DLQ_MD = "dlq.md"
DLQ_ACCOUNT = "dlq.account"
DLQ_ARB = "dlq.arb"
DLQ_RISK = "dlq.risk"
DLQ_EXEC = "dlq.exec"
DLQ_PORTFOLIO = "dlq.portfolio"
DLQ_OPS = "dlq.ops"
STATE_ASSET = "state.asset"
STATE_RISK = "state.risk"
STATE_LIFECYCLE = "state.lifecycle"
STREAM_BATCH = "stream.batch"
"""Value schema of the sequenced batches (the topics are per app id, internal)."""

DAY_MS = 86_400_000
FOREVER = -1

CleanupPolicy = Literal["delete", "compact"]


def base_asset(symbol: str) -> str:
    """Base asset of a ccxt unified symbol: ``BTC`` for ``BTC/USDT:USDT`` and ``BTC/USDT``."""
    return symbol.partition("/")[0]


def instrument_key(instrument: InstrumentRef) -> str:
    """``exchange:symbol``, the key of per-instrument ledgers."""
    return f"{instrument.exchange}:{instrument.symbol}"


def _dead_letter_key(record: DeadLetter) -> bytes:
    return record.source_key if record.source_key is not None else record.source_topic.encode()


_KEYS: dict[type[AvroRecord], Callable[[Any], str | bytes]] = {
    BookSnapshot: lambda r: base_asset(r.instrument.symbol),
    Trade: lambda r: base_asset(r.instrument.symbol),
    FundingRateUpdate: lambda r: base_asset(r.instrument.symbol),
    Kline: lambda r: base_asset(r.instrument.symbol),
    InstrumentFacts: lambda r: instrument_key(r.instrument),
    BalanceUpdate: lambda r: f"{r.exchange}:{r.currency}",
    VenuePosition: lambda r: base_asset(r.instrument.symbol),
    SpreadUpdate: lambda r: r.base_asset,
    Opportunity: lambda r: r.base_asset,
    RiskDecision: lambda r: r.opportunity_id,
    SubmitOrder: lambda r: r.client_order_id,
    CancelOrder: lambda r: r.client_order_id,
    OrderEvent: lambda r: r.client_order_id,
    Fill: lambda r: r.client_order_id,
    PairUpdate: lambda r: r.signal_id,
    PositionChanged: lambda r: instrument_key(r.instrument),
    FundingPaid: lambda r: instrument_key(r.instrument),
    PnlSnapshot: lambda r: r.scope,
    ControlCommand: lambda r: r.scope or "global",
    Incident: lambda r: r.component,
    DeadLetter: _dead_letter_key,
}


def partition_key_for(record: AvroRecord) -> bytes:
    """The text that chooses ``record``'s partition: its key, except for instrument facts,
    whose key is the instrument (so compaction keeps every instrument's latest facts) but
    whose partition is its base asset's, the one ``md.book`` and ``md.funding`` of the asset
    use (the sequencer then meets them in one partition)."""
    if isinstance(record, InstrumentFacts):
        return base_asset(record.instrument.symbol).encode()
    return key_for(record)


def partition_for(partition_key: bytes, partitions: int) -> int:
    """The partition librdkafka's default partitioner (``consistent_random``: CRC-32 of the key
    modulo the partition count) chooses for a non-empty key, so an explicit partition agrees
    with the one a keyed ``produce`` gets."""
    return zlib.crc32(partition_key) % partitions


def key_for(record: AvroRecord) -> bytes:
    """Kafka message key of ``record`` (UTF-8 text; the original key for dead letters)."""
    key = _KEYS[type(record)](record)
    return key if isinstance(key, bytes) else key.encode()


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its record types, key, partitions and retention.

    Replication factor is a deployment setting, not part of the catalogue.
    """

    name: str
    value_records: tuple[type[AvroRecord], ...]
    key_doc: str
    partitions: int
    cleanup_policy: CleanupPolicy = "delete"
    retention_ms: int = 7 * DAY_MS
    config: dict[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """Registry subject of the value schema (TopicNameStrategy)."""
        return f"{self.name}-value"

    @property
    def family(self) -> str:
        """Topic prefix, e.g. ``md`` for ``md.funding``."""
        return self.name.partition(".")[0]

    def topic_config(self) -> dict[str, str]:
        """Broker config of the topic (cleanup and retention merged with extras)."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            **self.config,
        }


def _spec(
    name: str,
    records: tuple[type[AvroRecord], ...],
    key_doc: str,
    partitions: int = 3,
    retention_ms: int = 7 * DAY_MS,
) -> TopicSpec:
    return TopicSpec(name, records, key_doc, partitions, retention_ms=retention_ms)


_ASSET_KEY = "base asset of the instrument, e.g. BTC (all venues of one asset share a partition)"
_ORDER_KEY = "client order id (every event of one order stays in order)"
_DLQ_KEY = "original message key, or the source topic name when the message had none"

CATALOGUE: tuple[TopicSpec, ...] = (
    _spec(MD_BOOK, (BookSnapshot,), _ASSET_KEY, 6, 2 * DAY_MS),
    _spec(MD_TRADE, (Trade,), _ASSET_KEY, 6, 2 * DAY_MS),
    _spec(MD_FUNDING, (FundingRateUpdate,), _ASSET_KEY, 6, 30 * DAY_MS),
    _spec(MD_KLINE, (Kline,), _ASSET_KEY, 6, 30 * DAY_MS),
    # Keyed by instrument (compaction keeps each one's latest facts), partitioned by base asset.
    TopicSpec(
        MD_INSTRUMENT,
        (InstrumentFacts,),
        "exchange:symbol (partition: the base asset's, as md.book)",
        6,
        "compact",
        FOREVER,
    ),
    _spec(ACCOUNT_BALANCE, (BalanceUpdate,), "exchange:currency", 3, 30 * DAY_MS),
    _spec(ACCOUNT_POSITION, (VenuePosition,), _ASSET_KEY, 3, 30 * DAY_MS),
    _spec(ARB_SPREAD, (SpreadUpdate,), "base asset", 6),
    _spec(ARB_OPPORTUNITY, (Opportunity,), "base asset", 6, FOREVER),
    _spec(RISK_DECISION, (RiskDecision,), "opportunity id", 3, FOREVER),
    _spec(EXEC_COMMAND, (SubmitOrder, CancelOrder), _ORDER_KEY, 3, FOREVER),
    _spec(EXEC_ORDER_EVENT, (OrderEvent,), _ORDER_KEY, 3, FOREVER),
    _spec(EXEC_FILL, (Fill,), _ORDER_KEY, 3, FOREVER),
    _spec(
        EXEC_PAIR, (PairUpdate,), "signal id (every change of one pair stays in order)", 3, FOREVER
    ),
    _spec(PORTFOLIO_POSITION, (PositionChanged,), "exchange:symbol", 3, FOREVER),
    _spec(PORTFOLIO_FUNDING, (FundingPaid,), "exchange:symbol", 3, FOREVER),
    _spec(PORTFOLIO_PNL, (PnlSnapshot,), "scope ('portfolio' or an opportunity id)", 3, FOREVER),
    # One partition: kill switch and limit changes must keep one total order.
    _spec(OPS_CONTROL, (ControlCommand,), "scope, or 'global'", 1, FOREVER),
    _spec(OPS_INCIDENT, (Incident,), "component", 3, 90 * DAY_MS),
    *(
        _spec(name, (DeadLetter,), _DLQ_KEY, 3, 30 * DAY_MS)
        for name in (DLQ_MD, DLQ_ACCOUNT, DLQ_ARB, DLQ_RISK, DLQ_EXEC, DLQ_PORTFOLIO, DLQ_OPS)
    ),
)
"""Every topic of the system."""

STATE_CATALOGUE: tuple[TopicSpec, ...] = (
    # Partitions as the tables': the market's (md.book's) for the lifecycle, one for risk.
    TopicSpec(STATE_ASSET, (AssetSnapshot,), "base asset", 6, "compact", FOREVER),
    # Nested in each AssetSnapshot as bytes (re-encoded only when the asset is evaluated).
    TopicSpec(STATE_LIFECYCLE, (AssetLifecycle,), "base asset", 6, "compact", FOREVER),
    TopicSpec(STATE_RISK, (RiskState,), "'risk' (the one key)", 1, "compact", FOREVER),
)
"""Reducer state: the value schemas of the streams worker's tables, not topics of their own.

Their messages live in the worker's table changelogs (``<app_id>-lifecycle-v2-changelog``,
``<app_id>-risk-v2-changelog``, created by ``streams.internal_topics`` with the same partitions
and cleanup); the codec encodes them as ``state.asset`` / ``state.risk`` so their schemas are
registered, released and checked for compatibility like every event's. ``topics create``
creates no topic of these names.
"""

STREAM_CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec(
        STREAM_BATCH,
        (SequencedBatch,),
        "none (a batch goes to the partition it sequences)",
        6,
        retention_ms=FOREVER,
    ),
)
"""Transport records of the workers' internal sequenced topics (``<app_id>-md-sequenced``,
``<app_id>-risk-sequenced``, created by ``streams.internal_topics``): registered and checked like
every other value schema; ``topics create`` creates no topic of this name."""

SUBJECTS: tuple[TopicSpec, ...] = CATALOGUE + STATE_CATALOGUE + STREAM_CATALOGUE
"""Every value schema the registry holds: the catalogue topics', the reducer state's and the
sequenced batches'."""

_BY_NAME = {spec.name: spec for spec in SUBJECTS}


def by_name(name: str) -> TopicSpec:
    """The spec of topic ``name``; KeyError names the known topics when it is not one."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; known: {', '.join(_BY_NAME)}") from None


def dlq_for(topic: str) -> str:
    """Dead-letter topic of a source topic: ``dlq.<source family>``."""
    family = topic.partition(".")[0]
    dlq = f"dlq.{family}"
    if dlq not in _BY_NAME:
        raise KeyError(f"no dead-letter topic for {topic!r}")
    return dlq
