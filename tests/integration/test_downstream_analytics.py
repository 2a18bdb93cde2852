"""Downstream analytics: the standalone opportunity consumer and the README's SQL, on the stack."""

from __future__ import annotations

import ast
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from benchmarks.isolation import create_prefixed_topics
from benchmarks.isolation import delete_topics
from connectors.storage.postgres_store import PostgresStore
from connectors.storage.questdb_store import QuestdbStore
from connectors.storage.stores import Consumed
from connectors.storage.timeseries import SERIES_BY_TOPIC
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.md import FundingRateUpdate
from schemas.records.portfolio import PnlSnapshot
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from schemas.records.risk import RiskReason
from schemas.records.risk import RiskReasonCode
from schemas.registry import ConfluentRegistry
from schemas.samples import sample
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import key_for
from tests.event_stores import T0_MS
from tests.event_stores import namespace
from tests.event_stores import questdb_drop
from tests.event_stores import questdb_query
from tests.event_stores import questdb_settled
from tests.event_stores import wait_until
from tests.ledger_db import scratch_schema
from tests.services import REPO
from tests.services import Endpoints

pytestmark = pytest.mark.integration

CONSUMER = REPO / "examples" / "opportunity_consumer.py"
PROJECT_PACKAGES = frozenset(
    {"schemas", "processors", "connectors", "streams", "executors", "fundingflow", "benchmarks"}
)
HOUR_MS = 3_600_000


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                modules.add("." * node.level + (node.module or ""))
            elif node.module:
                modules.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            modules.add("__import__")
    return modules


def test_the_example_consumer_imports_nothing_of_the_project() -> None:
    modules = _imported_modules(CONSUMER)
    ours = sorted(m for m in modules if m.split(".")[0] in PROJECT_PACKAGES or "tests" in m)
    relative = sorted(m for m in modules if m.startswith(".") or m == "__import__")
    assert ours == []
    assert relative == []
    assert "confluent_kafka.schema_registry.avro" in modules


def test_the_import_check_sees_a_project_import(tmp_path: Path) -> None:
    """The check itself can fail: a consumer importing the codec is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("import json\nfrom schemas.codec import Codec\nimport streams.bundle\n")
    assert {"schemas.codec", "streams.bundle"} <= _imported_modules(bad)


def _opportunity(oid: str, lifecycle: Lifecycle, t: int, edge: str) -> Opportunity:
    base = sample(Opportunity)
    envelope = base.envelope.model_copy(
        update={"event_id": str(uuid.uuid4()), "event_time_ms": t, "ingest_time_ms": t}
    )
    return base.model_copy(
        update={
            "envelope": envelope,
            "opportunity_id": oid,
            "lifecycle": lifecycle,
            "net_edge_bps": Decimal(edge),
            "close_reason": None if lifecycle is not Lifecycle.CLOSED else base.close_reason,
        }
    )


def test_the_example_consumer_prints_one_line_per_published_opportunity(
    services: Endpoints,
) -> None:
    ns = f"ana{uuid.uuid4().hex[:10]}"
    topic = f"{ns}.{ARB_OPPORTUNITY}"
    created = create_prefixed_topics(services.kafka_bootstrap, f"{ns}.", [ARB_OPPORTUNITY])
    ids = [f"opp-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    records = [
        _opportunity(ids[0], Lifecycle.OPENED, T0_MS, "12.5"),
        _opportunity(ids[1], Lifecycle.OPENED, T0_MS + 1, "3.25"),
        _opportunity(ids[0], Lifecycle.CLOSED, T0_MS + 2, "-1"),
    ]
    codec = Codec(ConfluentRegistry(services.registry_url))
    producer = Producer({"bootstrap.servers": services.kafka_bootstrap})
    for r in records:
        producer.produce(topic, codec.encode(r, ARB_OPPORTUNITY), key_for(r), partition=0)
    assert producer.flush(30) == 0
    try:
        run = subprocess.run(
            [
                sys.executable,
                str(CONSUMER),
                "--bootstrap",
                services.kafka_bootstrap,
                "--registry",
                services.registry_url,
                "--topic",
                topic,
                "--from-beginning",
                "--limit",
                "3",
                "--idle-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd="/",  # nothing of the project on the path but what it imports itself
        )
    finally:
        delete_topics(services.kafka_bootstrap, created)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3, run.stdout + run.stderr
    assert lines[0].startswith("2026-01-01T00:00:00.000Z OPENED")
    assert f"id {ids[0]}" in lines[0]
    assert "net 12.5 bps" in lines[0]
    assert f"id {ids[1]}" in lines[1]
    assert "net 3.25 bps" in lines[1]
    assert lines[2].split()[1] == "CLOSED"
    assert "closed:" in lines[2]
    leg = sample(Opportunity).legs[0].instrument
    assert f"{leg.exchange}:{leg.symbol}" in lines[0]


def readme_sql(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    block = text.split(f"<!-- {marker} -->", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    return block.strip().rstrip(";")


def test_the_readme_funding_apr_by_venue_query(services: Endpoints) -> None:
    q = services.settings.questdb
    prefix = f"{namespace()}_"
    series = SERIES_BY_TOPIC["md.funding"]
    store = QuestdbStore(q.host, q.http_port, table_prefix=prefix, tables=[series])
    base = sample(FundingRateUpdate)
    # Two venues, two hours; okx's rate doubles in the second hour, two symbols on bybit.
    rates = {
        ("okx", "BTC/USDT:USDT", 0): "0.0001",
        ("okx", "BTC/USDT:USDT", 1): "0.0002",
        ("bybit", "BTC/USDT:USDT", 0): "-0.00005",
        ("bybit", "ETH/USDT:USDT", 0): "0.00015",
        ("bybit", "BTC/USDT:USDT", 1): "0.0001",
    }
    batch = []
    for i, ((venue, symbol, hour), rate) in enumerate(rates.items()):
        t = T0_MS + hour * HOUR_MS + 60_000 * i
        record = base.model_copy(
            update={
                "envelope": base.envelope.model_copy(
                    update={"event_id": str(uuid.uuid4()), "event_time_ms": t}
                ),
                "funding_rate": Decimal(rate),
                "funding_interval_ms": 8 * HOUR_MS,
                "instrument": base.instrument.model_copy(
                    update={"exchange": venue, "symbol": symbol}
                ),
            }
        )
        batch.append(Consumed(record, "md.funding", 0, i))
    table = f"{prefix}md_funding"
    try:
        store.open()
        store.write(batch)
        store.close()
        assert wait_until(lambda: questdb_settled(q.http_url, table), 60)
        query = readme_sql("analytics-funding-apr-by-venue")
        query = query.replace("FROM md_funding", f"FROM {table}")
        query = query.replace("dateadd('d', -7, now())", "'2026-01-01'")
        rows = questdb_query(q.http_url, query)
    finally:
        questdb_drop(q.http_url, table)
    got = [(str(r[0])[:13], str(r[1]), round(float(str(r[2])), 6), r[3]) for r in rows]
    assert got == [
        ("2026-01-01T00", "bybit", round((-0.00005 + 0.00015) / 2 * 3 * 365 * 100, 6), 2),
        ("2026-01-01T00", "okx", 10.95, 1),
        ("2026-01-01T01", "bybit", 10.95, 1),
        ("2026-01-01T01", "okx", 21.9, 1),
    ]


def _with(record: AvroRecord, t: int, **update: Any) -> AvroRecord:
    envelope = record.envelope.model_copy(  # type: ignore[attr-defined]
        update={"event_id": str(uuid.uuid4()), "event_time_ms": t}
    )
    return record.model_copy(update={"envelope": envelope, **update})


def _ledger_rows() -> tuple[list[Consumed], dict[str, str]]:
    a, b, c = (f"opp-{name}-{uuid.uuid4().hex[:6]}" for name in "abc")
    decision = sample(RiskDecision)
    rejected_reasons = (
        RiskReason(code=RiskReasonCode.KILL_SWITCH_ENGAGED, detail="kill switch"),
        RiskReason(code=RiskReasonCode.EDGE_BELOW_MINIMUM, detail="edge 0"),
    )
    pnl = sample(PnlSnapshot)
    items: list[tuple[str, AvroRecord]] = [
        ("arb.opportunity", _opportunity(a, Lifecycle.OPENED, T0_MS, "10")),
        ("arb.opportunity", _opportunity(a, Lifecycle.UPDATED, T0_MS + 5, "14")),
        ("arb.opportunity", _opportunity(a, Lifecycle.CLOSED, T0_MS + 9, "2")),
        ("arb.opportunity", _opportunity(b, Lifecycle.OPENED, T0_MS + 1, "7")),
        ("arb.opportunity", _opportunity(c, Lifecycle.OPENED, T0_MS + 2, "1")),
        (
            "risk.decision",
            _with(decision, T0_MS, opportunity_id=a, outcome=RiskOutcome.APPROVED, reasons=()),
        ),
        (
            "risk.decision",
            _with(
                decision,
                T0_MS + 1,
                opportunity_id=b,
                outcome=RiskOutcome.REJECTED,
                reasons=rejected_reasons,
            ),
        ),
        ("portfolio.pnl", _with(pnl, T0_MS + 3, scope=a, total_pnl_quote=Decimal("1.5"))),
        ("portfolio.pnl", _with(pnl, T0_MS + 8, scope=a, total_pnl_quote=Decimal("4.25"))),
        ("portfolio.pnl", _with(pnl, T0_MS + 8, scope="portfolio", total_pnl_quote=Decimal(9))),
    ]
    batch = [Consumed(r, t, 0, i) for i, (t, r) in enumerate(items)]
    return batch, {"a": a, "b": b, "c": c}


def test_the_readme_postgres_queries_by_opportunity(services: Endpoints) -> None:
    batch, ids = _ledger_rows()
    with scratch_schema(services.postgres_conninfo) as schema:
        store = PostgresStore(services.postgres_conninfo, options=schema.options)
        store.open()
        store.write(batch)
        store.close()
        with schema.connect() as conn:
            decisions = conn.execute(readme_sql("analytics-decisions-by-opportunity")).fetchall()
            pnl = conn.execute(readme_sql("analytics-pnl-by-opportunity")).fetchall()
    by_id = {row[0]: row for row in decisions}
    a, b, c = by_id[ids["a"]], by_id[ids["b"]], by_id[ids["c"]]
    assert [row[0] for row in decisions] == [ids["a"], ids["b"], ids["c"]]  # by first seen
    assert (a[3], a[4], a[5], a[6], a[7]) == (T0_MS, 3, Decimal(14), True, "APPROVED")
    assert a[9] is None
    assert (b[6], b[7], b[9]) == (False, "REJECTED", "EDGE_BELOW_MINIMUM,KILL_SWITCH_ENGAGED")
    assert (c[7], c[9]) == (None, None)
    assert [(row[0], row[1], row[3]) for row in pnl] == [(ids["a"], "APPROVED", Decimal("4.25"))]
