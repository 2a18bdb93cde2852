"""The executor against a misbehaving venue: dropped responses, rejected and partial hedges,
and an account that differs from the ledger.

Each test runs ``fundingflow execute`` (subprocess, real Kafka under a test prefix, scratch
PostgreSQL schema) on the sim venues, whose fault hooks are armed in this process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from executors.engine import UNSAFE_RESEND_ENV
from processors.client_ids import OrderKey
from processors.client_ids import client_order_id
from schemas.records.execution import OrderPurpose
from schemas.records.ops import Incident
from tests.event_stores import create_topics
from tests.event_stores import delete_topics
from tests.ledger_db import ScratchSchema
from tests.ledger_db import scratch_schema
from tests.paper_venues import EXECUTOR_TOPICS
from tests.paper_venues import PaperVenues
from tests.paper_venues import Run
from tests.paper_venues import paper_venues
from tests.paper_venues import perp
from tests.paper_venues import read_topic
from tests.paper_venues import submit_on


@pytest.fixture
def venues() -> Iterator[PaperVenues]:
    with paper_venues() as v:
        yield v


@pytest.fixture
def schema(postgres_conninfo: str) -> Iterator[ScratchSchema]:
    with scratch_schema(postgres_conninfo) as s:
        yield s


@pytest.fixture
def prefix(kafka_bootstrap: str) -> Iterator[str]:
    p = f"t-exvf-{uuid.uuid4().hex[:8]}."
    create_topics(kafka_bootstrap, p, EXECUTOR_TOPICS)
    yield p
    delete_topics(kafka_bootstrap, p, EXECUTOR_TOPICS)


@pytest.fixture
def run(
    venues: PaperVenues,
    schema: ScratchSchema,
    prefix: str,
    kafka_bootstrap: str,
    schema_registry_url: str,
    tmp_path: Path,
) -> Run:
    return Run(venues, schema, prefix, kafka_bootstrap, schema_registry_url, tmp_path)


def _arm_drops(venues: PaperVenues, rate: float) -> None:
    for ex in venues.exchanges.values():
        ex.faults.drop_response_rate = rate


def test_dropped_responses_are_settled_by_client_id(run: Run) -> None:
    _arm_drops(run.venues, 0.1)
    run.decide(60)
    assert run.execute() == 0, run.log.read_text()[-3000:]
    dropped = sum(ex.faults.counts["dropped_response"] for ex in run.venues.exchanges.values())
    assert dropped >= 5  # ~10% of 120 submits
    assert max(run.venues.client_id_counts().values()) == 1
    assert set(run.pairs().values()) == {"HEDGED"}
    assert run.ledger_net() == run.venues.net_positions()


def test_twin_resending_dropped_responses_doubles_orders(run: Run) -> None:
    _arm_drops(run.venues, 0.1)
    run.decide(60)
    run.execute(**{UNSAFE_RESEND_ENV: "1"})
    assert max(run.venues.client_id_counts().values()) >= 2


def test_a_rejected_hedge_is_retried_then_the_entry_unwound_exactly_once(run: Run) -> None:
    run.venues.exchanges["sim-bybit"].faults.reject_rate = 1.0  # every hedge order refused
    signals = run.decide(5)
    assert run.execute() == 0, run.log.read_text()[-3000:]
    assert run.pairs() == dict.fromkeys(signals, "UNWOUND")
    assert run.venues.net_positions() == {}  # net exposure back to zero on every venue
    counts = run.venues.client_id_counts()
    for signal in signals:
        unwind = client_order_id(OrderKey(signal, 0, 1, OrderPurpose.UNWIND)).hex
        assert counts[unwind] == 1  # the unwind, once
        assert "retries exhausted" in run.pair_detail(signal)
    assert max(counts.values()) == 1
    assert run.ledger_net() == {}


def test_a_partially_filled_hedge_is_completed(run: Run) -> None:
    # leg 0 on sim-binance (about 1500 ETH of asks), the hedge on sim-okx (about 1000 ETH of
    # bids): the first hedge order fills what the book holds, the retry the rest
    signals = run.decide(1, size="1200", long=perp("sim-binance"), short=perp("sim-okx"))
    assert run.execute() == 0, run.log.read_text()[-3000:]
    assert run.pairs() == {signals[0]: "HEDGED"}
    net = run.venues.net_positions()
    assert net[("sim-binance", "ETH/USDT:USDT")] == Decimal(1200)
    assert net[("sim-okx", "ETH/USDT:USDT")] == Decimal(-1200)
    hedges = [
        c for c in run.venues.order_log() if c["symbol"] == "ETH/USDT:USDT" and c["side"] == "sell"
    ]
    assert len(hedges) >= 2


def test_a_position_the_ledger_does_not_know_halts_trading(run: Run) -> None:
    submit_on(run.venues, "sim-bybit", "ETH/USDT:USDT", "buy", 2.0)  # someone else traded
    signals = run.decide(3)
    assert run.execute() == 0, run.log.read_text()[-3000:]
    assert run.pairs() == dict.fromkeys(signals, "REJECTED")
    assert all("trading halted" in run.pair_detail(s) for s in signals)
    incidents = read_topic(run.bootstrap, run.registry, f"{run.prefix}ops.incident")
    assert any(isinstance(i, Incident) and i.code == "POSITION_MISMATCH" for i in incidents)
    assert len(run.venues.order_log()) == 1  # nothing but the outsider's order


def test_twin_with_an_unbounded_tolerance_trades_on(run: Run) -> None:
    submit_on(run.venues, "sim-bybit", "ETH/USDT:USDT", "buy", 2.0)
    signals = run.decide(3)
    assert run.execute(FUNDINGFLOW_EXECUTOR__POSITION_TOLERANCE_BASE="1000000") == 0
    assert run.pairs() == dict.fromkeys(signals, "HEDGED")


def test_an_entry_past_its_price_band_is_not_filled(run: Run) -> None:
    # the opportunity expected 3000, the book is at 3300: a buy limited to 3015 takes nothing
    signals = run.decide(2, price="3000")
    assert run.execute() == 0, run.log.read_text()[-3000:]
    assert run.pairs() == dict.fromkeys(signals, "REJECTED")
    assert all("filled nothing" in run.pair_detail(s) for s in signals)
    assert run.venues.net_positions() == {}
    with run.schema.connect() as conn:
        types = conn.execute("SELECT DISTINCT order_type, price_quote FROM orders").fetchall()
    assert [(t, Decimal(p)) for t, p in types] == [("LIMIT", Decimal("3015"))]


def test_twin_with_a_wide_band_fills_far_from_the_expected_price(run: Run) -> None:
    signals = run.decide(2, price="3000")
    assert run.execute(FUNDINGFLOW_EXECUTOR__ENTRY_BAND_BPS="2000") == 0
    assert run.pairs() == dict.fromkeys(signals, "HEDGED")
