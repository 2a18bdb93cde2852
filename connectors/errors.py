"""ccxt exceptions → fundingflow venue errors, by class (never by message text).

Order submission is special: after the request may have left, only definitive venue evidence
(``InvalidOrder``, ``InsufficientFunds``, other specific ``ExchangeError`` subclasses) is a
rejection; a timeout, a dropped connection or an unclassified error is ``OutcomeUnknown``.
Rate limiting and unavailability are refusals at the door, so they stay ``VenueTransient``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import ccxt.async_support as ccxt

from schemas.errors import OutcomeUnknown
from schemas.errors import VenueError
from schemas.errors import VenueRejected
from schemas.errors import VenueTransient

T = TypeVar("T")

_TRANSIENT_ALWAYS: tuple[type[BaseException], ...] = (
    ccxt.RateLimitExceeded,
    ccxt.DDoSProtection,
    ccxt.ExchangeNotAvailable,
)


def map_ccxt_error(error: BaseException, *, submits_order: bool = False) -> VenueError:
    """The fundingflow error for a ccxt exception (the ccxt one becomes ``__cause__``)."""
    text = f"{type(error).__name__}: {error}"[:500]
    if isinstance(error, VenueError):
        return error
    if isinstance(error, _TRANSIENT_ALWAYS):
        return VenueTransient(text)
    if isinstance(error, ccxt.NetworkError | ccxt.BadResponse):
        return OutcomeUnknown(text) if submits_order else VenueTransient(text)
    if isinstance(error, ccxt.ExchangeError):
        if submits_order and type(error) is ccxt.ExchangeError:
            # an unclassified venue error code: not definitive evidence of a reject
            return OutcomeUnknown(text)
        return VenueRejected(text)
    if isinstance(error, ccxt.OperationFailed):
        return OutcomeUnknown(text) if submits_order else VenueTransient(text)
    if isinstance(error, TimeoutError | ConnectionError | OSError):
        return OutcomeUnknown(text) if submits_order else VenueTransient(text)
    return OutcomeUnknown(text) if submits_order else VenueTransient(text)


async def venue_call(awaitable: Awaitable[T], *, submits_order: bool = False) -> T:
    """Await a ccxt call and translate its exceptions."""
    try:
        return await awaitable
    except (ccxt.BaseError, TimeoutError, ConnectionError, OSError) as e:
        raise map_ccxt_error(e, submits_order=submits_order) from e
