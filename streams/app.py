"""The Faust app: created by a factory, never at import (no I/O happens here either).

``create_app(settings)`` returns a :class:`Wiring`: the ``faust.App`` plus its topics, tables,
codec and the reducers the agents share. Agents live one per module in ``streams/agents/`` and
register themselves on the wiring.

Topics carry raw bytes (``value_serializer="raw"``); every agent decodes with
:class:`schemas.codec.Codec` inside its own per-message error boundary. Internal topics
(``<app_id>-md-sequenced``, ``<app_id>-risk-sequenced``, table changelogs, the assignor's
leader topic) are created by :mod:`streams.internal_topics` before the worker starts; the app
never declares a topic itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

import faust

from schemas.codec import Codec
from schemas.records.state import AssetLifecycle
from schemas.records.state import RiskState as RiskStateRecord
from schemas.registry import ConfluentRegistry
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import ARB_SPREAD
from schemas.topics import DLQ_MD
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import OPS_CONTROL
from schemas.topics import RISK_DECISION
from schemas.topics import dlq_for
from streams.config import StreamsSettings
from streams.internal_topics import TABLES
from streams.reducers import AssetState
from streams.reducers import MarketReducer
from streams.reducers import RiskReducer
from streams.reducers import RiskState
from streams.reducers import asset_of_key

RAW: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
RISK_KEY = b"risk"


@dataclass
class Wiring:
    """The app and everything its agents share (one per worker process)."""

    settings: StreamsSettings
    app: Any
    codec: Codec
    md_in: Any
    md_sequenced: Any
    risk_in: Any
    risk_sequenced: Any
    md_latest: Any
    lifecycle: Any
    risk_table: Any
    market: MarketReducer
    risk: RiskReducer | None = None
    positions: dict[str, dict[int, int]] = field(default_factory=dict)
    """Next offset to process per partition of the sequenced topics (the digest's cut)."""
    _topics: dict[str, Any] = field(default_factory=dict)

    def topic(self, logical: str) -> Any:
        """The Faust topic of catalogue topic ``logical`` (created on first use)."""
        found = self._topics.get(logical)
        if found is None:
            found = self.app.topic(self.settings.topic(logical), **RAW)
            self._topics[logical] = found
        return found

    def dlq_name(self, source_topic: str) -> str:
        """Logical dead-letter topic of a physical source topic (``dlq.md`` if unknown)."""
        prefix = self.settings.topic_prefix
        logical = source_topic.removeprefix(prefix) if prefix else source_topic
        try:
            return dlq_for(logical)
        except KeyError:
            return DLQ_MD

    def advance(self, topic: str, partition: int, offset: int) -> None:
        self.positions.setdefault(topic, {})[partition] = offset + 1

    def load_asset(self, asset: str) -> AssetState | None:
        """An asset's market state as the tables hold it (after recovery or a rebalance)."""
        prefix = f"{asset}|".encode()
        state = AssetState()
        for key, raw in list(self.md_latest.items()):
            if key.startswith(prefix) and raw is not None:
                record = self.codec.decode(raw)
                state.records[key.decode()] = record  # type: ignore[assignment]
        lifecycle = self.lifecycle.get(asset.encode())
        if lifecycle is not None:
            state.load_lifecycle(self.codec.decode_as(lifecycle, AssetLifecycle))
        return state if state.records or lifecycle is not None else None

    def risk_reducer(self) -> RiskReducer:
        if self.risk is None:
            stored = self.risk_table.get(RISK_KEY)
            state: RiskState | None = None
            if stored is not None:
                state = RiskState.from_record(self.codec.decode_as(stored, RiskStateRecord))
            self.risk = RiskReducer(self.settings.risk, state)
        return self.risk

    def forget_caches(self) -> None:
        """Drop derived in-memory state; it reloads from the tables (rebalance, recovery)."""
        self.market.assets.clear()
        self.risk = None

    def assets_in_tables(self) -> list[str]:
        return sorted(
            {asset_of_key(k.decode()) for k in self.md_latest}
            | {k.decode() for k in self.lifecycle}
        )


def _raw_table(app: Any, name: str, partitions: int) -> Any:
    """A table of bytes keys and values, written to and recovered from its changelog as is."""
    table = app.Table(name, partitions=partitions, schema=faust.Schema(**RAW))
    table.key_serializer = "raw"  # Faust derives "json" from the (absent) key/value types
    table.value_serializer = "raw"
    table.changelog_topic = table._new_changelog_topic()
    return table


def create_app(settings: StreamsSettings, codec: Codec | None = None) -> Wiring:
    """Build the app, its topics, tables and agents (no I/O until the worker starts)."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        topic_allow_declare=False,  # streams.internal_topics creates them before the start
        topic_replication_factor=1,
        topic_partitions=settings.md_partitions,
        producer_linger=settings.producer_linger_s,
        producer_acks=-1,
        producer_max_batch_size=settings.producer_max_batch_size,
        producer_max_request_size=settings.producer_max_request_size,
        producer_compression_type=settings.producer_compression,
        consumer_max_fetch_size=settings.consumer_max_fetch_size,
        broker_max_poll_records=settings.broker_max_poll_records,
        broker_commit_every=settings.commit_every,
        broker_commit_interval=settings.commit_interval_s,
        broker_commit_livelock_soft_timeout=settings.commit_livelock_soft_timeout_s,
        stream_buffer_maxsize=settings.stream_buffer_maxsize,
        consumer_auto_offset_reset=settings.auto_offset_reset,
        broker_session_timeout=settings.session_timeout_s,
        broker_rebalance_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        web_enabled=settings.web_port is not None,
        web_port=settings.web_port or 6066,
        autodiscover=False,
    )
    md_partitions = settings.md_partitions
    wiring = Wiring(
        settings=settings,
        app=app,
        codec=codec or Codec(ConfluentRegistry(settings.registry_url)),
        md_in=app.topic(settings.topic(MD_BOOK), settings.topic(MD_FUNDING), **RAW),
        md_sequenced=app.topic(
            settings.md_sequenced, partitions=md_partitions, internal=True, **RAW
        ),
        risk_in=app.topic(settings.topic(ARB_OPPORTUNITY), settings.topic(OPS_CONTROL), **RAW),
        risk_sequenced=app.topic(settings.risk_sequenced, partitions=1, internal=True, **RAW),
        md_latest=_raw_table(app, TABLES["md_latest"], md_partitions),
        lifecycle=_raw_table(app, TABLES["lifecycle"], md_partitions),
        risk_table=_raw_table(app, TABLES["risk"], 1),
        market=MarketReducer(settings.market),
    )
    wiring.market = MarketReducer(settings.market, wiring.load_asset)
    for logical in (ARB_SPREAD, ARB_OPPORTUNITY, RISK_DECISION):
        wiring.topic(logical)

    from streams.agents import market
    from streams.agents import risk
    from streams.agents import sequencer

    sequencer.register(wiring)
    market.register(wiring)
    risk.register(wiring)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(_app: Any, *_args: Any, **_: Any) -> None:
        wiring.forget_caches()

    return wiring
