from __future__ import annotations

import ccxt.async_support as ccxt
import pytest

from connectors.errors import map_ccxt_error
from schemas.errors import OutcomeUnknown
from schemas.errors import VenueRejected
from schemas.errors import VenueTransient

CASES = [
    # (ccxt class, on a read, on an order submission)
    (ccxt.RateLimitExceeded, VenueTransient, VenueTransient),
    (ccxt.DDoSProtection, VenueTransient, VenueTransient),
    (ccxt.ExchangeNotAvailable, VenueTransient, VenueTransient),
    (ccxt.OnMaintenance, VenueTransient, VenueTransient),
    (ccxt.RequestTimeout, VenueTransient, OutcomeUnknown),
    (ccxt.NetworkError, VenueTransient, OutcomeUnknown),
    (ccxt.BadResponse, VenueTransient, OutcomeUnknown),
    (ccxt.InvalidNonce, VenueTransient, OutcomeUnknown),
    (ccxt.InvalidOrder, VenueRejected, VenueRejected),
    (ccxt.InsufficientFunds, VenueRejected, VenueRejected),
    (ccxt.OrderNotFound, VenueRejected, VenueRejected),
    (ccxt.DuplicateOrderId, VenueRejected, VenueRejected),
    (ccxt.AuthenticationError, VenueRejected, VenueRejected),
    (ccxt.BadSymbol, VenueRejected, VenueRejected),
    (ccxt.ExchangeError, VenueRejected, OutcomeUnknown),  # unclassified code: not evidence
]


@pytest.mark.parametrize(("error", "on_read", "on_submit"), CASES)
def test_mapping_by_class(error: type[Exception], on_read: type, on_submit: type) -> None:
    # the message says "insufficient" on purpose: text must never drive the mapping
    e = error("insufficient balance, timeout")
    assert type(map_ccxt_error(e)) is on_read
    assert type(map_ccxt_error(e, submits_order=True)) is on_submit
