"""Gate (ccxt id ``gate``): USDT-settled perps (``/api/v4/futures/usdt``).

One call, ``/futures/usdt/contracts``, carries the markets and every perp's funding:
``funding_interval`` in seconds (ccxt passes lengths outside 1/4/8/16/24 h through as
milliseconds, e.g. ``'7200000'`` for 2 h), ``funding_next_apply``, mark and index price.
Sizes are contracts of ``quanto_multiplier`` base units.
"""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="gate",
    market_types=("swap",),
    options={"swap": {"fetchMarkets": {"settlementCurrencies": ["usdt"]}}},
    funding_interval="reported",
    account="futures",
)
