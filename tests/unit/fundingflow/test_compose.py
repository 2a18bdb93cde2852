"""docker-compose.yml and the local stack agree on services, ports, versions and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fundingflow.settings import load_settings
from fundingflow.stack.services import SERVICES
from fundingflow.stack.services import kafka_cluster_policy
from fundingflow.stack.services import questdb_config
from fundingflow.stack.services import registry_environment

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def _published(service: dict[str, Any]) -> set[int]:
    ports = set()
    for entry in service.get("ports", []):
        host, host_port, _container = str(entry).split(":")
        assert host == "127.0.0.1", f"{entry} must bind to loopback only"
        ports.add(int(host_port))
    return ports


def test_every_local_service_is_in_compose_with_the_same_ports(compose: dict[str, Any]) -> None:
    settings = load_settings()
    for service in SERVICES:
        assert service.name in compose["services"], service.name
        published = _published(compose["services"][service.name])
        assert set(service.ports(settings).values()) == published, service.name


def test_compose_has_the_operator_and_application_services(compose: dict[str, Any]) -> None:
    expected = {"kafka-ui", "prometheus", "grafana", "connectors", "worker", "sinks", "api"}
    expected |= {"executor"}
    assert expected <= set(compose["services"])


def test_images_match_the_local_versions(compose: dict[str, Any]) -> None:
    stack = load_settings().stack
    images = {name: svc.get("image", "") for name, svc in compose["services"].items()}
    assert images["kafka"] == f"apache/kafka:{stack.kafka_version}"
    assert images["registry"] == f"apicurio/apicurio-registry:{stack.apicurio_version}"
    assert images["questdb"] == f"questdb/questdb:{stack.questdb_version}"
    assert images["postgres"].startswith("postgres:")


def test_kafka_policy_is_identical(compose: dict[str, Any]) -> None:
    env = compose["services"]["kafka"]["environment"]
    for key, value in kafka_cluster_policy(load_settings()).items():
        compose_key = "KAFKA_" + key.upper().replace(".", "_")
        assert str(env.get(compose_key)) == value, key


def test_registry_storage_and_port_are_identical(compose: dict[str, Any]) -> None:
    env = compose["services"]["registry"]["environment"]
    local = registry_environment(load_settings())
    host_specific = {"QUARKUS_HTTP_HOST", "APICURIO_DATASOURCE_URL", "APICURIO_DATASOURCE_PASSWORD"}
    for key, value in local.items():
        if key not in host_specific:
            assert str(env.get(key)) == value, key
    assert env["APICURIO_DATASOURCE_URL"].endswith("/" + load_settings().postgres.registry_database)


def test_questdb_configuration_is_identical(compose: dict[str, Any]) -> None:
    env = compose["services"]["questdb"]["environment"]
    for key, value in questdb_config(load_settings()).items():
        compose_key = "QDB_" + key.upper().replace(".", "_")
        assert compose_key in env, compose_key
        assert str(env[compose_key]).split(":")[-1] == value.split(":")[-1], key


def test_kafka_ui_decodes_avro_through_the_registry(compose: dict[str, Any]) -> None:
    env = compose["services"]["kafka-ui"]["environment"]
    assert env["KAFKA_CLUSTERS_0_SCHEMAREGISTRY"].endswith(load_settings().registry.ccompat_path)
    assert env["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == "kafka:29092"
