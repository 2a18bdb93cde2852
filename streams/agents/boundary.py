"""The error boundary every agent shares: a refused message becomes a dead letter.

Messages inside a batch are refused by :mod:`streams.batches` (the same code the offline replay
runs); a batch message that does not decode at all is refused here as a whole.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from processors.dead_letters import dead_letter
from processors.dead_letters import source_of
from streams.batches import Refusal
from streams.wiring import Wiring

log = structlog.get_logger("streams")


def headers_of(message: Any) -> list[tuple[str, bytes | None]]:
    headers = message.headers or ()
    items = headers.items() if isinstance(headers, dict) else headers
    return [(str(k), v) for k, v in items]


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
