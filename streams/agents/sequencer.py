"""Sequencers: merge several input topics into one internal topic, in one order per partition.

The stateful agents read only a sequenced topic, so the order they applied events in is a
Kafka log that the offline replay (:mod:`streams.digest`) reads back: the same input order, the
same state. Values are relayed byte for byte (no decode); headers name the original position so
a later dead letter points at the source message.
"""

from __future__ import annotations

from typing import Any

from streams.agents.boundary import headers_of
from streams.app import Wiring
from streams.dlq import H_OFFSET
from streams.dlq import H_PARTITION
from streams.dlq import H_TOPIC


def _relay(target: Any, same_partition: bool) -> Any:
    async def relay(stream: Any) -> None:
        async for event in stream.events():
            m = event.message
            headers = [
                *headers_of(m),
                (H_TOPIC, m.topic.encode()),
                (H_PARTITION, str(m.partition).encode()),
                (H_OFFSET, str(m.offset).encode()),
            ]
            partition = m.partition if same_partition else 0
            await target.send(key=m.key, value=m.value, partition=partition, headers=headers)

    return relay


def register(wiring: Wiring) -> None:
    """md.book + md.funding -> md-sequenced (same partition: both are keyed by base asset);
    arb.opportunity + ops.control -> risk-sequenced (one partition: one total order)."""
    app = wiring.app
    app.agent(wiring.md_in, name="md-sequencer")(_relay(wiring.md_sequenced, True))
    app.agent(wiring.risk_in, name="risk-sequencer")(_relay(wiring.risk_sequenced, False))
