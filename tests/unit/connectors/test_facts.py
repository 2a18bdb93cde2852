"""Instrument facts from ccxt's own parsers (okx, binanceusdm) and their change detection."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from connectors.facts import FactsTracker
from connectors.facts import instrument_facts
from schemas.records.md import FeeSource
from tests.unit.connectors.test_ccxt_venues import NOW
from tests.unit.connectors.test_ccxt_venues import venue


async def test_okx_swap_facts_carry_contract_size_step_and_minimum() -> None:
    v = venue("okx")
    ins = {i.symbol: i for i in await v.load_instruments()}["BTC/USDT:USDT"]
    await v.close()
    facts = instrument_facts(ins, NOW)
    # documented payload: ctVal 0.01 BTC, lotSz 0.01 contracts, minSz 0.01 contracts
    assert facts.contract_size_base == Decimal("0.01")
    assert facts.amount_step == Decimal("0.01")
    assert facts.min_amount == Decimal("0.01")
    assert facts.venue_symbol == "BTC-USDT-SWAP"
    assert facts.settle == "USDT"
    assert facts.fee_source is FeeSource.VENUE
    assert facts.maker_fee is not None
    assert facts.envelope.event_time_ms == NOW


async def test_same_facts_same_id_and_a_change_is_published_once() -> None:
    v = venue("binanceusdm")
    ins = {i.symbol: i for i in await v.load_instruments()}["BTC/USDT:USDT"]
    await v.close()
    first, again = instrument_facts(ins, NOW), instrument_facts(ins, NOW + 60_000)
    assert first.envelope.event_id == again.envelope.event_id
    tracker = FactsTracker()
    assert tracker.changed(first)
    assert not tracker.changed(again)
    moved = instrument_facts(replace(ins, min_amount=Decimal("0.002")), NOW + 120_000)
    assert moved.envelope.event_id != first.envelope.event_id
    assert tracker.changed(moved)
    assert not tracker.changed(moved)


async def test_override_fees_are_marked_as_override() -> None:
    v = venue("okx")
    ins = {i.symbol: i for i in await v.load_instruments()}["BTC/USDT:USDT"]
    await v.close()
    facts = instrument_facts(replace(ins, taker_fee=Decimal("0.0002"), fees_overridden=True), NOW)
    assert facts.fee_source is FeeSource.OVERRIDE
    assert facts.taker_fee == Decimal("0.0002")
