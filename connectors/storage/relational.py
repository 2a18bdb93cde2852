"""The PostgreSQL event tables: which topic goes to which table, and each table's columns.

Every table starts with the envelope (``event_id`` is the primary key) and the Kafka position,
then the record's own columns, the whole record as JSON (``payload``) and the Kafka record
timestamp (``kafka_timestamp_ms``, which a replay from the store re-publishes the record with).
The tables themselves are created by migrations ``0005_event_tables.sql`` (``0006`` for the pair
table) and ``0010_kafka_timestamps.sql``; a test keeps them in agreement.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from operator import attrgetter
from typing import Any

from connectors.storage.stores import Consumed
from schemas.avro_record import AvroRecord
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import CATALOGUE
from schemas.topics import EXEC_COMMAND
from schemas.topics import EXEC_FILL
from schemas.topics import EXEC_ORDER_EVENT
from schemas.topics import EXEC_PAIR
from schemas.topics import MD_INSTRUMENT
from schemas.topics import OPS_CONTROL
from schemas.topics import OPS_INCIDENT
from schemas.topics import PORTFOLIO_FUNDING
from schemas.topics import PORTFOLIO_PNL
from schemas.topics import PORTFOLIO_POSITION
from schemas.topics import RISK_DECISION

ENVELOPE_COLUMNS: tuple[str, ...] = (
    "event_id",
    "event_time_ms",
    "ingest_time_ms",
    "source_seq",
    "correlation_id",
    "causation_id",
    "topic",
    "kafka_partition",
    "kafka_offset",
)
PAYLOAD_COLUMN = "payload"
TIMESTAMP_COLUMN = "kafka_timestamp_ms"
"""Added by migration 0010 (after ``recorded_at`` in the table; NULL in rows stored before)."""


RECORD_TYPE = "@type"
"""Path of the column that holds the record's type name (topics of more than one record)."""

Getter = Callable[[Any], tuple[Any, ...]]
_ENVELOPE = attrgetter(*(f"envelope.{c}" for c in ENVELOPE_COLUMNS[:6]))


def _own_getter(record_type: type[AvroRecord], paths: Sequence[str]) -> Getter:
    """The record's own column values: one C-level attrgetter when every path exists in
    ``record_type``, else the present ones with NULL (and the type name) filled in."""
    fields = record_type.model_fields
    present = [p for p in paths if p != RECORD_TYPE and p.partition(".")[0] in fields]
    if len(present) == len(paths) and len(paths) > 1:
        whole: Getter = attrgetter(*paths)
        return whole
    take = attrgetter(*present) if present else None
    name = record_type.__name__

    def own(record: Any) -> tuple[Any, ...]:
        got = take(record) if take is not None else ()
        values = iter(got if len(present) != 1 else (got,))
        return tuple(
            name if p == RECORD_TYPE else (next(values) if p in present else None) for p in paths
        )

    return own


@dataclass(frozen=True, slots=True)
class EventTable:
    """One table: its name, the topic it stores and the record columns after the envelope,
    each with the dotted attribute path of its value (a path a record type lacks: NULL)."""

    name: str
    topic: str
    columns: tuple[tuple[str, str], ...]
    _getters: dict[type[AvroRecord], tuple[Getter, Callable[[Any], bytes]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def column_names(self) -> tuple[str, ...]:
        return (*ENVELOPE_COLUMNS, *(c for c, _ in self.columns), PAYLOAD_COLUMN, TIMESTAMP_COLUMN)

    def row(self, item: Consumed) -> tuple[Any, ...]:
        """The COPY row of ``item``; enums are StrEnums, so they are written as their value.
        The payload is ``record.model_dump_json()``, from the model's serializer directly (the
        same call without the wrapper's argument passing: a sixth of the row's cost)."""
        record = item.record
        kind = type(record)
        getters = self._getters.get(kind)
        if getters is None:
            own_getter = _own_getter(kind, [path for _, path in self.columns])
            getters = self._getters[kind] = (own_getter, kind.__pydantic_serializer__.to_json)
        own, to_json = getters
        return (
            *_ENVELOPE(record),
            item.topic,
            item.partition,
            item.offset,
            *own(record),
            to_json(record).decode(),
            item.timestamp_ms,
        )


def _field(name: str) -> tuple[str, str]:
    return name, name


def _instrument(prefix: str) -> tuple[tuple[str, str], ...]:
    return (
        ("exchange", f"{prefix}.exchange"),
        ("symbol", f"{prefix}.symbol"),
        ("market_type", f"{prefix}.market_type"),
    )


_OWN_INSTRUMENT = _instrument("instrument")

TABLES: tuple[EventTable, ...] = (
    EventTable(
        "event_opportunities",
        ARB_OPPORTUNITY,
        (
            _field("opportunity_id"),
            _field("lifecycle"),
            _field("kind"),
            _field("base_asset"),
            _field("gross_edge_bps"),
            _field("net_edge_bps"),
            _field("net_apr_bps"),
            _field("max_size_base"),
            _field("max_notional_quote"),
            _field("close_reason"),
        ),
    ),
    EventTable(
        "event_risk_decisions",
        RISK_DECISION,
        (
            _field("decision_id"),
            _field("opportunity_id"),
            _field("outcome"),
            _field("approved_size_base"),
            _field("approved_notional_quote"),
        ),
    ),
    EventTable(
        "event_control_commands",
        OPS_CONTROL,
        (
            _field("action"),
            _field("actor"),
            _field("reason"),
            _field("scope"),
            _field("name"),
            _field("value"),
            _field("previous_value"),
        ),
    ),
    EventTable(
        "event_incidents",
        OPS_INCIDENT,
        (
            _field("incident_id"),
            _field("severity"),
            _field("component"),
            _field("code"),
            _field("message"),
        ),
    ),
    EventTable(
        "event_instrument_facts",
        MD_INSTRUMENT,
        (
            *_OWN_INSTRUMENT,
            _field("venue_symbol"),
            _field("contract_size_base"),
            _field("maker_fee"),
            _field("taker_fee"),
            _field("funding_interval_ms"),
            _field("active"),
        ),
    ),
    EventTable(
        "event_order_commands",
        EXEC_COMMAND,
        (
            ("record_type", RECORD_TYPE),
            _field("client_order_id"),
            *_OWN_INSTRUMENT,
            _field("signal_id"),
            _field("side"),
            _field("size_base"),
            _field("limit_price"),
            _field("purpose"),
            _field("reason"),
        ),
    ),
    EventTable(
        "event_order_updates",
        EXEC_ORDER_EVENT,
        (
            _field("client_order_id"),
            _field("venue_order_id"),
            *_OWN_INSTRUMENT,
            _field("status"),
            _field("side"),
            _field("size_base"),
            _field("filled_size_base"),
            _field("average_fill_price"),
        ),
    ),
    EventTable(
        "event_fills",
        EXEC_FILL,
        (
            _field("fill_id"),
            _field("client_order_id"),
            *_OWN_INSTRUMENT,
            _field("side"),
            _field("price"),
            _field("size_base"),
            ("fee_amount", "fee.amount"),
            ("fee_currency", "fee.currency"),
            _field("liquidity"),
        ),
    ),
    EventTable(
        "event_pair_updates",
        EXEC_PAIR,
        (
            _field("signal_id"),
            _field("opportunity_id"),
            _field("seq"),
            _field("status"),
            _field("target_size_base"),
            _field("detail"),
        ),
    ),
    EventTable(
        "event_position_changes",
        PORTFOLIO_POSITION,
        (
            *_OWN_INSTRUMENT,
            _field("net_size_base"),
            _field("average_entry_price"),
            _field("realized_pnl_quote"),
            _field("fill_id"),
        ),
    ),
    EventTable(
        "event_funding_payments",
        PORTFOLIO_FUNDING,
        (
            *_OWN_INSTRUMENT,
            _field("funding_rate"),
            _field("funding_interval_ms"),
            _field("funding_time_ms"),
            _field("net_size_base"),
            _field("mark_price"),
            _field("amount_quote"),
            _field("quote_currency"),
        ),
    ),
    EventTable(
        "event_pnl_snapshots",
        PORTFOLIO_PNL,
        (
            _field("scope"),
            _field("quote_currency"),
            _field("realized_pnl_quote"),
            _field("unrealized_pnl_quote"),
            _field("funding_pnl_quote"),
            _field("fees_quote"),
            _field("total_pnl_quote"),
            _field("gross_exposure_quote"),
            _field("net_exposure_quote"),
        ),
    ),
)
"""Every PostgreSQL event table, one per stored topic."""

RELATIONAL_FAMILIES = ("exec", "portfolio")
"""Topic families stored whole (a new topic of these families needs a table)."""

RELATIONAL_TOPICS: tuple[str, ...] = tuple(t.topic for t in TABLES)

BY_TOPIC: dict[str, EventTable] = {t.topic: t for t in TABLES}


def missing_topics() -> list[str]:
    """Catalogue topics of the stored families that have no table (empty when complete)."""
    return [
        spec.name
        for spec in CATALOGUE
        if spec.family in RELATIONAL_FAMILIES and spec.name not in BY_TOPIC
    ]
