"""The executor's flow on the paper venues: a closed opportunity closes both legs, the kill
switch stops new entries at once and only an explicit command resumes, and every change is an
``exec.*`` record on Kafka."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.records.account import VenuePosition
from schemas.records.arb import CloseReason
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.common import PositionSide
from schemas.records.execution import Fill
from schemas.records.execution import OrderEvent
from schemas.records.execution import PairStatus
from schemas.records.execution import PairUpdate
from schemas.records.execution import SubmitOrder
from schemas.samples import sample
from tests.paper_venues import REPO
from tests.paper_venues import Run
from tests.paper_venues import executor_run
from tests.paper_venues import paper_venues
from tests.paper_venues import read_topic


@pytest.fixture
def run(
    postgres_conninfo: str, kafka_bootstrap: str, schema_registry_url: str, tmp_path: Path
) -> Iterator[Run]:
    with executor_run(
        "exflow", postgres_conninfo, kafka_bootstrap, schema_registry_url, tmp_path
    ) as run:
        yield run


def _closed(opportunity_id: str) -> Opportunity:
    return sample(Opportunity).model_copy(
        update={
            "opportunity_id": opportunity_id,
            "lifecycle": Lifecycle.CLOSED,
            "close_reason": CloseReason.SPREAD_CONVERGED,
        }
    )


def _control(prefix: str, action: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fundingflow", "control", action, "--reason", "test",
         "--topic-prefix", prefix, "--json"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_closed_opportunity_closes_both_legs_once(run: Run) -> None:
    signals = run.decide(2)
    assert run.execute() == 0
    assert set(run.pairs().values()) == {"HEDGED"}
    assert run.venues.net_positions() != {}
    run.producer.send(("arb.opportunity", _closed(f"opp-{s}")) for s in signals)
    assert run.execute() == 0, run.log.read_text()[-3000:]
    assert run.pairs() == dict.fromkeys(signals, "CLOSED")
    assert run.venues.net_positions() == {}
    assert run.ledger_net() == {}
    assert max(run.venues.client_id_counts().values()) == 1
    assert len(run.venues.order_log()) == 8  # 2 pairs x (2 entries + 2 closes)


def test_every_change_is_published_once_to_exec_topics(run: Run) -> None:
    signals = run.decide(3)
    assert run.execute() == 0
    read = {
        t: read_topic(run.bootstrap, run.registry, f"{run.prefix}{t}")
        for t in ("exec.command", "exec.order_event", "exec.fill", "exec.pair")
    }
    assert {type(r) for r in read["exec.command"]} == {SubmitOrder}
    assert len({r.client_order_id for r in read["exec.command"]}) == 6
    assert all(isinstance(r, OrderEvent) for r in read["exec.order_event"])
    fills = read["exec.fill"]
    assert all(isinstance(f, Fill) for f in fills)
    assert len(fills) == 6  # each market order filled in one go
    assert all(f.fee.amount > 0 and f.fee.currency == "USDT" for f in fills)
    pairs = [p for p in read["exec.pair"] if isinstance(p, PairUpdate)]
    last = {p.signal_id: p for p in sorted(pairs, key=lambda p: p.seq)}
    assert set(last) == set(signals)
    assert {p.status for p in last.values()} == {PairStatus.HEDGED}
    ids = [p.envelope.event_id for p in pairs]
    assert len(ids) == len(set(ids))


def test_the_kill_switch_stops_new_entries_until_resumed(run: Run) -> None:
    _control(run.prefix, "kill")
    assert run.execute() == 0  # applies the command
    halted = run.decide(3)
    assert run.execute() == 0
    assert run.pairs() == dict.fromkeys(halted, "REJECTED")
    assert run.venues.order_log() == []
    _control(run.prefix, "resume")
    assert run.execute() == 0
    resumed = run.decide(2)
    assert run.execute() == 0
    pairs = run.pairs()
    assert {pairs[s] for s in resumed} == {"HEDGED"}
    assert {pairs[s] for s in halted} == {"REJECTED"}  # not traded later either


def _statements(run: Run) -> list[VenuePosition]:
    read = read_topic(run.bootstrap, run.registry, f"{run.prefix}account.position")
    assert all(isinstance(r, VenuePosition) for r in read)
    return read


def test_a_restarted_paper_world_states_the_previous_sessions_positions_flat(run: Run) -> None:
    """The paper venues restart flat (a new world: another session); the executor's start
    states every instrument the earlier session still holds as flat, which is what lets risk
    approve again (tests/unit/processors/test_risk_statements.py); within one session the
    statement is the session's own position."""
    run.decide(2)
    assert run.execute() == 0, run.log.read_text()[-3000:]
    held = run.ledger_net()
    assert held
    assert set(run.pairs().values()) == {"HEDGED"}
    assert run.execute() == 0  # the same world again: its own positions, as the venue has them
    same = _statements(run)
    assert {(s.instrument.exchange, s.instrument.symbol) for s in same} == set(held)
    signed = {
        (s.instrument.exchange, s.instrument.symbol): s.size_base
        * (1 if s.side is PositionSide.LONG else -1)
        for s in same
    }
    assert signed == held
    assert all(s.mark_price is not None and s.mark_price > 0 for s in same)
    run.venues.stop()
    with paper_venues(seed=8) as fresh:
        run.venues = fresh
        assert run.execute() == 0, run.log.read_text()[-3000:]
        assert fresh.order_log() == []  # nothing of the old session is traded in the new
    after = _statements(run)[len(same) :]
    assert {(s.instrument.exchange, s.instrument.symbol) for s in after} == set(held)
    assert {s.side for s in after} == {PositionSide.FLAT}
    assert {s.size_base for s in after} == {0}
