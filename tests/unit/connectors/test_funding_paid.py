"""The ``portfolio.funding`` normalizer: a venue's funding history entry as paid."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.instruments import to_instrument
from connectors.normalize import to_funding_paid
from connectors.sim.structures import funding_payment
from connectors.venue import InvalidPayload
from processors.portfolio import funding_event_id
from schemas.records.dlq import DeadLetterReason as R
from tests.unit.connectors.scripted import market

PERP = to_instrument("sim-okx", market("ETH/USDT:USDT", contract_size=0.1), 4)
HOUR = 3_600_000


def entry(**change: object) -> dict[str, object]:
    base = funding_payment(
        id="p1", symbol="ETH/USDT:USDT", code="USDT", ts=8 * HOUR, amount=0.66, rate=0.0001,
        mark=3300.0, interval_ms=8 * HOUR,
    )  # fmt: skip
    return {**base, **change}


def test_an_entry_states_amount_rate_mark_and_interval() -> None:
    paid = to_funding_paid(entry(), PERP)
    assert paid.amount_quote == Decimal("0.66")
    assert paid.funding_rate == Decimal("0.0001")
    assert paid.mark_price == Decimal("3300.0")
    assert paid.funding_interval_ms == 8 * HOUR
    assert paid.funding_time_ms == 8 * HOUR
    assert paid.quote_currency == "USDT"
    assert paid.net_size_base == Decimal(-2)  # 0.66 received at 0.0001 x 3300: 2 short


def test_the_event_id_is_the_venue_instrument_and_funding_time() -> None:
    a, b = to_funding_paid(entry(), PERP), to_funding_paid(entry(id="other", amount=1.0), PERP)
    assert a.envelope.event_id == b.envelope.event_id == funding_event_id(PERP.ref, 8 * HOUR)
    later = to_funding_paid(entry(timestamp=16 * HOUR), PERP)
    assert later.envelope.event_id != a.envelope.event_id


def test_missing_rate_mark_and_interval_come_from_the_caller() -> None:
    bare = entry(rate=None, markPrice=None, interval=None, info={})
    paid = to_funding_paid(
        bare, PERP, interval_ms=4 * HOUR, rate=Decimal("0.0002"), mark_price=Decimal(3000)
    )
    assert (paid.funding_rate, paid.mark_price, paid.funding_interval_ms) == (
        Decimal("0.0002"), Decimal(3000), 4 * HOUR,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"timestamp": None}, R.MALFORMED_PAYLOAD),
        ({"amount": None}, R.MALFORMED_PAYLOAD),
        ({"rate": None}, R.MALFORMED_PAYLOAD),
        ({"markPrice": None, "info": {}}, R.MALFORMED_PAYLOAD),
        ({"interval": None}, R.MISSING_FUNDING_INTERVAL),
    ],
)
def test_an_entry_nothing_completes_is_refused(change: dict[str, object], reason: R) -> None:
    with pytest.raises(InvalidPayload) as refused:
        to_funding_paid(entry(**change), PERP)
    assert refused.value.reason is reason


def test_a_zero_rate_implies_no_position() -> None:
    assert to_funding_paid(entry(rate=0.0, amount=0.0), PERP).net_size_base == 0
