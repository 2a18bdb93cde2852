"""`fundingflow topics tail` and `schemas check` against the real broker and registry."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from confluent_kafka import Producer

from fundingflow.cli import main
from schemas.codec import Codec
from schemas.records.ops import Incident
from schemas.registry import ConfluentRegistry
from schemas.samples import sample
from schemas.topics import OPS_INCIDENT
from schemas.topics import key_for
from tests.event_stores import create_topics
from tests.event_stores import delete_topics

pytestmark = pytest.mark.integration


def test_tail_shows_records_and_undecodable_bytes_with_their_error(
    kafka_bootstrap: str, schema_registry_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = uuid.uuid4().hex
    namespace = f"tail-{marker[:8]}"  # a scratch copy: no garbage in the live ops.incident
    topic = f"{namespace}.{OPS_INCIDENT}"
    create_topics(kafka_bootstrap, f"{namespace}.", [OPS_INCIDENT])
    try:
        _tail_a_record_and_garbage(kafka_bootstrap, schema_registry_url, capsys, marker, topic)
    finally:
        delete_topics(kafka_bootstrap, f"{namespace}.", [OPS_INCIDENT])


def _tail_a_record_and_garbage(
    kafka_bootstrap: str,
    schema_registry_url: str,
    capsys: pytest.CaptureFixture[str],
    marker: str,
    topic: str,
) -> None:
    base = sample(Incident)
    incident = base.model_copy(
        update={"envelope": base.envelope.model_copy(update={"event_id": marker})}
    )
    codec = Codec(ConfluentRegistry(schema_registry_url))
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=key_for(incident), value=codec.encode(incident, OPS_INCIDENT))
    producer.produce(topic, key=b"garbage", value=b"\x07not-avro-" + marker.encode())
    assert producer.flush(30) == 0

    namespace = topic.removesuffix(f".{OPS_INCIDENT}")
    argv = ["topics", "tail", OPS_INCIDENT, "--namespace", namespace]
    argv += ["--from-beginning", "--idle-timeout", "3", "--json"]
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    decoded = [line for line in lines if marker in json.dumps(line.get("record"))]
    broken = [
        line
        for line in lines
        if "error" in line and marker.encode() in base64.b64decode(line["raw"])
    ]
    assert len(decoded) == 1
    assert decoded[0]["record"]["envelope"]["event_id"] == marker
    assert len(broken) == 1
    assert broken[0]["error"] == "BAD_MAGIC_BYTE"


def test_tail_refuses_a_topic_outside_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "tail", "no.such.topic", "--limit", "1"]) == 2
    assert "not a catalogue topic" in capsys.readouterr().err


def test_tail_refuses_a_bad_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "tail", OPS_INCIDENT, "--namespace", "md.x", "--limit", "1"]) == 2
    assert "--namespace" in capsys.readouterr().err


def test_schemas_check_passes_against_history_and_registry(
    services: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schemas", "register", "--json"]) == 0
    assert main(["schemas", "check"]) == 0
    assert "all schemas compatible" in capsys.readouterr().err
