"""The venue protocol and the small connector-level types without a wire schema.

Everything a :class:`Venue` returns is a schema record (``schemas.records.*``) or one of the
frozen dataclasses below; ccxt dicts never leave ``connectors/``.

Market-data methods refuse a bad single payload with :class:`InvalidPayload` (reason code +
raw bytes, ready for the dead-letter topic); batch methods return :class:`Rejected` items in
place, so one bad symbol never hides the good ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol
from typing import runtime_checkable

from processors.units import BorrowRate
from schemas.errors import InvalidEvent
from schemas.records.account import BalanceUpdate
from schemas.records.account import VenuePosition
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import OrderType
from schemas.records.common import Side
from schemas.records.common import TimeInForce
from schemas.records.dlq import DeadLetterReason
from schemas.records.execution import OrderEvent
from schemas.records.execution import OrderStatus
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingFactSource
from schemas.records.md import FundingRateUpdate
from schemas.records.md import Trade
from schemas.records.portfolio import FundingPaid


class InvalidPayload(InvalidEvent):
    """A venue payload refused by normalization or validation.

    ``reason`` is the :class:`DeadLetterReason`; ``raw`` the JSON bytes of the ccxt
    structure including ``info``; ``topic`` the topic the event would have gone to.
    """

    def __init__(
        self,
        reason: DeadLetterReason,
        detail: str,
        raw: bytes = b"",
        *,
        exchange: str = "",
        symbol: str | None = None,
        topic: str = "",
        event_time_ms: int | None = None,
    ) -> None:
        super().__init__(reason, detail, raw)
        self.exchange = exchange
        self.symbol = symbol
        self.topic = topic
        self.event_time_ms = event_time_ms

    def rejected(self) -> Rejected:
        return Rejected(
            reason=self.reason,
            detail=self.detail,
            raw=self.raw,
            exchange=self.exchange,
            symbol=self.symbol,
            topic=self.topic,
            event_time_ms=self.event_time_ms,
        )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused venue payload, on its way to ``dlq.<family of topic>``."""

    reason: DeadLetterReason
    detail: str
    raw: bytes
    exchange: str
    symbol: str | None
    topic: str
    event_time_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Instrument:
    """Market metadata from ccxt ``markets`` (fees overridable per account tier)."""

    exchange: str
    symbol: str
    venue_symbol: str
    market_type: MarketType
    base: str
    quote: str
    settle: str | None
    contract_size_base: Decimal
    """Base units per contract (1 for spot and for venues quoting sizes in base)."""
    price_increment: Decimal | None
    amount_increment: Decimal | None
    """Order size step in venue units (contracts for contract markets)."""
    min_amount: Decimal | None
    maker_fee: Decimal | None
    taker_fee: Decimal | None
    active: bool
    min_notional_quote: Decimal | None = None
    """Smallest order value in quote currency (ccxt ``limits.cost.min``)."""
    fees_overridden: bool = False
    """Whether the fee rates are the user's per-venue override rather than the venue's."""

    @property
    def ref(self) -> InstrumentRef:
        return InstrumentRef(
            exchange=self.exchange, symbol=self.symbol, market_type=self.market_type
        )

    @property
    def is_perp(self) -> bool:
        return self.market_type is MarketType.PERP


@dataclass(frozen=True, slots=True)
class InstrumentPair:
    """Two instruments of one base asset that an arbitrage can hedge against each other."""

    base: str
    kind: str
    """``spot_perp`` (same or cross venue) or ``perp_perp`` (cross venue)."""
    long_leg: Instrument
    short_leg: Instrument


@dataclass(frozen=True, slots=True)
class FundingInterval:
    """A perp's funding interval and where it came from."""

    instrument: InstrumentRef
    interval_ms: int
    source: FundingFactSource
    """Where the interval was learnt: the venue's funding structure (``FUNDING_ENDPOINT``), its
    interval endpoint (``OTHER_ENDPOINT``) or consecutive settlement times
    (``SETTLEMENT_HISTORY``)."""


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to send; ``amount_base`` is in base units (converted to contracts inside)."""

    symbol: str
    side: Side
    order_type: OrderType
    amount_base: Decimal
    client_order_id: str
    price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class OrderAck:
    """What the venue answered to a create, cancel or fetch."""

    client_order_id: str
    venue_order_id: str | None
    instrument: InstrumentRef
    status: OrderStatus
    side: Side
    order_type: OrderType
    amount_base: Decimal
    filled_base: Decimal
    average_price: Decimal | None
    limit_price: Decimal | None
    timestamp_ms: int | None


BookItem = BookSnapshot | Rejected
FundingItem = FundingRateUpdate | Rejected
TradeItem = Trade | Rejected


@runtime_checkable
class Venue(Protocol):
    """One exchange account seen through our records."""

    @property
    def id(self) -> str:
        """ccxt exchange id (``sim`` for the simulated venue)."""
        ...

    # connect / disconnect
    async def load_instruments(self, reload: bool = False) -> Sequence[Instrument]: ...

    async def close(self) -> None: ...

    # streams (watch where the venue supports it, else polling; reconnect with backoff)
    def stream_order_book(self, symbol: str, depth: int) -> AsyncIterator[BookItem]: ...

    def stream_trades(self, symbol: str) -> AsyncIterator[TradeItem]: ...

    def stream_funding_rates(self, symbols: Sequence[str]) -> AsyncIterator[FundingItem]: ...

    # requests
    def instrument(self, symbol: str) -> Instrument: ...

    async def fetch_funding_rate(self, symbol: str) -> FundingRateUpdate: ...

    async def fetch_funding_rates(self, symbols: Sequence[str]) -> list[FundingItem]: ...

    async def fetch_funding_interval(self, symbol: str) -> FundingInterval: ...

    async def fetch_borrow_rate(self, currency: str) -> BorrowRate | None: ...

    async def fetch_funding_payments(
        self, symbol: str | None = None, since_ms: int | None = None
    ) -> list[FundingPaid]:
        """The account's funding settlements (``portfolio.funding`` records, as paid)."""
        ...

    async def fetch_order_book(self, symbol: str, depth: int) -> BookSnapshot: ...

    async def fetch_trades(self, symbol: str, since_ms: int | None = None) -> list[TradeItem]: ...

    async def fetch_balance(self) -> list[BalanceUpdate]: ...

    async def fetch_positions(
        self, symbols: Sequence[str] | None = None
    ) -> list[VenuePosition]: ...

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderEvent]: ...

    # act
    async def create_order(self, request: OrderRequest) -> OrderAck: ...

    async def cancel_order(self, client_order_id: str, symbol: str) -> OrderAck: ...

    async def fetch_order_by_client_id(self, client_order_id: str, symbol: str) -> OrderAck: ...
