"""A guard against a worker that is assigned input it never processes.

After a restart whose recovery reads the changelogs, faust-streaming (0.15) can resume fetching
before it seeks the stream partitions back to their committed offsets: records fetched in that
window are dropped by flow control, but the consumer's read offset has moved past them, so it
skips them when they are fetched again. The worker is then Ready, its lag is not zero, and it
produces nothing until new input arrives (and never processes the dropped records).

The guard checks every ``stall_check_s``: when no agent took a message since the last check and
an assigned input partition has records past its committed offset, it seeks that partition back
to the committed offset (``Consumer.seek`` also resets the read offset), so those records are
fetched and processed. At-least-once holds; the reducers are idempotent on redelivery.
"""

from __future__ import annotations

from typing import Any

import structlog

from streams.app import Wiring
from streams.internal_topics import internal_topics

log = structlog.get_logger("streams")


def stalled_partitions(consumer: Any, assigned: set[Any], changelogs: set[str]) -> dict[Any, int]:
    """Input partitions whose high watermark is past their committed offset: tp -> committed."""
    out: dict[Any, int] = {}
    for tp in assigned:
        if tp.topic in changelogs:
            continue
        committed = consumer._committed_offset.get(tp)  # faust's own record of its commits
        start = 0 if committed is None else committed + 1
        try:
            high = consumer.highwater(tp)
        except Exception:  # noqa: S112 - no fetch position yet: nothing to judge
            continue
        if high is not None and high > start:
            out[tp] = start
    return out


def install_stall_guard(wiring: Wiring) -> None:
    app = wiring.app
    seen = {"events": -1}

    @app.timer(wiring.settings.stall_check_s)  # type: ignore[untyped-decorator]
    async def _stall_guard() -> None:
        if app.rebalancing or not getattr(app.tables.recovery, "completed", None):
            return
        if not app.tables.recovery.completed.is_set():
            return
        if wiring.events != seen["events"]:
            seen["events"] = wiring.events
            return
        consumer = app.consumer
        changelogs = {t.name for t in internal_topics(wiring.settings)} - {
            wiring.settings.md_sequenced,
            wiring.settings.risk_sequenced,
        }
        stalled = stalled_partitions(consumer, set(consumer.assignment()), changelogs)
        for tp, offset in sorted(stalled.items()):
            log.warning(
                "input_stalled_reseek", topic=tp.topic, partition=tp.partition, offset=offset
            )
            await consumer.seek(tp, offset)
