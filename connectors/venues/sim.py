"""The simulated venue (``connectors.sim.SimExchange``): reports every fact, numbers its
book updates contiguously, and runs on its own clock (``milliseconds()``/``sleep()``)."""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="sim",
    funding_interval="reported",
    contiguous_book_nonce=True,
    account="sim",
)
