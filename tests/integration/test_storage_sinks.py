"""The sinks on the real broker, PostgreSQL and QuestDB: every event is one row, and consuming
the same events again (a replay, a new group) adds none.

Twins: without ON CONFLICT the re-consume is refused by the primary key (the sink stops); without
DEDUP UPSERT KEYS QuestDB doubles every row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
from confluent_kafka import Producer
from prometheus_client import REGISTRY

from connectors.storage.consumption import Backoff
from connectors.storage.consumption import SinkLoop
from connectors.storage.questdb_store import QuestdbStore
from connectors.storage.relational import BY_TOPIC
from connectors.storage.relational import TABLES
from connectors.storage.runner import SinkConfig
from connectors.storage.runner import postgres_sink
from connectors.storage.runner import questdb_sink
from connectors.storage.stores import Consumed
from connectors.storage.stores import StoreRejected
from connectors.storage.timeseries import SERIES_BY_TOPIC
from schemas.avro_record import AvroRecord
from schemas.records.arb import Opportunity
from schemas.records.arb import SpreadUpdate
from schemas.records.execution import CancelOrder
from schemas.records.execution import Fill
from schemas.records.execution import OrderEvent
from schemas.records.execution import SubmitOrder
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts
from schemas.records.md import Trade
from schemas.records.ops import ControlCommand
from schemas.records.ops import Incident
from schemas.records.portfolio import FundingPaid
from schemas.records.portfolio import PnlSnapshot
from schemas.records.portfolio import PositionChanged
from schemas.records.risk import RiskDecision
from tests.event_stores import EventProducer
from tests.event_stores import caught_up
from tests.event_stores import create_topics
from tests.event_stores import delete_topics
from tests.event_stores import events
from tests.event_stores import namespace
from tests.event_stores import no_gaps
from tests.event_stores import pg_count
from tests.event_stores import pg_positions
from tests.event_stores import questdb_counts
from tests.event_stores import questdb_drop
from tests.event_stores import questdb_query
from tests.event_stores import questdb_settled
from tests.event_stores import wait_until
from tests.ledger_db import ScratchSchema
from tests.ledger_db import scratch_schema
from tests.services import REPO
from tests.services import Endpoints

pytestmark = pytest.mark.integration

PG_EVENTS: dict[str, tuple[type[AvroRecord], ...]] = {
    "arb.opportunity": (Opportunity,),
    "risk.decision": (RiskDecision,),
    "ops.control": (ControlCommand,),
    "ops.incident": (Incident,),
    "md.instrument": (InstrumentFacts,),
    "exec.command": (SubmitOrder, CancelOrder),
    "exec.order_event": (OrderEvent,),
    "exec.fill": (Fill,),
    "portfolio.position": (PositionChanged,),
    "portfolio.funding": (FundingPaid,),
    "portfolio.pnl": (PnlSnapshot,),
}
QDB_EVENTS: dict[str, type[AvroRecord]] = {
    "md.book": BookSnapshot,
    "md.trade": Trade,
    "md.funding": FundingRateUpdate,
    "arb.spread": SpreadUpdate,
    "portfolio.pnl": PnlSnapshot,
}
PER_TYPE = 150
MD_F = "md.funding"


def drain(loop: SinkLoop, expected: int, timeout_s: float = 90.0) -> BaseException | None:
    """Run ``loop`` until it committed ``expected`` events (or failed); its failure, if any."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop.run()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    wait_until(lambda: bool(failure) or loop.committed_events >= expected, timeout_s)
    loop.stop()
    thread.join(30)
    return failure[0] if failure else None


@pytest.fixture
def ns(services: Endpoints) -> Iterator[str]:
    name = namespace()
    yield name
    delete_topics(services.kafka_bootstrap, f"{name}.", {*PG_EVENTS, *QDB_EVENTS})


def config(services: Endpoints, ns: str, group: str, topics: set[str]) -> SinkConfig:
    return SinkConfig(
        bootstrap=services.kafka_bootstrap,
        registry_url=services.registry_url,
        group_prefix=f"{ns}-{group}",
        topic_prefix=f"{ns}.",
        topics=frozenset(topics),
        batch_max=200,
        backoff=Backoff(initial_s=0.2, maximum_s=1.0),
    )


def test_event_tables_match_the_migration(postgres_conninfo: str) -> None:
    with scratch_schema(postgres_conninfo) as schema, schema.connect() as conn:
        for table in TABLES:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (schema.name, table.name),
            ).fetchall()
            *before, added = table.column_names  # migration 0010 added it after recorded_at
            assert [str(r[0]) for r in rows] == [*before, "recorded_at", added], table.name


def _pg_roundtrip(
    services: Endpoints, ns: str, schema: ScratchSchema, *, skip_duplicates: bool
) -> tuple[dict[str, int], dict[str, int], BaseException | None]:
    create_topics(services.kafka_bootstrap, f"{ns}.", PG_EVENTS)
    items = [
        (topic, record)
        for topic, types in PG_EVENTS.items()
        for record_type in types
        for record in events(record_type, PER_TYPE)
    ]
    EventProducer(services.kafka_bootstrap, services.registry_url, f"{ns}.").send(items)
    expected = {BY_TOPIC[t].name: PER_TYPE * len(types) for t, types in PG_EVENTS.items()}
    first = postgres_sink(
        config(services, ns, "first", set(PG_EVENTS)),
        services.postgres_conninfo,
        options=schema.options,
        skip_duplicates=skip_duplicates,
    )
    assert drain(first, len(items)) is None
    after_first = {name: pg_count(schema, name) for name in expected}
    again = postgres_sink(
        config(services, ns, "replay", set(PG_EVENTS)),
        services.postgres_conninfo,
        options=schema.options,
        skip_duplicates=skip_duplicates,
    )
    failure = drain(again, len(items))
    after_replay = {name: pg_count(schema, name) for name in expected}
    assert after_first == expected
    return after_replay, expected, failure


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_postgres_rows_equal_events_and_a_reconsume_adds_none(services: Endpoints, ns: str) -> None:
    fills = {"sink": "postgres", "table": "event_fills"}
    before = _sample("fundingflow_sink_rows_written_total", fills)
    with scratch_schema(services.postgres_conninfo) as schema:
        after_replay, expected, failure = _pg_roundtrip(services, ns, schema, skip_duplicates=True)
        assert failure is None
        assert after_replay == expected
        # both passes handed every fill to the store; the caught-up partitions have no lag
        written = _sample("fundingflow_sink_rows_written_total", fills) - before
        assert written == 2 * expected["event_fills"]
        lags = [
            sample.value
            for metric in REGISTRY.collect()
            if metric.name == "fundingflow_sink_lag_records"
            for sample in metric.samples
            if sample.labels["topic"].startswith(f"{ns}.")
        ]
        assert lags
        assert set(lags) == {0}
        for table in TABLES:
            assert no_gaps(pg_positions(schema, table.name)), table.name
        fill = events(Fill, 1)[0]
        assert isinstance(fill, Fill)
        with schema.connect() as conn:
            stored = conn.execute(
                "SELECT side, market_type, liquidity, payload->>'side', price FROM event_fills"
                " LIMIT 1"
            ).fetchone()
        wire = (fill.side.value, fill.instrument.market_type.value, fill.liquidity.value)
        assert stored == (*wire, fill.side.value, fill.price)


def test_twin_without_on_conflict_the_reconsume_is_refused(services: Endpoints, ns: str) -> None:
    with scratch_schema(services.postgres_conninfo) as schema:
        _, _, failure = _pg_roundtrip(services, ns, schema, skip_duplicates=False)
        assert isinstance(failure, StoreRejected)


def _qdb_roundtrip(services: Endpoints, ns: str, *, dedup: bool) -> dict[str, tuple[int, int]]:
    create_topics(services.kafka_bootstrap, f"{ns}.", QDB_EVENTS)
    items = [(t, r) for t, rt in QDB_EVENTS.items() for r in events(rt, PER_TYPE)]
    EventProducer(services.kafka_bootstrap, services.registry_url, f"{ns}.").send(items)
    q = services.settings.questdb
    prefix = f"{ns}_"
    tables = [f"{prefix}{SERIES_BY_TOPIC[t].name}" for t in QDB_EVENTS]
    try:
        for group in ("first", "replay"):
            loop = questdb_sink(
                config(services, ns, group, set(QDB_EVENTS)),
                q.host,
                q.http_port,
                table_prefix=prefix,
                dedup=dedup,
            )
            assert drain(loop, len(items)) is None
        assert wait_until(lambda: all(questdb_settled(q.http_url, t) for t in tables), 60)
        return {t: questdb_counts(q.http_url, t) for t in tables}
    finally:
        for t in tables:
            questdb_drop(q.http_url, t)


def test_questdb_rows_equal_events_and_a_reconsume_adds_none(services: Endpoints, ns: str) -> None:
    counts = _qdb_roundtrip(services, ns, dedup=True)
    assert set(counts.values()) == {(PER_TYPE, PER_TYPE)}


def test_twin_without_dedup_keys_questdb_doubles_rows(services: Endpoints, ns: str) -> None:
    counts = _qdb_roundtrip(services, ns, dedup=False)
    assert set(counts.values()) == {(2 * PER_TYPE, PER_TYPE)}


def readme_sql(marker: str) -> str:
    text = (REPO / "README.md").read_text()
    block = text.split(f"<!-- {marker} -->", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    return block.strip().rstrip(";")


def test_the_readme_funding_apr_query_gives_the_annualized_rate(services: Endpoints) -> None:
    q = services.settings.questdb
    prefix = f"{namespace()}_"
    store = QuestdbStore(q.host, q.http_port, table_prefix=prefix, tables=[SERIES_BY_TOPIC[MD_F]])
    rate = {"okx": Decimal("0.0001"), "bybit": Decimal("-0.00005")}
    batch = [
        Consumed(
            record.model_copy(
                update={
                    "funding_rate": rate[venue],
                    "funding_interval_ms": 8 * 3_600_000,
                    "instrument": record.instrument.model_copy(update={"exchange": venue}),  # type: ignore[attr-defined]
                }
            ),
            MD_F,
            0,
            i,
        )
        for i, record in enumerate(events(FundingRateUpdate, 40))
        for venue in (("okx", "bybit")[i % 2],)
    ]
    table = f"{prefix}md_funding"
    try:
        store.open()
        store.write(batch)
        store.close()
        assert wait_until(lambda: questdb_settled(q.http_url, table), 60)
        query = readme_sql("questdb-funding-apr").replace("FROM md_funding", f"FROM {table}")
        query = query.replace("dateadd('d', -7, now())", "'2026-01-01'")
        rows = questdb_query(q.http_url, query)
    finally:
        questdb_drop(q.http_url, table)
    apr = {str(r[1]): round(float(str(r[3])), 9) for r in rows}
    assert apr == {"okx": 10.95, "bybit": -5.475}  # 3 fundings a day x 365, in percent


def test_an_undecodable_message_is_counted_and_skipped(services: Endpoints, ns: str) -> None:
    topic = "ops.incident"
    create_topics(services.kafka_bootstrap, f"{ns}.", [topic])
    good = events(Incident, 10)
    producer = EventProducer(services.kafka_bootstrap, services.registry_url, f"{ns}.")
    producer.send((topic, r) for r in good[:5])
    raw = Producer({"bootstrap.servers": services.kafka_bootstrap})
    raw.produce(f"{ns}.{topic}", b"\x00\x00\x00\x00\x01garbage", b"component-1")
    assert raw.flush(30) == 0
    producer.send((topic, r) for r in good[5:])
    labels = {"sink": "postgres", "topic": topic}
    before = _sample("fundingflow_sink_undecodable_total", labels)
    with scratch_schema(services.postgres_conninfo) as schema:
        loop = postgres_sink(
            config(services, ns, "bad", {topic}), services.postgres_conninfo, options=schema.options
        )
        assert drain(loop, len(good)) is None
        assert pg_count(schema, "event_incidents") == len(good)
    assert _sample("fundingflow_sink_undecodable_total", labels) - before == 1


def test_rows_questdb_refuses_stop_the_sink_with_the_reason(services: Endpoints) -> None:
    q = services.settings.questdb
    prefix = f"{namespace()}_"
    table = f"{prefix}md_funding"
    store = QuestdbStore(q.host, q.http_port, table_prefix=prefix, tables=[SERIES_BY_TOPIC[MD_F]])
    try:
        # a table of that name whose funding_rate is no decimal: the server refuses the rows
        store.execute(
            f"CREATE TABLE {table} (ts TIMESTAMP, funding_rate LONG) TIMESTAMP(ts)"
            " PARTITION BY DAY WAL"
        )
        store.open()
        batch = [Consumed(r, MD_F, 0, i) for i, r in enumerate(events(FundingRateUpdate, 3))]
        with pytest.raises(StoreRejected, match="refused"):
            store.write(batch)
    finally:
        store.close()
        questdb_drop(q.http_url, table)


def test_two_sinks_in_one_group_store_every_event_once(services: Endpoints, ns: str) -> None:
    """A second sink joining mid-stream takes partitions over (a rebalance): still one row per
    event and no gap."""
    topic = "exec.fill"
    create_topics(services.kafka_bootstrap, f"{ns}.", [topic])
    fills = []
    for i, record in enumerate(events(Fill, 4000)):
        # distinct client order ids spread the fills over every partition
        fills.append((topic, record.model_copy(update={"client_order_id": f"order-{i % 30}"})))
    producer = EventProducer(services.kafka_bootstrap, services.registry_url, f"{ns}.")
    with scratch_schema(services.postgres_conninfo) as schema:
        loops = [
            postgres_sink(
                config(services, ns, "pair", {topic}),
                services.postgres_conninfo,
                options=schema.options,
            )
            for _ in range(2)
        ]
        threads = [threading.Thread(target=loop.run) for loop in loops]
        threads[0].start()
        sending = producer.send_paced(fills, chunk=40, pause_s=0.1)
        try:
            assert wait_until(lambda: pg_count(schema, "event_fills") > 0, 60)
            threads[1].start()
            sending.join()
            group, physical = loops[0].config.group_id, list(loops[0].config.topics)
            assert wait_until(lambda: caught_up(services.kafka_bootstrap, group, physical), 120)
        finally:
            sending.join()
            for loop in loops:
                loop.stop()
            for thread in threads:
                if thread.ident is not None:  # started
                    thread.join(60)
        rows = pg_positions(schema, "event_fills")
        assert loops[1].committed_events > 0
    assert len(rows) == len(fills)
    assert no_gaps(rows)
