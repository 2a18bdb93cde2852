"""The worker's internal topics, declared here and created before any agent subscribes.

Faust would declare them itself while it starts, but its agents subscribe at the same time: on a
fresh broker an agent could subscribe to a topic that did not exist yet, log ``Ignoring missing
topic`` and never consume it (a first run then wrote no risk decision). So the app never declares
topics (``topic_allow_declare=False``); :func:`ensure_internal_topics` creates every internal
topic and waits until the broker's metadata lists all of them, and only then does the worker start.
``fundingflow topics create`` creates them too, with the catalogue.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from schemas.errors import FundingflowError
from schemas.topics import by_name
from streams.config import LAYOUT
from streams.config import StreamsSettings
from streams.sequencer import EXECUTOR_SOURCES

TABLES: dict[str, str] = {"assets": f"assets-{LAYOUT}", "risk": f"risk-{LAYOUT}"}
"""Table attribute -> Faust table name (its changelog is ``<app_id>-<name>-changelog``)."""


@dataclass(frozen=True, slots=True)
class InternalTopic:
    """An internal topic of one app id (same shape as a catalogue topic spec)."""

    name: str
    partitions: int
    cleanup_policy: str = "delete"
    retention_ms: int = -1
    config: dict[str, str] = field(default_factory=dict)


def changelog_name(settings: StreamsSettings, table: str) -> str:
    return f"{settings.app_id}-{table}-changelog"


def leader_topic_name(settings: StreamsSettings) -> str:
    """Faust's assignor leader-election topic."""
    return f"{settings.app_id}-__assignor-__leader"


def internal_topics(settings: StreamsSettings) -> list[InternalTopic]:
    """Every topic the worker of ``settings.app_id`` reads or writes besides the catalogue's."""
    md = settings.md_partitions
    return [
        InternalTopic(settings.md_sequenced, md),
        InternalTopic(settings.risk_sequenced, 1),
        InternalTopic(changelog_name(settings, TABLES["assets"]), md, "compact"),
        InternalTopic(changelog_name(settings, TABLES["risk"]), 1, "compact"),
        InternalTopic(leader_topic_name(settings), 1, "compact"),
    ]


class InternalTopicsError(FundingflowError):
    """An internal topic could not be created, or is there with the wrong partition count."""


def create_missing(admin: Any, topics: list[Any], timeout_s: float) -> None:
    """Create ``topics`` (``NewTopic``); one that already exists is fine, any other error raises."""
    if not topics:
        return
    for name, future in admin.create_topics(topics, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except Exception as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise InternalTopicsError(f"cannot create topic {name}: {e}") from e


def source_topics(settings: StreamsSettings) -> list[InternalTopic]:
    """The catalogue topics the sequencer reads that another process writes: the executor's
    ``exec.fill`` and ``account.position`` (the risk reducer's positions). Created as the
    catalogue states them when missing, so the sequencer's subscription finds them at once,
    whether or not the executor has started."""
    return [
        InternalTopic(
            settings.topic(spec.name),
            spec.partitions,
            spec.cleanup_policy,
            spec.retention_ms,
            dict(spec.config),
        )
        for spec in map(by_name, EXECUTOR_SOURCES)
    ]


def ensure_source_topics(settings: StreamsSettings, timeout_s: float = 30.0) -> list[str]:
    """Create the missing :func:`source_topics` and wait until the broker lists them."""
    return _ensure(settings, source_topics(settings), timeout_s)


def ensure_internal_topics(settings: StreamsSettings, timeout_s: float = 30.0) -> list[str]:
    """Create the missing internal topics and wait until the broker lists all of them.

    Returns the names created now. Raises :class:`InternalTopicsError` when one cannot be
    created, or exists with fewer partitions than the worker's partitioning needs.
    """
    return _ensure(settings, internal_topics(settings), timeout_s)


def _ensure(settings: StreamsSettings, topics: list[InternalTopic], timeout_s: float) -> list[str]:
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin import NewTopic

    admin = AdminClient({"bootstrap.servers": settings.bootstrap})
    wanted = {t.name: t for t in topics}
    present = admin.list_topics(timeout=timeout_s).topics
    missing = [t for name, t in wanted.items() if name not in present]
    requests = [
        NewTopic(
            t.name,
            t.partitions,
            1,
            config={
                **t.config,
                "cleanup.policy": t.cleanup_policy,
                "retention.ms": str(t.retention_ms),
            },
        )
        for t in missing
    ]
    create_missing(admin, requests, timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = admin.list_topics(timeout=timeout_s).topics
        ready = {
            name
            for name in wanted
            if name in metadata
            and metadata[name].error is None
            and len(metadata[name].partitions) >= wanted[name].partitions
        }
        if ready == set(wanted):
            break
        short = [
            f"{n} has {len(metadata[n].partitions)} partitions, needs {wanted[n].partitions}"
            for n in wanted
            if n in metadata and len(metadata[n].partitions) < wanted[n].partitions
        ]
        if short:
            raise InternalTopicsError("; ".join(short))
        if time.monotonic() > deadline:
            raise InternalTopicsError(f"internal topics not ready: {sorted(set(wanted) - ready)}")
        time.sleep(0.1)
    return [t.name for t in missing]
