"""``CcxtOrderVenue``: the executor's view of one ccxt venue (``executors.venues.OrderVenue``).

It speaks the domain's records: a ``SubmitOrder`` goes out with the venue's spelling of its
client order id (``processors.client_ids.render``), and every answer comes back as an
``exec.order_event`` record carrying the canonical id. A venue's "no such order" becomes
``VenueOrderNotFound``; any other failure of a submit that may have reached the venue
(timeouts, dropped connections, 5xx) is ``OutcomeUnknown``, never a reject.
"""

from __future__ import annotations

from connectors import normalize
from connectors.ccxt_venue import CcxtVenue
from connectors.errors import venue_call
from connectors.facts import instrument_facts
from connectors.venue import OrderAck
from connectors.venue import OrderRequest
from processors.client_ids import ClientOrderId
from processors.client_ids import parse
from processors.client_ids import render
from schemas.errors import OutcomeUnknown
from schemas.errors import VenueOrderNotFound
from schemas.errors import VenueRejected
from schemas.errors import VenueTransient
from schemas.records.account import BalanceUpdate
from schemas.records.account import VenuePosition
from schemas.records.common import InstrumentRef
from schemas.records.execution import OrderEvent
from schemas.records.execution import SubmitOrder
from schemas.records.md import BookSnapshot
from schemas.records.md import InstrumentFacts
from schemas.records.md import Trade
from schemas.records.portfolio import FundingPaid


def _not_found(exc: BaseException) -> bool:
    cause = exc.__cause__
    return cause is not None and type(cause).__name__ == "OrderNotFound"


class CcxtOrderVenue:
    def __init__(self, venue: CcxtVenue, session: str = "live") -> None:
        self.venue = venue
        self._session = session
        self._loaded = False

    @property
    def id(self) -> str:
        return self.venue.id

    @property
    def session(self) -> str:
        return self._session

    @property
    def _dialect(self) -> str:
        return self.venue.profile.ccxt_id

    async def _ready(self) -> None:
        if not self._loaded:
            await self.venue.load_instruments()
            self._loaded = True

    async def facts(self, instrument: InstrumentRef) -> InstrumentFacts:
        await self._ready()
        return instrument_facts(self.venue.instrument(instrument.symbol), self.venue.now_ms())

    def _event(self, ack: OrderAck, cid: str) -> OrderEvent:
        canonical = parse(ack.client_order_id, self._dialect)
        ack_cid = canonical.hex if canonical is not None else ack.client_order_id
        if ack_cid != cid:
            raise VenueRejected(f"{self.id} answered for order {ack_cid}, not {cid}")
        now = self.venue.now_ms()
        return normalize.to_order_event(
            OrderAck(
                cid,
                ack.venue_order_id,
                ack.instrument,
                ack.status,
                ack.side,
                ack.order_type,
                ack.amount_base,
                ack.filled_base,
                ack.average_price,
                ack.limit_price,
                ack.timestamp_ms,
            ),
            now,
        )

    def _spelled(self, cid: str) -> str:
        return render(ClientOrderId(int(cid, 16)), self._dialect)

    async def time_ms(self) -> int:
        return int(await venue_call(self.venue.exchange.fetch_time()))

    async def book(self, instrument: InstrumentRef, depth: int) -> BookSnapshot:
        await self._ready()
        return await self.venue.fetch_order_book(instrument.symbol, depth)

    async def recent_trades(self, instrument: InstrumentRef, since_ms: int) -> list[Trade]:
        await self._ready()
        items = await self.venue.fetch_trades(instrument.symbol, since_ms)
        return [t for t in items if isinstance(t, Trade)]

    async def submit(self, order: SubmitOrder) -> OrderEvent:
        await self._ready()
        request = OrderRequest(
            symbol=order.instrument.symbol,
            side=order.side,
            order_type=order.order_type,
            amount_base=order.size_base,
            client_order_id=self._spelled(order.client_order_id),
            price=order.limit_price,
            time_in_force=order.time_in_force,
            reduce_only=order.reduce_only,
        )
        try:
            ack = await self.venue.create_order(request)
        except VenueTransient as exc:  # a 5xx or a limit after the send: may have taken effect
            raise OutcomeUnknown(str(exc)) from exc
        return self._event(ack, order.client_order_id)

    async def fetch_by_client_id(
        self, client_order_id: str, instrument: InstrumentRef
    ) -> OrderEvent:
        await self._ready()
        try:
            ack = await self.venue.fetch_order_by_client_id(
                self._spelled(client_order_id), instrument.symbol
            )
        except VenueRejected as exc:
            if _not_found(exc):
                raise VenueOrderNotFound(str(exc)) from exc
            raise
        return self._event(ack, client_order_id)

    async def cancel(self, client_order_id: str, instrument: InstrumentRef) -> OrderEvent:
        await self._ready()
        try:
            ack = await self.venue.cancel_order(self._spelled(client_order_id), instrument.symbol)
        except VenueRejected as exc:
            if _not_found(exc):
                raise VenueOrderNotFound(str(exc)) from exc
            raise
        return self._event(ack, client_order_id)

    async def open_orders(self) -> list[OrderEvent]:
        await self._ready()
        events = await self.venue.fetch_open_orders()
        out = []
        for event in events:
            canonical = parse(event.client_order_id, self._dialect)
            cid = canonical.hex if canonical is not None else event.client_order_id
            out.append(event.model_copy(update={"client_order_id": cid}))
        return out

    async def positions(self) -> list[VenuePosition]:
        await self._ready()
        return await self.venue.fetch_positions()

    async def funding_history(
        self, instrument: InstrumentRef, since_ms: int | None = None
    ) -> list[FundingPaid]:
        await self._ready()
        return await self.venue.fetch_funding_payments(instrument.symbol, since_ms)

    async def balances(self) -> list[BalanceUpdate]:
        await self._ready()
        return await self.venue.fetch_balance()

    async def close(self) -> None:
        await self.venue.close()
