"""The real schema registry (Apicurio ccompat/v7) agrees with the offline checker."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from schemas.avsc import schema_set
from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.errors import IncompatibleSchema
from schemas.registry import ConfluentRegistry
from schemas.registry import check_all
from schemas.registry import register_all
from schemas.samples import sample
from schemas.subjects import COMPATIBILITY
from schemas.topics import EXEC_COMMAND
from schemas.topics import MD_FUNDING
from schemas.topics import SUBJECTS
from schemas.topics import by_name
from schemas.topics import key_for

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(schema_registry_url: str) -> ConfluentRegistry:
    return ConfluentRegistry(schema_registry_url)


def fresh_subject(registry: ConfluentRegistry, schema: Any) -> str:
    subject = f"test-{uuid.uuid4().hex[:12]}-value"
    registry.set_compatibility(subject, COMPATIBILITY)
    registry.register(subject, json.dumps(schema))
    return subject


def funding() -> dict[str, Any]:
    return copy.deepcopy(schema_set().expand("fundingflow.md.FundingRateUpdate"))


def market_type(schema: dict[str, Any]) -> dict[str, Any]:
    instrument = next(f for f in schema["fields"] if f["name"] == "instrument")["type"]
    field: dict[str, Any] = next(f for f in instrument["fields"] if f["name"] == "market_type")
    enum: dict[str, Any] = field["type"]
    return enum


def test_register_all_is_idempotent_and_check_all_is_clean(registry: ConfluentRegistry) -> None:
    ids = register_all(registry)
    assert set(ids) == {spec.subject for spec in SUBJECTS}
    assert register_all(registry) == ids
    assert check_all(registry) == []
    assert registry.client.get_compatibility(by_name(MD_FUNDING).subject) == COMPATIBILITY


def test_registry_refuses_removing_a_field_without_default(registry: ConfluentRegistry) -> None:
    old = funding()
    subject = fresh_subject(registry, old)
    twin = {**old, "fields": [f for f in old["fields"] if f["name"] != "mark_price"]}
    assert not registry.is_compatible(subject, json.dumps(twin))
    with pytest.raises(IncompatibleSchema):
        registry.register(subject, json.dumps(twin))


def test_registry_refuses_adding_a_symbol_to_an_enum_without_default(
    registry: ConfluentRegistry,
) -> None:
    old = funding()
    del market_type(old)["default"]
    subject = fresh_subject(registry, old)
    twin = copy.deepcopy(old)
    market_type(twin)["symbols"].append("MOVE_CONTRACT")
    assert not registry.is_compatible(subject, json.dumps(twin))
    with pytest.raises(IncompatibleSchema):
        registry.register(subject, json.dumps(twin))


def test_registry_accepts_a_compatible_change(registry: ConfluentRegistry) -> None:
    old = funding()
    subject = fresh_subject(registry, old)
    added = {"name": "open_interest_base", "type": ["null", "long"], "default": None}
    assert registry.is_compatible(subject, json.dumps({**old, "fields": [*old["fields"], added]}))


def test_codec_round_trips_through_the_real_registry(
    registry: ConfluentRegistry, schema_registry_url: str
) -> None:
    writer, reader = Codec(registry), Codec(ConfluentRegistry(schema_registry_url))
    for topic in (MD_FUNDING, EXEC_COMMAND):
        for record_type in by_name(topic).value_records:
            record = sample(record_type)
            assert reader.decode_for_topic(writer.encode(record, topic), topic) == record
    with pytest.raises(DecodeError) as caught:
        reader.decode(b"\x00\x7f\xff\xff\xf0" + b"\x00" * 8)
    assert caught.value.reason == "UNKNOWN_SCHEMA_ID"


def test_codec_bytes_travel_through_kafka(
    registry: ConfluentRegistry, kafka_bootstrap: str
) -> None:
    from confluent_kafka import Consumer
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin import NewTopic

    topic = f"test-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    codec = Codec(registry)
    record = sample(by_name(MD_FUNDING).value_records[0])
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topic, codec.encode(record, MD_FUNDING), key=key_for(record))
    assert producer.flush(30) == 0
    consumer = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": topic, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None
        assert message.error() is None
        assert message.key() == key_for(record)
        value = message.value()
        assert value is not None
        assert Codec(registry).decode_for_topic(value, MD_FUNDING) == record
    finally:
        consumer.close()
