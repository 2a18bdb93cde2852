"""What the executor needs of a venue, in the domain's records (the wiring passes adapters in).

The connectors implement it over ccxt (``connectors.order_venue.CcxtOrderVenue``); the
executor never imports a connector. Sizes are base units; a venue converts to its contracts.
Errors are :mod:`schemas.errors`: ``OutcomeUnknown`` (the send may have taken effect),
``VenueRejected`` (a definitive refusal), ``VenueOrderNotFound`` (no order by that id),
``VenueTransient`` (not sent: retry later).
"""

from __future__ import annotations

from typing import Protocol
from typing import runtime_checkable

from schemas.records.account import BalanceUpdate
from schemas.records.account import VenuePosition
from schemas.records.common import InstrumentRef
from schemas.records.execution import OrderEvent
from schemas.records.execution import SubmitOrder
from schemas.records.md import BookSnapshot
from schemas.records.md import InstrumentFacts
from schemas.records.md import Trade
from schemas.records.portfolio import FundingPaid


@runtime_checkable
class OrderVenue(Protocol):
    @property
    def id(self) -> str:
        """The exchange id the instruments name (``sim-okx``, ``binanceusdm``)."""
        ...

    @property
    def session(self) -> str:
        """The account's identity: ``live``, or a paper world's seed and epoch."""
        ...

    async def facts(self, instrument: InstrumentRef) -> InstrumentFacts:
        """The instrument's contract size, steps, minimums and fees as the venue states them."""
        ...

    async def time_ms(self) -> int:
        """The venue's clock (a paper world's simulated time)."""
        ...

    async def book(self, instrument: InstrumentRef, depth: int) -> BookSnapshot:
        """The instrument's order book now, ``depth`` levels a side (sizes in base units)."""
        ...

    async def recent_trades(self, instrument: InstrumentRef, since_ms: int) -> list[Trade]:
        """The venue's public trades of the instrument since ``since_ms`` (valid ones only)."""
        ...

    async def submit(self, order: SubmitOrder) -> OrderEvent: ...

    async def fetch_by_client_id(
        self, client_order_id: str, instrument: InstrumentRef
    ) -> OrderEvent: ...

    async def cancel(self, client_order_id: str, instrument: InstrumentRef) -> OrderEvent: ...

    async def open_orders(self) -> list[OrderEvent]: ...

    async def positions(self) -> list[VenuePosition]:
        """Derivative positions (a spot holding is a balance)."""
        ...

    async def balances(self) -> list[BalanceUpdate]: ...

    async def funding_history(
        self, instrument: InstrumentRef, since_ms: int | None = None
    ) -> list[FundingPaid]:
        """The funding settlements the venue booked on ``instrument`` (from ``since_ms``), as
        paid; each one's event id is derived from the venue, the instrument and its time."""
        ...

    async def close(self) -> None: ...
