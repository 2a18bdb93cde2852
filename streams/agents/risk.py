"""Pre-trade risk: sequenced batches of ``arb.opportunity`` + ``ops.control`` + ``exec.fill`` ->
``risk.decision`` (the fills are the executor's positions, see ``processors.risk_state``).

Per batch: messages applied in order (:func:`streams.batches.apply_risk_batch`), the risk state
written once if it changed, then the decisions sent; each batch admitted against the cut first
(:func:`streams.agents.boundary.admitted`).
"""

from __future__ import annotations

from typing import Any

from schemas.topics import RISK_DECISION
from schemas.topics import STATE_RISK
from streams.agents.boundary import acknowledged
from streams.agents.boundary import dead_letter_all
from streams.agents.boundary import sequenced_batches
from streams.batches import apply_risk_batch
from streams.wiring import RISK_KEY
from streams.wiring import Wiring

COMPONENT = "streams.risk"


def register(wiring: Wiring) -> None:
    codec = wiring.codec
    decisions = wiring.topic(RISK_DECISION)

    @wiring.app.agent(wiring.risk_sequenced, name="risk")  # type: ignore[untyped-decorator]
    async def risk(stream: Any) -> None:
        async for m, batch in sequenced_batches(wiring, stream, COMPONENT):
            reducer = wiring.risk_reducer()
            outcome = apply_risk_batch(reducer, codec, batch)
            # Decisions first, acknowledged; then the state that made them: a crash in between
            # re-sends the same decisions (same decision ids), never loses one.
            acks = await dead_letter_all(wiring, outcome.refused, COMPONENT)
            for decision in outcome.decisions:
                value = codec.encode(decision, RISK_DECISION)
                acks.append(await decisions.send(key=decision.opportunity_id.encode(), value=value))
            await acknowledged(acks)
            if outcome.changed:
                wiring.risk_table[RISK_KEY] = codec.encode(reducer.state.to_record(), STATE_RISK)
            wiring.mark_applied(m.topic, m.partition, m.offset)
