"""Dead letters: what an agent writes when one message cannot be accepted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from processors.records import derived_id
from schemas.errors import InvalidEvent
from schemas.records.common import Envelope
from schemas.records.dlq import DeadLetter
from schemas.records.dlq import DeadLetterHeader
from schemas.records.dlq import DeadLetterReason

# Headers the sequencer adds so a dead letter names the message's original position.
H_TOPIC = "ff-source-topic"
H_PARTITION = "ff-source-partition"
H_OFFSET = "ff-source-offset"
_OWN = {H_TOPIC, H_PARTITION, H_OFFSET}


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from (the original topic, before any sequencing)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


def source_of(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    headers: Iterable[tuple[str, bytes | None]],
) -> Source:
    """The original source: the sequencer's headers when present, else the message itself."""
    items = tuple(headers)
    found = {k: v for k, v in items if k in _OWN and v is not None}
    if H_TOPIC in found:
        topic = found[H_TOPIC].decode()
        partition = int(found.get(H_PARTITION, b"0"))
        offset = int(found.get(H_OFFSET, b"-1"))
    return Source(topic, partition, offset, key, tuple((k, v) for k, v in items if k not in _OWN))


def reason_of(error: BaseException) -> DeadLetterReason:
    """The refusal's own reason; any other failure is a processing error."""
    return error.reason if isinstance(error, InvalidEvent) else DeadLetterReason.PROCESSING_ERROR


def dead_letter(
    source: Source, raw: bytes, error: BaseException, component: str, time_ms: int
) -> DeadLetter:
    """The dead-letter record of ``raw``; ``time_ms`` is the message's broker timestamp."""
    detail = error.detail if isinstance(error, InvalidEvent) else f"{type(error).__name__}: {error}"
    return DeadLetter(
        envelope=Envelope(
            event_id=derived_id("dlq", source.topic, source.partition, source.offset, component),
            event_time_ms=time_ms,
            ingest_time_ms=time_ms,
        ),
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
        source_key=source.key,
        reason=reason_of(error),
        reason_text=detail[:1000],
        component=component,
        raw=raw,
        headers=tuple(DeadLetterHeader(key=k, value=v) for k, v in source.headers),
    )
