"""The boundary every agent shares: admission of a sequenced batch against its partition's cut
(:mod:`streams.cut_guard`), and refusal: a refused message becomes a dead letter.

Messages inside a batch are refused by :mod:`streams.batches` (the same code the offline replay
runs); a batch message that does not decode at all is refused here as a whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog

from processors.dead_letters import dead_letter
from processors.dead_letters import source_of
from schemas.records.stream import SequencedBatch
from streams.batches import Refusal
from streams.cut_guard import Admission
from streams.digest import read_range
from streams.wiring import Wiring

log = structlog.get_logger("streams")


def headers_of(message: Any) -> list[tuple[str, bytes | None]]:
    headers = message.headers or ()
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), v) for k, v in items]


@dataclass(frozen=True)
class Refetched:
    """A sequenced message read again from the log (what the agents read of a Faust message)."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp: float

    @classmethod
    def of(cls, message: Any) -> Refetched:
        """From a confluent-kafka message."""
        _kind, time_ms = message.timestamp()
        return cls(
            message.topic(),
            message.partition(),
            message.offset(),
            message.value() or b"",
            message.key(),
            list(message.headers() or ()),
            time_ms / 1000,
        )


async def admitted(wiring: Wiring, message: Any, component: str) -> list[Any]:
    """The messages the agent applies now for ``message``, in offset order: none (a redelivery
    below its partition's cut), the message itself, or the batches lost between the cut and it
    (read again from the log) followed by it. A read that fails rewinds the partition instead
    (the message is skipped: it comes again after the lost ones)."""
    guard = wiring.guard
    topic, partition, offset = message.topic, message.partition, message.offset
    admission = guard.admit(topic, partition, offset)
    if admission is Admission.APPLY:
        return [message]
    if admission is Admission.DUPLICATE:
        return []
    cut = wiring.stored_cut(topic, partition)
    assert cut is not None  # a gap is relative to a stored cut
    where = {"component": component, "topic": topic, "partition": partition, "offset": offset}
    if admission is Admission.GONE:
        log.error("sequenced_batches_gone", cut=cut, **where)
        return [message]
    bootstrap = wiring.settings.bootstrap
    try:
        lost = await asyncio.to_thread(read_range, bootstrap, topic, partition, cut, offset, 10.0)
    except Exception as e:  # the log did not answer: seek back, the fetch loop re-delivers
        target = guard.rewind_to(topic, partition)
        if target is not None:
            log.warning("sequenced_gap_rewound", cut=target, error=repr(e)[:300], **where)
            await wiring.app.consumer.seek(message.tp, target)
        return []
    first = lost[0].offset() if lost else offset
    if first > cut:  # retention deleted them: what is left is applied, the loss is reported
        log.error("sequenced_batches_gone", cut=cut, first_kept=first, **where)
    log.warning("sequenced_gap_filled", cut=cut, read=len(lost), **where)
    return [*(Refetched.of(m) for m in lost), message]


async def sequenced_batches(
    wiring: Wiring, stream: Any, component: str
) -> AsyncIterator[tuple[Any, SequencedBatch]]:
    """An agent's admitted messages (:func:`admitted`) with their decoded batch, in order; a
    message that is not a batch at all becomes a dead letter (its cut moves past it)."""
    async for event in stream.events():
        for m in await admitted(wiring, event.message, component):
            try:
                batch = wiring.codec.decode_as(m.value, SequencedBatch)
            except Exception as e:  # not a batch at all: the whole message is a dead letter
                await refuse(wiring, m, e, component)
                wiring.mark_applied(m.topic, m.partition, m.offset)
                continue
            yield m, batch


async def acknowledged(acks: list[Any]) -> None:
    """Wait until the broker acknowledged every send of ``acks`` (Faust's delivery futures)."""
    pending = [a for a in acks if isinstance(a, asyncio.Future)]
    if pending:
        await asyncio.gather(*pending)


async def dead_letter_all(wiring: Wiring, refusals: list[Refusal], component: str) -> list[Any]:
    """Write each refusal to the dead-letter topic of its original source; never raises.
    Returns the delivery futures (see :func:`acknowledged`)."""
    acks: list[Any] = []
    for refusal in refusals:
        source = refusal.source
        log.warning(
            "message_refused",
            component=component,
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            reason=str(refusal.error)[:300],
        )
        record = dead_letter(source, refusal.raw, refusal.error, component, refusal.timestamp_ms)
        logical = wiring.dlq_name(source.topic)
        try:
            value = wiring.codec.encode(record, logical)
            acks.append(
                await wiring.topic(logical).send(
                    key=record.source_key or source.topic.encode(), value=value
                )
            )
        except Exception as e:  # the dead-letter path itself failed: log, keep the agent alive
            log.error("dead_letter_failed", component=component, error=repr(e)[:300])
    return acks


async def refuse(wiring: Wiring, message: Any, error: BaseException, component: str) -> None:
    """Dead-letter a whole message (a batch that does not decode); never raises."""
    source = source_of(
        message.topic, message.partition, message.offset, message.key, headers_of(message)
    )
    time_ms = int((message.timestamp or 0) * 1000)
    refusal = Refusal(source, bytes(message.value or b""), error, time_ms)
    await acknowledged(await dead_letter_all(wiring, [refusal], component))
