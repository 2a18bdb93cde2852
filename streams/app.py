"""The Faust app: created by a factory, never at import (no I/O happens here either).

``create_app(settings)`` returns a :class:`Wiring`: the ``faust.App`` plus its topics, tables,
codec and the reducers the agents share. Agents live one per module in ``streams/agents/`` and
register themselves on the wiring.

Topics carry raw bytes (``value_serializer="raw"``); every agent decodes with
:class:`schemas.codec.Codec`. The agents read only the sequenced topics, which the native
sequencer (:mod:`streams.sequencer`) fills with batch records: one Faust event is one batch,
applied behind the error boundary of :mod:`streams.batches`. Internal topics
(``<app_id>-md-sequenced``, ``<app_id>-risk-sequenced``, table changelogs, the assignor's
leader topic) are created by :mod:`streams.internal_topics` before the worker starts; the app
never declares a topic itself.
"""

from __future__ import annotations

from typing import Any

import faust

from processors.market_state import MarketReducer
from schemas.codec import Codec
from schemas.registry import ConfluentRegistry
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import ARB_SPREAD
from schemas.topics import RISK_DECISION
from streams.agents import market
from streams.agents import risk
from streams.config import StreamsSettings
from streams.internal_topics import TABLES
from streams.wiring import RAW
from streams.wiring import Wiring


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
        datadir=str(settings.data_dir / f"{settings.app_id}-data"),
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
        md_sequenced=app.topic(
            settings.md_sequenced, partitions=md_partitions, internal=True, **RAW
        ),
        risk_sequenced=app.topic(settings.risk_sequenced, partitions=1, internal=True, **RAW),
        assets=_raw_table(app, TABLES["assets"], md_partitions),
        risk_table=_raw_table(app, TABLES["risk"], 1),
        market=MarketReducer(settings.market),
    )
    wiring.market = MarketReducer(settings.market, wiring.load_asset)
    for logical in (ARB_SPREAD, ARB_OPPORTUNITY, RISK_DECISION):
        wiring.topic(logical)

    market.register(wiring)
    risk.register(wiring)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(_app: Any, *_args: Any, **_: Any) -> None:
        wiring.forget_caches()

    return wiring
