"""Market state per asset: sequenced batches -> ``arb.spread`` and ``arb.opportunity``.

One Faust event is one batch of ticks. Per batch: the messages are applied in order
(:func:`streams.batches.apply_market_batch`), then each changed table key is written once, each
re-evaluated asset's lifecycle once, the batch's cut (next sequenced offset of its partition)
once, and the outputs are sent. A delivered batch is first admitted against its partition's cut
(:func:`streams.agents.boundary.admitted`): a redelivery is skipped, lost batches before it are
read again and applied first.
"""

from __future__ import annotations

from typing import Any

from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import ARB_SPREAD
from streams.agents.boundary import acknowledged
from streams.agents.boundary import dead_letter_all
from streams.agents.boundary import sequenced_batches
from streams.batches import apply_market_batch
from streams.wiring import Wiring

COMPONENT = "streams.market"


def register(wiring: Wiring) -> None:
    codec, reducer = wiring.codec, wiring.market
    spreads, opportunities = wiring.topic(ARB_SPREAD), wiring.topic(ARB_OPPORTUNITY)

    @wiring.app.agent(wiring.md_sequenced, name="market")  # type: ignore[untyped-decorator]
    async def market(stream: Any) -> None:
        async for m, batch in sequenced_batches(wiring, stream, COMPONENT):
            outcome = apply_market_batch(reducer, codec, batch, m.offset)
            # Opportunity events and dead letters first, acknowledged; then the state that
            # produced them, one record per changed asset: a crash in between re-sends the same
            # records (same event ids), never loses one. Spreads are not waited for: each is
            # superseded by the next one of its pair.
            acks = await dead_letter_all(wiring, outcome.refused, COMPONENT)
            for asset, opportunity in outcome.opportunities:
                value = codec.encode(opportunity, ARB_OPPORTUNITY)
                acks.append(
                    await opportunities.send(key=asset.encode(), value=value, partition=m.partition)
                )
            for asset, spread in outcome.spreads.values():
                value = codec.encode(spread, ARB_SPREAD)
                await spreads.send(key=asset.encode(), value=value, partition=m.partition)
            await acknowledged(acks)
            table = wiring.assets
            for asset in outcome.touched:
                table[asset.encode()] = wiring.snapshot(asset)
            wiring.mark_applied(m.topic, m.partition, m.offset)
