"""The app carries the explicit client settings (batching, linger, commits) it is given."""

from __future__ import annotations

from pathlib import Path

from schemas.codec import Codec
from schemas.registry import InMemoryRegistry
from streams.app import create_app
from streams.config import StreamsSettings


def test_client_settings_reach_faust() -> None:
    settings = StreamsSettings(
        app_id="unit",
        producer_linger_s=0.002,
        producer_max_batch_size=65_536,
        commit_interval_s=0.5,
        commit_every=1_000,
        stream_buffer_maxsize=1_024,
    )
    conf = create_app(settings, codec=Codec(InMemoryRegistry())).app.conf
    assert conf.producer_linger == 0.002
    assert conf.producer_max_batch_size == 65_536
    assert conf.producer_acks == -1
    assert conf.producer_compression_type is None
    assert conf.broker_commit_interval == 0.5
    assert conf.broker_commit_every == 1_000
    assert conf.stream_buffer_maxsize == 1_024
    assert conf.processing_guarantee.value == "at_least_once"


def test_internal_topics_and_the_sequencer_group_carry_the_layout() -> None:
    """A worker of a new layout starts on fresh internal topics (and rebuilds from the input)."""
    from streams.config import LAYOUT
    from streams.internal_topics import internal_topics
    from streams.internal_topics import leader_topic_name

    settings = StreamsSettings(app_id="unit")
    names = [t.name for t in internal_topics(settings) if t.name != leader_topic_name(settings)]
    assert len(names) == 4
    assert all(LAYOUT in name for name in names)


def test_faust_data_dir_stays_out_of_the_working_directory(tmp_path: Path) -> None:
    settings = StreamsSettings(app_id="unit", data_dir=tmp_path)
    conf = create_app(settings, codec=Codec(InMemoryRegistry())).app.conf
    assert Path(conf.datadir) == tmp_path / "unit-data"
    default = create_app(StreamsSettings(app_id="unit"), codec=Codec(InMemoryRegistry())).app.conf
    assert Path(default.datadir).parts[:2] == (".local", "faust")
