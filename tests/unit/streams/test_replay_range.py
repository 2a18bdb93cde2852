"""Replay inputs: bounds, ranges, topic selection, namespaces and the namespaced settings."""

from __future__ import annotations

import pytest

from streams.config import StreamsSettings
from streams.internal_topics import internal_topics
from streams.replay import parse_speed
from streams.replay_range import DEFAULT_TOPICS
from streams.replay_range import Bound
from streams.replay_range import ReplayInputError
from streams.replay_range import check_namespace
from streams.replay_range import check_order
from streams.replay_range import parse_bound
from streams.replay_range import partition_range
from streams.replay_range import select_topics
from streams.sequencer import routes


@pytest.mark.parametrize(
    ("text", "time_ms"),
    [
        ("2026-01-01T00:00:00Z", 1_767_225_600_000),
        ("2026-01-01T00:00:00", 1_767_225_600_000),  # naive: UTC
        ("2026-01-01T01:00:00+01:00", 1_767_225_600_000),
        ("2026-01-01T00:00:00.250Z", 1_767_225_600_250),
        ("1767225600000", 1_767_225_600_000),
    ],
)
def test_times_parse_to_epoch_ms(text: str, time_ms: int) -> None:
    assert parse_bound(text) == Bound("time", time_ms=time_ms)


def test_offsets_parse_for_every_partition_or_per_partition() -> None:
    assert parse_bound("offset:42") == Bound("offset", offset=42)
    assert parse_bound("0:10,3:7") == Bound("partitions", partitions={0: 10, 3: 7})


@pytest.mark.parametrize(
    "text", ["", "yesterday", "offset:", "offset:-1", "offset:x", "0:1,", "0:1,0:2", "1:-3", "T"]
)
def test_malformed_bounds_are_refused(text: str) -> None:
    with pytest.raises(ReplayInputError, match="--from"):
        parse_bound(text, "--from")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("1767225600000", "1767225600000"),  # empty
        ("offset:10", "offset:5"),
        ("0:10,1:2", "0:20,1:1"),
        ("offset:10", "2:3"),
    ],
)
def test_inverted_ranges_are_refused_before_any_lookup(start: str, end: str) -> None:
    with pytest.raises(ReplayInputError, match="range"):
        check_order(parse_bound(start), parse_bound(end))


def test_ranges_in_order_pass() -> None:
    check_order(parse_bound("offset:0"), parse_bound("offset:0"))  # empty per partition: fine
    check_order(parse_bound("0:5"), parse_bound("1:2"))  # no partition named by both
    check_order(parse_bound("1767225600000"), parse_bound("offset:3"))  # checked on the broker


def test_time_bounds_take_the_brokers_offset_and_the_end_when_none_is_later() -> None:
    start, end = parse_bound("1000"), parse_bound("2000")
    assert partition_range(start, end, 0, low=0, high=50, start_at=10, end_at=30) == (10, 30)
    assert partition_range(start, end, 0, low=0, high=50, start_at=10, end_at=None) == (10, 50)
    assert partition_range(start, end, 0, low=0, high=50, start_at=-1, end_at=-1) == (50, 50)


def test_offset_bounds_clamp_to_the_log_and_unnamed_partitions_take_its_ends() -> None:
    assert partition_range(parse_bound("offset:5"), parse_bound("offset:99"), 2, 8, 40) == (8, 40)
    start, end = parse_bound("0:5"), parse_bound("0:9")
    assert partition_range(start, end, 0, 0, 40) == (5, 9)
    assert partition_range(start, end, 1, 3, 40) == (3, 40)


def test_a_range_inverted_on_the_broker_is_refused() -> None:
    with pytest.raises(ReplayInputError, match="partition 4"):
        partition_range(parse_bound("offset:30"), parse_bound("1000"), 4, 0, 50, end_at=20)


def test_topics_default_to_market_data_and_take_globs_over_the_catalogue() -> None:
    assert select_topics(None) == list(DEFAULT_TOPICS)
    assert select_topics("md.*") == [
        "md.book",
        "md.trade",
        "md.funding",
        "md.kline",
        "md.instrument",
    ]
    assert select_topics("md.book, ops.control,md.b*") == ["md.book", "ops.control"]
    everything = select_topics("*")
    assert "ops.control" in everything
    assert not {"arb.opportunity", "risk.decision", "arb.spread", "dlq.md"} & set(everything)


@pytest.mark.parametrize(("spec", "match"), [("md.nope", "unknown topic"), ("x*", "unknown")])
def test_unknown_topics_are_refused(spec: str, match: str) -> None:
    with pytest.raises(ReplayInputError, match=match):
        select_topics(spec)


@pytest.mark.parametrize("spec", ["arb.opportunity", "risk.decision", "arb.*", "dlq.md"])
def test_what_the_agents_write_is_refused(spec: str) -> None:
    with pytest.raises(ReplayInputError, match=r"re-derive|selects no topic"):
        select_topics(spec)


@pytest.mark.parametrize("namespace", ["replay-1", "r.2026-01-02", "team_a.replay"])
def test_namespaces_that_make_topic_names(namespace: str) -> None:
    assert check_namespace(namespace) == namespace


@pytest.mark.parametrize(
    "namespace", ["", ".r", "r.", "r..x", "r/x", "r x", "md", "md.replay", "x" * 81]
)
def test_bad_namespaces_are_refused(namespace: str) -> None:
    with pytest.raises(ReplayInputError, match="namespace"):
        check_namespace(namespace)


def test_a_namespace_prefixes_every_topic_and_group_of_the_worker() -> None:
    settings = StreamsSettings(topic_prefix="t1.").in_namespace("rp")
    assert settings.app_id == "rp.fundingflow"
    assert settings.topic("md.book") == "rp.t1.md.book"
    names = [t.name for t in internal_topics(settings)]
    names += [settings.md_sequenced, settings.risk_sequenced, *routes(settings)]
    assert all(n.startswith("rp.") for n in names), names
    # The worker child gets its settings as JSON: the namespace is applied once.
    assert StreamsSettings.model_validate_json(settings.model_dump_json()) == settings


def test_without_a_namespace_nothing_changes() -> None:
    settings = StreamsSettings()
    assert settings.app_id == "fundingflow"
    assert settings.topic("md.book") == "md.book"


@pytest.mark.parametrize(
    ("text", "factor"), [("max", None), ("1x", 1.0), ("10x", 10.0), ("0.5x", 0.5)]
)
def test_speeds(text: str, factor: float | None) -> None:
    assert parse_speed(text) == factor


@pytest.mark.parametrize("text", ["fast", "0x", "-1x", "10", "x"])
def test_bad_speeds_are_refused(text: str) -> None:
    with pytest.raises(ReplayInputError, match="--speed"):
        parse_speed(text)
