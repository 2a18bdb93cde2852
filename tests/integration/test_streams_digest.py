"""The worker's state digest equals the offline replay of its input at the same cut.

The straight run, a rerun of the worker on the same stack (same app id, same topics: it
resumes from its changelogs and committed offsets) and a sequencer packing small batches must
all leave the state the replay computes from the sequenced log; the SIGKILL case is in
``test_streams.py``.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from benchmarks import synthetic as syn
from benchmarks.harness import Pipeline
from schemas.avro_record import AvroRecord
from schemas.records.account import VenuePosition
from schemas.records.common import Envelope
from schemas.records.common import Money
from schemas.records.common import PositionSide
from schemas.records.execution import Fill
from schemas.records.execution import LiquidityRole
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from streams.digest import digest_at_cut
from streams.digest import form_at_cut


def _assert_live_equals_replay(
    p: Pipeline, kafka_bootstrap: str, registry_url: str, published: int
) -> str:
    live = p.settled_after(published)
    replayed = digest_at_cut(kafka_bootstrap, registry_url, live["cut"], p.settings)
    if live["digest"] != replayed:
        want = form_at_cut(kafka_bootstrap, registry_url, live["cut"], p.settings)
        pytest.fail(f"state differs from the replay: {_first_difference(live['form'], want)}")
    return str(live["digest"])


def _first_difference(live: Any, replayed: Any, path: str = "") -> str:
    if isinstance(live, dict) and isinstance(replayed, dict):
        for key in sorted(set(live) | set(replayed)):
            found = _first_difference(live.get(key), replayed.get(key), f"{path}/{key}")
            if found:
                return found
        return ""
    return "" if live == replayed else f"{path}: live {live!s:.300} replay {replayed!s:.300}"


@pytest.mark.parametrize("batch_max", [1_000, 7], ids=["default-batches", "batches-of-7"])
def test_digest_equals_replay_after_a_straight_run_and_a_rerun_on_the_same_stack(
    kafka_bootstrap: str, schema_registry_url: str, batch_max: int
) -> None:
    first = syn.random_walk(1_500, step_ms=50)
    second = syn.random_walk(
        1_500, step_ms=50, seed=11, start_ms=first[-1][1].envelope.event_time_ms + 50
    )
    with Pipeline(
        kafka_bootstrap,
        schema_registry_url,
        digest_interval_s=0.3,
        digest_detail=True,
        sequencer_batch_max=batch_max,
    ) as p:
        p.start()
        p.publish(first)
        straight = _assert_live_equals_replay(p, kafka_bootstrap, schema_registry_url, len(first))
        p.stop()  # graceful: the rerun resumes from the changelogs and committed offsets
        p.start()
        p.publish(second)
        rerun = _assert_live_equals_replay(
            p, kafka_bootstrap, schema_registry_url, len(first) + len(second)
        )
        assert rerun != straight, "the second run's events changed nothing"
        assert p.worker is not None
        assert p.worker.poll() is None


def _fills_of(decision: RiskDecision) -> list[tuple[str, AvroRecord]]:
    """The executor's fills of both legs of an approved decision, as exec.fill records."""
    out: list[tuple[str, AvroRecord]] = []
    for i, leg in enumerate(decision.legs):
        fid = f"fill-{decision.decision_id}-{i}"
        env = Envelope(
            event_id=fid,
            event_time_ms=decision.envelope.event_time_ms,
            ingest_time_ms=decision.envelope.event_time_ms,
            correlation_id=decision.decision_id,
        )
        fill = Fill(
            envelope=env,
            fill_id=fid,
            client_order_id=f"cid-{decision.decision_id}-{i}",
            instrument=leg.instrument,
            side=leg.side,
            price=leg.entry_price,
            size_base=decision.approved_size_base,
            fee=Money(amount=Decimal(0), currency="USDT"),
            liquidity=LiquidityRole.TAKER,
        )
        out += [("exec.fill", fill), ("exec.fill", fill)]  # delivered twice: applied once
    return out


def _flat_statements(decisions: list[RiskDecision]) -> list[VenuePosition]:
    legs = {
        leg.instrument.symbol + leg.instrument.exchange: leg for d in decisions for leg in d.legs
    }
    return [
        VenuePosition(
            envelope=Envelope(event_id=f"statement-{key}", event_time_ms=2, ingest_time_ms=2),
            instrument=leg.instrument,
            side=PositionSide.FLAT,
            size_base=Decimal(0),
            contract_size_base=Decimal(1),
        )
        for key, leg in sorted(legs.items())
    ]


def test_the_executors_fills_and_statements_are_positions_in_the_risk_state_and_replay_alike(
    kafka_bootstrap: str, schema_registry_url: str
) -> None:
    walk = syn.random_walk(1_500, step_ms=50)
    with Pipeline(
        kafka_bootstrap, schema_registry_url, digest_interval_s=0.3, digest_detail=True
    ) as p:
        p.start()
        p.publish(walk)
        seen = p.collect(["risk.decision"], lambda s: len(s) > 0, timeout_s=30)
        approved = [
            d for _, d in seen if isinstance(d, RiskDecision) and d.outcome is RiskOutcome.APPROVED
        ]
        assert approved, p.log_tail()
        fills = [f for d in approved for f in _fills_of(d)]
        p.publish(fills)
        deadline = time.monotonic() + 30
        while True:
            live = p.settled_digest()
            positions = live["form"]["risk"]["positions"]
            if positions or time.monotonic() > deadline:
                break
        assert positions, p.log_tail()
        assert len(live["form"]["risk"]["fills"]) == len(fills) // 2  # each applied once
        replayed = digest_at_cut(kafka_bootstrap, schema_registry_url, live["cut"], p.settings)
        assert live["digest"] == replayed
        # a restarted paper world: the executor states every held instrument flat
        p.publish([("account.position", s) for s in _flat_statements(approved)])
        deadline = time.monotonic() + 30
        while True:
            live = p.settled_digest()
            positions = live["form"]["risk"]["positions"]
            if not positions or time.monotonic() > deadline:
                break
        assert not positions, p.log_tail()
        replayed = digest_at_cut(kafka_bootstrap, schema_registry_url, live["cut"], p.settings)
        assert live["digest"] == replayed
