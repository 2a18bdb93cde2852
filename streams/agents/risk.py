"""Pre-trade risk: ``arb.opportunity`` + ``ops.control`` (sequenced) -> ``risk.decision``."""

from __future__ import annotations

from typing import Any

from schemas.errors import DecodeError
from schemas.records.arb import Opportunity
from schemas.records.ops import ControlCommand
from schemas.topics import RISK_DECISION
from schemas.topics import STATE_RISK
from streams.agents.boundary import refuse
from streams.app import RISK_KEY
from streams.app import Wiring

COMPONENT = "streams.risk"


def register(wiring: Wiring) -> None:
    codec = wiring.codec
    decisions = wiring.topic(RISK_DECISION)

    @wiring.app.agent(wiring.risk_sequenced, name="risk")  # type: ignore[untyped-decorator]
    async def risk(stream: Any) -> None:
        async for event in stream.events():
            m = event.message
            try:
                record = codec.decode(m.value)
                if not isinstance(record, Opportunity | ControlCommand):
                    raise DecodeError("WRONG_SCHEMA", f"not a risk input: {record.AVRO_NAME}")
                reducer = wiring.risk_reducer()
                changed, decision = reducer.apply(record)
            except Exception as e:  # the one boundary: bad input is a dead letter, never a crash
                await refuse(wiring, m, e, COMPONENT)
                wiring.advance(m.topic, m.partition, m.offset)
                continue
            if changed:
                wiring.risk_table[RISK_KEY] = codec.encode(reducer.state.to_record(), STATE_RISK)
            wiring.advance(m.topic, m.partition, m.offset)
            if decision is not None:
                value = codec.encode(decision, RISK_DECISION)
                await decisions.send(key=decision.opportunity_id.encode(), value=value)
