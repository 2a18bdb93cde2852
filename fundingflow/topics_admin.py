"""Create and inspect the catalogue's topics on the broker (idempotent)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import ConfigResource
from confluent_kafka.admin import NewTopic
from confluent_kafka.admin import ResourceType

from schemas.errors import StackError

TIMEOUT_S = 15.0


class TopicLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def partitions(self) -> int: ...
    @property
    def cleanup_policy(self) -> str: ...
    @property
    def retention_ms(self) -> int: ...
    @property
    def config(self) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class TopicState:
    """A topic as the broker reports it."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


def desired_config(spec: TopicLike, min_insync_replicas: int) -> dict[str, str]:
    config = {
        "cleanup.policy": spec.cleanup_policy,
        "retention.ms": str(spec.retention_ms),
        "min.insync.replicas": str(min_insync_replicas),
    }
    config.update(spec.config)
    return config


def admin_client(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})


def _broker_topics(admin: AdminClient) -> dict[str, int]:
    try:
        meta = admin.list_topics(timeout=TIMEOUT_S)
    except KafkaException as exc:
        raise StackError(f"cannot reach Kafka: {exc}; is the stack up?") from exc
    return {name: len(t.partitions) for name, t in meta.topics.items()}


def create_all(
    bootstrap: str, specs: Iterable[TopicLike], replication_factor: int, min_insync_replicas: int
) -> list[tuple[str, str]]:
    """Create missing topics, align configs and grow partitions; returns (topic, action)."""
    admin = admin_client(bootstrap)
    existing = _broker_topics(admin)
    actions: list[tuple[str, str]] = []
    to_create = []
    for spec in specs:
        config = desired_config(spec, min_insync_replicas)
        if spec.name not in existing:
            to_create.append(
                NewTopic(spec.name, spec.partitions, replication_factor, config=config)
            )
            continue
        if existing[spec.name] > spec.partitions:
            actions.append((spec.name, f"has {existing[spec.name]} partitions (more than spec)"))
        elif existing[spec.name] < spec.partitions:
            raise StackError(
                f"topic {spec.name} has {existing[spec.name]} partitions, the catalogue says "
                f"{spec.partitions}; growing it would move keys between partitions, so do it "
                "deliberately with kafka-topics --alter"
            )
        _align_config(admin, spec.name, config)
        actions.append((spec.name, "exists"))
    if to_create:
        for name, future in admin.create_topics(to_create, request_timeout=TIMEOUT_S).items():
            try:
                future.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise StackError(f"creating topic {name} failed: {exc}") from exc
            actions.append((name, "created"))
    return sorted(actions)


def _align_config(admin: AdminClient, name: str, config: dict[str, str]) -> None:
    current = describe(admin, [name])[0].config
    if all(current.get(k) == v for k, v in config.items()):
        return
    from confluent_kafka.admin import AlterConfigOpType
    from confluent_kafka.admin import ConfigEntry

    resource = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in config.items()
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result()


def describe(admin: AdminClient, names: list[str]) -> list[TopicState]:
    """Partitions, replication factor and explicit configs of the named topics."""
    try:
        meta = admin.list_topics(timeout=TIMEOUT_S)
    except KafkaException as exc:
        raise StackError(f"cannot reach Kafka: {exc}; is the stack up?") from exc
    missing = [n for n in names if n not in meta.topics]
    if missing:
        raise StackError(f"no such topic(s): {', '.join(missing)}")
    resources = [ConfigResource(ResourceType.TOPIC, n) for n in names]
    configs: dict[str, dict[str, str]] = {}
    for resource, future in admin.describe_configs(resources).items():
        entries = future.result()
        configs[resource.name] = {
            k: str(e.value) for k, e in entries.items() if not e.is_default and e.value is not None
        }
    states = []
    for name in names:
        topic = meta.topics[name]
        replicas = len(topic.partitions[0].replicas) if topic.partitions else 0
        states.append(TopicState(name, len(topic.partitions), replicas, configs.get(name, {})))
    return states


def broker_topic_names(bootstrap: str) -> list[str]:
    return sorted(_broker_topics(admin_client(bootstrap)))
