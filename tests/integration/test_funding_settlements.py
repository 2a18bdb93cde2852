"""Funding on the paper venues: the sim settles funding on the executor's positions, the
executor reads each venue's funding history, stores every settlement once (also across a
restart and a refetch), books exactly what the venue paid, and raises an incident (without
halting) when a venue paid other than the position held should have got."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.sim.accounts import Account
from connectors.sim.scenario import MarketSpec
from schemas.records.ops import Incident
from schemas.records.portfolio import FundingPaid
from tests.event_stores import create_topics
from tests.event_stores import delete_topics
from tests.ledger_db import ScratchSchema
from tests.ledger_db import scratch_schema
from tests.paper_venues import EXECUTOR_TOPICS
from tests.paper_venues import REPO
from tests.paper_venues import PaperVenues
from tests.paper_venues import Run
from tests.paper_venues import executor_env
from tests.paper_venues import paper_venues
from tests.paper_venues import read_topic
from tests.paper_venues import start_executor

HOUR_MS = 3_600_000
CENT = Decimal("0.01")
LOOSE = {"FUNDINGFLOW_EXECUTOR__FUNDING_TOLERANCE_QUOTE": "1000000"}
"""The twin's setting: a tolerance so wide that no settlement is ever a mismatch."""


@pytest.fixture
def run(
    postgres_conninfo: str, kafka_bootstrap: str, schema_registry_url: str, tmp_path: Path
) -> Iterator[Run]:
    prefix = f"t-funding-{uuid.uuid4().hex[:8]}."
    create_topics(kafka_bootstrap, prefix, EXECUTOR_TOPICS)
    venues: PaperVenues
    schema: ScratchSchema
    with paper_venues(step_ms=10_000) as venues, scratch_schema(postgres_conninfo) as schema:
        yield Run(venues, schema, prefix, kafka_bootstrap, schema_registry_url, tmp_path)
    delete_topics(kafka_bootstrap, prefix, EXECUTOR_TOPICS)


def _overpay(account: Account) -> None:
    """This venue books twice the settlement it pays (a venue's funding history wrong)."""
    settle: Callable[[MarketSpec, float, float, int], float | None] = account.settle_funding

    def doubled(spec: MarketSpec, mark: float, rate: float, ts: int) -> float | None:
        amount = settle(spec, mark, rate, ts)
        if amount is not None:
            account.funding_payments[-1]["amount"] = amount * 2
        return amount

    account.settle_funding = doubled  # type: ignore[method-assign]


def _venue_paid(venues: PaperVenues) -> dict[tuple[str, int], Decimal]:
    """What each venue's funding history says it paid: (venue, funding time) -> amount."""
    return {
        (vid, int(p["timestamp"])): Decimal(str(p["amount"]))
        for vid, ex in venues.exchanges.items()
        for p in ex.account.funding_payments
    }


def _rows(run: Run) -> list[tuple[Any, ...]]:
    with run.schema.connect() as conn:
        return conn.execute(
            "SELECT exchange, funding_time_ms, paid_quote, expected_quote, within_tolerance"
            " FROM funding_settlements ORDER BY exchange, funding_time_ms"
        ).fetchall()


def _pnl(run: Run) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "fundingflow", "pnl", "--json"],
        cwd=REPO, env=executor_env(run.schema.name), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _funding_incidents(run: Run) -> list[Incident]:
    records = read_topic(run.bootstrap, run.registry, f"{run.prefix}ops.incident")
    return [r for r in records if isinstance(r, Incident) and r.code == "FUNDING_MISMATCH"]


def _execute(run: Run, **env: str) -> None:
    proc = start_executor(
        run.venues.url, run.prefix, run.schema.name, run.log, "--until-idle", "1.5", **env
    )
    assert proc.wait(timeout=120) == 0, run.log.read_text()[-3000:]


def _halted(run: Run) -> bool:
    with run.schema.connect() as conn:
        row = conn.execute("SELECT count(*) FROM trading_halt WHERE halted").fetchone()
    return bool(row and row[0])


def test_settlements_are_stored_once_and_pnl_funding_is_what_the_venue_paid(run: Run) -> None:
    _overpay(run.venues.exchanges["sim-bybit"].account)
    run.decide(1)  # long ETH on sim-okx, short ETH on sim-bybit
    _execute(run)
    assert set(run.pairs().values()) == {"HEDGED"}
    run.venues.run_for(16 * HOUR_MS)  # two 8 h settlements on each venue
    _execute(run)  # reads them on start, and again (nothing new) when it stops
    assert len(_rows(run)) == 4
    run.venues.run_for(8 * HOUR_MS)  # one more, read by a restarted executor
    _execute(run)
    rows = _rows(run)
    paid = _venue_paid(run.venues)
    assert len(rows) == len(paid) == 6  # once each, after a restart too
    assert {(r[0], int(r[1])): Decimal(r[2]) for r in rows} == paid
    okx = [r for r in rows if r[0] == "sim-okx"]
    bybit = [r for r in rows if r[0] == "sim-bybit"]
    assert all(r[4] for r in okx)  # paid as the position held should have got
    assert all(abs(Decimal(r[2]) - Decimal(r[3])) < CENT for r in okx)
    assert not any(r[4] for r in bybit)  # bybit paid double
    pnl = _pnl(run)
    book = next(p for p in pnl["pnl"] if p["scope"] == "portfolio")
    assert Decimal(book["funding_pnl_quote"]) == sum(paid.values(), Decimal(0)).quantize(CENT)
    by_venue = {f["exchange"]: f for f in pnl["funding"]}
    assert by_venue["sim-okx"]["mismatches"] == 0
    assert by_venue["sim-bybit"]["mismatches"] == 3
    assert by_venue["sim-bybit"]["settlements"] == 3
    published = read_topic(run.bootstrap, run.registry, f"{run.prefix}portfolio.funding")
    ids = [r.envelope.event_id for r in published if isinstance(r, FundingPaid)]
    assert len(ids) == len(set(ids)) == 6
    incidents = _funding_incidents(run)
    assert {i.message.split(" ")[0] for i in incidents} == {"sim-bybit"}
    assert len({i.incident_id for i in incidents}) == 3
    assert not _halted(run)  # a funding difference is an incident, never a halt


def test_twin_without_the_funding_check_a_wrong_payment_goes_unnoticed(run: Run) -> None:
    _overpay(run.venues.exchanges["sim-bybit"].account)
    run.decide(1)
    _execute(run)
    run.venues.run_for(8 * HOUR_MS)
    _execute(run, **LOOSE)
    assert len(_rows(run)) == 2
    assert _funding_incidents(run) == []  # the guard off: the double payment is not flagged
