"""Refused venue payloads → ``DeadLetter`` records for ``dlq.<family>``."""

from __future__ import annotations

import hashlib
import uuid

from connectors.normalize import EVENT_ID_NAMESPACE
from connectors.venue import Rejected
from schemas.records.common import Envelope
from schemas.records.dlq import DeadLetter
from schemas.records.dlq import DeadLetterHeader
from schemas.topics import base_asset
from schemas.topics import dlq_for


def dead_letter_topic(rejected: Rejected) -> str:
    return dlq_for(rejected.topic)


def to_dead_letter(rejected: Rejected, ingest_time_ms: int, component: str) -> DeadLetter:
    """The dead-letter record of a refused payload (raw bytes kept byte for byte).

    A connector refuses before anything reached Kafka, so partition and offset are null; the key
    is the base asset the event would have been keyed by (same partitioning as ``md.*``).
    """
    digest = hashlib.sha256(rejected.raw).hexdigest()
    name = f"dlq|{rejected.exchange}|{rejected.symbol}|{rejected.reason}|{digest}"
    headers = [DeadLetterHeader(key="exchange", value=rejected.exchange.encode())]
    if rejected.symbol is not None:
        headers.append(DeadLetterHeader(key="symbol", value=rejected.symbol.encode()))
    return DeadLetter(
        envelope=Envelope(
            event_id=str(uuid.uuid5(EVENT_ID_NAMESPACE, name)),
            event_time_ms=rejected.event_time_ms or ingest_time_ms,
            ingest_time_ms=ingest_time_ms,
        ),
        source_topic=rejected.topic,
        source_partition=None,
        source_offset=None,
        source_key=None if rejected.symbol is None else base_asset(rejected.symbol).encode(),
        reason=rejected.reason,
        reason_text=rejected.detail[:1000],
        component=component,
        raw=rejected.raw,
        headers=tuple(headers),
    )
