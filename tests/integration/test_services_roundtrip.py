"""Each real service does its job: Avro through broker + registry, ledger tables, ILP."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid

import psycopg
import pytest
from confluent_kafka import Consumer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField
from confluent_kafka.serialization import SerializationContext

pytestmark = pytest.mark.integration

PROBE_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "StackProbe",
        "namespace": "fundingflow.test",
        "fields": [
            {"name": "probe_id", "type": "string"},
            {"name": "value", "type": "long"},
        ],
    }
)


def test_avro_record_through_real_registry_and_broker(
    kafka_bootstrap: str, schema_registry_url: str
) -> None:
    topic = f"test.stack-probe.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    registry = SchemaRegistryClient({"url": schema_registry_url})
    try:
        serializer = AvroSerializer(registry, PROBE_SCHEMA)
        record = {"probe_id": uuid.uuid4().hex, "value": 42}
        ctx = SerializationContext(topic, MessageField.VALUE)
        payload = serializer(record, ctx)
        assert payload is not None
        assert payload[0] == 0, "Confluent wire format starts with magic byte 0"
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
        producer.produce(topic, key=b"probe", value=payload)
        assert producer.flush(30) == 0
        consumer = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": f"probe-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([topic])
        try:
            deadline = time.monotonic() + 30
            message = None
            while message is None and time.monotonic() < deadline:
                message = consumer.poll(1.0)
            assert message is not None
            assert message.error() is None
            decoded = AvroDeserializer(registry)(message.value(), ctx)
        finally:
            consumer.close()
        assert decoded == record
        assert f"{topic}-value" in registry.get_subjects()
    finally:
        admin.delete_topics([topic])
        registry.delete_subject(f"{topic}-value", permanent=False)


def test_ledger_migrations_are_applied(postgres_conninfo: str) -> None:
    with psycopg.connect(postgres_conninfo) as conn:
        applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
        }
    assert "0001_ledger" in applied
    assert {"orders", "fills", "positions", "risk_decisions", "dead_letters"} <= tables


def test_questdb_ingests_over_ilp_http_and_answers_queries(questdb_http_url: str) -> None:
    from questdb import Sender
    from questdb import TimestampNanos

    table = f"probe_{uuid.uuid4().hex[:8]}"
    host_port = questdb_http_url.removeprefix("http://")
    with Sender.from_conf(f"http::addr={host_port};") as sender:
        sender.row(
            table,
            symbols={"exchange": "sim-okx"},
            columns={"rate": 0.0001},
            at=TimestampNanos.now(),
        )
        sender.flush()
    query = urllib.parse.quote(f"select count() from {table}")
    deadline = time.monotonic() + 30
    count = 0
    while time.monotonic() < deadline and count == 0:
        try:
            with urllib.request.urlopen(f"{questdb_http_url}/exec?query={query}") as resp:
                count = int(json.loads(resp.read())["dataset"][0][0])
        except (OSError, KeyError, ValueError):
            count = 0
        if count == 0:
            time.sleep(0.5)
    assert count == 1
