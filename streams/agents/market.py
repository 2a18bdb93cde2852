"""Market state per asset -> ``arb.spread`` and ``arb.opportunity`` (the lifecycle)."""

from __future__ import annotations

from typing import Any

from schemas.errors import DecodeError
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import ARB_SPREAD
from schemas.topics import STATE_ASSET
from streams.agents.boundary import refuse
from streams.app import Wiring

COMPONENT = "streams.market"


def register(wiring: Wiring) -> None:
    codec, reducer = wiring.codec, wiring.market
    spreads, opportunities = wiring.topic(ARB_SPREAD), wiring.topic(ARB_OPPORTUNITY)

    @wiring.app.agent(wiring.md_sequenced, name="market")  # type: ignore[untyped-decorator]
    async def market(stream: Any) -> None:
        async for event in stream.events():
            m = event.message
            try:
                record = codec.decode(m.value)
                if not isinstance(record, BookSnapshot | FundingRateUpdate):
                    raise DecodeError("WRONG_SCHEMA", f"not market data: {record.AVRO_NAME}")
                applied = reducer.apply(record)
            except Exception as e:  # the one boundary: bad input is a dead letter, never a crash
                await refuse(wiring, m, e, COMPONENT)
                wiring.advance(m.topic, m.partition, m.offset)
                continue
            if applied.applied:
                wiring.md_latest[applied.key.encode()] = m.value
            if applied.evaluated:
                state = reducer.asset(applied.asset)
                lifecycle = codec.encode(state.lifecycle_record(), STATE_ASSET)
                wiring.lifecycle[applied.asset.encode()] = lifecycle
            wiring.advance(m.topic, m.partition, m.offset)
            key = applied.asset.encode()
            for spread in applied.spreads:
                value = codec.encode(spread, ARB_SPREAD)
                await spreads.send(key=key, value=value, partition=m.partition)
            for opportunity in applied.opportunities:
                value = codec.encode(opportunity, ARB_OPPORTUNITY)
                await opportunities.send(key=key, value=value, partition=m.partition)
