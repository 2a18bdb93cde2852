"""What the agents of one worker share: the app, its topics and tables, codec and reducers.

Built by :func:`streams.app.create_app`; the agents (``streams/agents/``) take a
:class:`Wiring` and import nothing of the app module, so the dependency points one way
(app -> agents -> wiring).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from processors.market_state import AssetState
from processors.market_state import MarketReducer
from processors.market_state import record_key
from processors.risk_state import RiskBook
from processors.risk_state import RiskReducer
from schemas.codec import Codec
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts
from schemas.records.state import AssetLifecycle
from schemas.records.state import AssetSnapshot
from schemas.records.state import RiskState
from schemas.topics import DLQ_MD
from schemas.topics import STATE_ASSET
from schemas.topics import STATE_LIFECYCLE
from schemas.topics import dlq_for
from streams.config import StreamsSettings
from streams.cut_guard import CutGuard


def encode_asset(codec: Codec, state: AssetState) -> bytes:
    """An asset's stored state (``state.asset``): its records as they arrived, the applied
    offset and its lifecycle, which is re-encoded only when an evaluation changed it."""
    if state.encoded_lifecycle is None:
        state.encoded_lifecycle = codec.encode(state.lifecycle_record(), STATE_LIFECYCLE)
    raw = state.raw
    record = AssetSnapshot(
        lifecycle=state.encoded_lifecycle,
        records=tuple(raw[k] for k in sorted(raw)),
        applied_offset=state.applied,
    )
    return codec.encode(record, STATE_ASSET)


RAW: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
RISK_KEY = b"risk"
CUT_PREFIX = b"@cut|"
"""Table keys of the stored cuts (no asset name starts with ``@``)."""


def cut_key(partition: int) -> bytes:
    """Table key of the next sequenced offset of ``partition`` the table state includes."""
    return CUT_PREFIX + str(partition).encode()


@dataclass
class Wiring:
    """The app and everything its agents share (one per worker process)."""

    settings: StreamsSettings
    app: Any
    codec: Codec
    md_sequenced: Any
    risk_sequenced: Any
    assets: Any
    """Table: base asset -> its stored state (``state.asset``), plus ``@cut|<p>`` entries."""
    risk_table: Any
    market: MarketReducer
    risk: RiskReducer | None = None
    positions: dict[str, dict[int, int]] = field(default_factory=dict)
    """Next offset to process per partition of the sequenced topics (the digest's cut)."""
    guard: CutGuard = field(init=False)
    """Admits each sequenced batch against its partition's stored cut."""
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

    def __post_init__(self) -> None:
        self.guard = CutGuard(self.stored_cut, self.settings.stall_after_s)

    def mark_applied(self, topic: str, partition: int, offset: int) -> None:
        """Batch ``topic[partition]@offset`` is in the state: its table holds the new cut."""
        table = self.assets if topic == self.settings.md_sequenced else self.risk_table
        table[cut_key(partition)] = str(offset + 1).encode()
        self.positions.setdefault(topic, {})[partition] = offset + 1
        self.guard.applied(topic, partition)

    def load_asset(self, asset: str) -> AssetState | None:
        """An asset's market state as the table holds it (after recovery or a rebalance)."""
        stored = self.assets.get(asset.encode())
        if stored is None:
            return None
        snapshot = self.codec.decode_as(stored, AssetSnapshot)
        state = AssetState()
        state.load_lifecycle(self.codec.decode_as(snapshot.lifecycle, AssetLifecycle))
        state.applied, state.encoded_lifecycle = snapshot.applied_offset, snapshot.lifecycle
        for raw in snapshot.records:
            market = self.codec.decode(raw)
            assert isinstance(market, BookSnapshot | FundingRateUpdate | InstrumentFacts)
            key = record_key(market)
            state.records[key], state.raw[key] = market, raw
        return state

    def risk_reducer(self) -> RiskReducer:
        if self.risk is None:
            stored = self.risk_table.get(RISK_KEY)
            state: RiskBook | None = None
            if stored is not None:
                state = RiskBook.from_record(self.codec.decode_as(stored, RiskState))
            self.risk = RiskReducer(self.settings.risk, state)
        return self.risk

    def forget_caches(self) -> None:
        """Drop derived in-memory state; it reloads from the tables (rebalance, recovery)."""
        self.market.assets.clear()
        self.risk = None
        self.guard.forget()

    def assets_in_tables(self) -> list[str]:
        return sorted(k.decode() for k in self.assets if not k.startswith(CUT_PREFIX))

    def snapshot(self, asset: str) -> bytes:
        """The encoded stored state of ``asset``."""
        return encode_asset(self.codec, self.market.asset(asset))

    def stored_cut(self, topic: str, partition: int) -> int | None:
        """The next offset of sequenced ``topic[partition]`` its table state includes."""
        table = self.assets if topic == self.settings.md_sequenced else self.risk_table
        raw = table.get(cut_key(partition))
        return int(raw) if raw is not None else None
