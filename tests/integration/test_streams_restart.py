"""Restart safety of the worker on the real broker: a fresh stack's first run decides every
opportunity; an opportunity opened while the worker is down is decided when it comes back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.harness import Pipeline
from schemas.avro_record import AvroRecord
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.risk import RiskDecision
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import RISK_DECISION
from tests.integration.test_streams import divergence

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

T0 = 1_767_225_600_000
ASSETS = ("AAA", "BBB", "CCC", "DDD", "EEE")


def _publish_divergences(p: Pipeline, first: int = 0) -> None:
    """One PERP_PERP carry per asset of ``ASSETS[first:]``, a second apart."""
    for i, asset in enumerate(ASSETS[first:], start=first):
        p.publish(divergence(asset, T0 + i * 1000))


def _opened_and_decided(
    p: Pipeline, n: int, timeout_s: float = 45.0
) -> tuple[set[str], list[RiskDecision]]:
    def done(seen: list[tuple[str, AvroRecord]]) -> bool:
        opened = {r.opportunity_id for _, r in seen if isinstance(r, Opportunity) and _is_opened(r)}
        decided = {r.opportunity_id for _, r in seen if isinstance(r, RiskDecision)}
        return len(opened) >= n and opened <= decided

    seen = p.collect([ARB_OPPORTUNITY, RISK_DECISION], done, timeout_s=timeout_s)
    opened = {r.opportunity_id for _, r in seen if isinstance(r, Opportunity) and _is_opened(r)}
    return opened, [r for _, r in seen if isinstance(r, RiskDecision)]


def _is_opened(record: AvroRecord) -> bool:
    return isinstance(record, Opportunity) and record.lifecycle is Lifecycle.OPENED


@pytest.fixture
def fresh(kafka_bootstrap: str, schema_registry_url: str) -> Iterator[Pipeline]:
    """A pipeline whose internal topics do not exist yet (a fresh stack's first run)."""
    with Pipeline(kafka_bootstrap, schema_registry_url, market={"min_eval_interval_ms": 0}) as p:
        yield p


def _assert_one_decision_each(p: Pipeline, opened: set[str], decisions: list[RiskDecision]) -> None:
    per_opportunity = {o: [d for d in decisions if d.opportunity_id == o] for o in opened}
    missing = sorted(o for o, ds in per_opportunity.items() if not ds)
    assert not missing, f"{len(missing)} of {len(opened)} undecided; log:\n{p.log_tail()}"
    assert all(len({d.decision_id for d in ds}) == 1 for ds in per_opportunity.values())


def test_first_run_on_a_fresh_stack_decides_every_opened_opportunity(fresh: Pipeline) -> None:
    p = fresh
    _publish_divergences(p)
    p.start()
    opened, decisions = _opened_and_decided(p, len(ASSETS))
    assert len(opened) == len(ASSETS), p.log_tail()
    _assert_one_decision_each(p, opened, decisions)


def test_opportunities_opened_while_the_worker_was_down_are_decided_on_restart(
    fresh: Pipeline,
) -> None:
    p = fresh
    p.start()
    p.publish(divergence(ASSETS[0], T0))
    opened, decisions = _opened_and_decided(p, 1)
    _assert_one_decision_each(p, opened, decisions)
    p.crash()
    _publish_divergences(p, first=1)
    p.start()
    opened, decisions = _opened_and_decided(p, len(ASSETS))
    assert len(opened) == len(ASSETS), p.log_tail()
    _assert_one_decision_each(p, opened, decisions)


def test_internal_topics_exist_before_the_agents_subscribe(
    kafka_bootstrap: str, schema_registry_url: str
) -> None:
    from confluent_kafka.admin import AdminClient

    from streams.internal_topics import ensure_internal_topics
    from streams.internal_topics import internal_topics

    with Pipeline(kafka_bootstrap, schema_registry_url) as p:
        created = ensure_internal_topics(p.settings)
        wanted = {t.name: t.partitions for t in internal_topics(p.settings)}
        assert sorted(created) == sorted(wanted)
        listed = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
        assert {n: len(listed.topics[n].partitions) for n in wanted} == wanted
        assert ensure_internal_topics(p.settings) == []  # idempotent


def test_twin_without_internal_topic_creation_the_first_run_decides_nothing(
    kafka_bootstrap: str, schema_registry_url: str
) -> None:
    """The guard's twin: no pre-created internal topics, so the agents never consume."""
    with Pipeline(
        kafka_bootstrap,
        schema_registry_url,
        market={"min_eval_interval_ms": 0},
        create_internal_topics=False,
    ) as p:
        p.publish(divergence(ASSETS[0], T0))
        p.start()
        opened, decisions = _opened_and_decided(p, 1, timeout_s=15)
        assert not opened
        assert not decisions
