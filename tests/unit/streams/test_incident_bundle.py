"""The incident bundle format: round trip, old writer schemas, and every corruption refused."""

from __future__ import annotations

import io
import json
import tarfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from benchmarks import synthetic as syn
from schemas.avro_record import AvroRecord
from schemas.golden import read_golden
from schemas.records.execution import CancelOrder
from schemas.records.execution import SubmitOrder
from schemas.records.risk import RiskDecision
from schemas.samples import sample
from schemas.subjects import history
from schemas.subjects import subject_schema
from schemas.topics import by_name
from streams.bundle import Bundle
from streams.bundle import BundleError
from streams.bundle import Message
from streams.bundle import Window
from streams.bundle import decode_bundle
from streams.bundle import encode_bundle
from streams.bundle import write_bundle

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
T0 = 1_767_225_600_000


def _current(topic: str) -> tuple[int, str]:
    """A schema id and the writer text of today's schema of ``topic``."""
    text = json.dumps(subject_schema(by_name(topic)), separators=(",", ":"))
    return 1000 + sorted(s.name for s in _TOPICS).index(topic), text


def _datum(topic: str, record: AvroRecord) -> Any:
    datum: Any = record.to_avro()
    return (record.AVRO_NAME, datum) if isinstance(subject_schema(by_name(topic)), list) else datum


_TOPICS = [by_name(t) for t in ("md.book", "md.funding", "risk.decision", "exec.command")]


def make_bundle(items: list[tuple[str, AvroRecord, int, bytes | None]]) -> Bundle:
    """A bundle of (topic, record, partition, key) items written with today's schemas."""
    topics = tuple(dict.fromkeys(t for t, *_ in items)) or ("md.book",)
    bundle = Bundle(Window(T0, T0 + 600_000), topics, T0 + 700_000)
    offsets: dict[tuple[str, int], int] = {}
    for i, (topic, record, partition, key) in enumerate(items):
        schema_id, text = _current(topic)
        bundle.writer_schemas[schema_id] = text
        offset = offsets[topic, partition] = offsets.get((topic, partition), -1) + 1
        message = Message(topic, partition, offset, T0 + i, key, schema_id, _datum(topic, record))
        bundle.messages.setdefault(topic, []).append(message)
    return bundle


def _scenario() -> list[tuple[str, AvroRecord, int, bytes | None]]:
    market = syn.random_walk(40, start_ms=T0)
    items: list[tuple[str, AvroRecord, int, bytes | None]] = [
        (t, r, i % 6, r.instrument.symbol.encode()) for i, (t, r) in enumerate(market)
    ]
    items.append(("risk.decision", sample(RiskDecision), 1, None))
    items.append(("exec.command", sample(SubmitOrder), 0, b"cid"))
    items.append(("exec.command", sample(CancelOrder), 2, b"cid"))
    return items


def _records(bundle: Bundle) -> dict[str, list[tuple[int, int, int, bytes | None, AvroRecord]]]:
    return {
        t: sorted(
            ((m.partition, m.offset, m.timestamp_ms, m.key, r) for m, r in bundle.records(t)),
            key=lambda row: (row[0], row[1]),
        )
        for t in bundle.topics
    }


def test_a_bundle_reads_back_as_written_with_its_manifest() -> None:
    bundle = make_bundle(_scenario())
    data, manifest = encode_bundle(bundle)
    back, read_manifest = decode_bundle(data)
    assert _records(back) == _records(bundle)
    assert read_manifest == manifest
    assert manifest["version"] == 1
    assert manifest["window"] == {"start_ms": T0, "end_ms": T0 + 600_000}
    assert manifest["counts"]["exec.command"] == 2
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        member = tar.extractfile("topics/md.funding.avro")
        assert member is not None
        container = member.read()
    assert names[:2] == ["manifest.json", "manifest.sha256"]
    assert {"topics/md.book.avro", "topics/exec.command.avro"} <= set(names)
    # Each member is a plain Avro object container with its writer schema embedded.
    rows: list[Any] = list(fastavro.reader(io.BytesIO(container)))
    assert len(rows) == manifest["counts"]["md.funding"]
    assert set(rows[0]) == {"partition", "offset", "timestamp_ms", "key", "schema_id", "value"}
    assert isinstance(rows[0]["value"]["funding_rate"], Decimal)


def test_messages_written_with_an_old_schema_keep_it_and_read_as_todays_records() -> None:
    """md.book v1 (decimal levels) is embedded as written and resolves to today's record."""
    versions = dict(history("md.book-value"))
    old = versions[1]
    assert old != subject_schema(by_name("md.book")), "md.book v1 should differ from today's"
    body = (GOLDEN / "md.book-value" / "v1.bin").read_bytes()
    datum = fastavro.schemaless_reader(io.BytesIO(body), fastavro.parse_schema(old), None)
    bundle = make_bundle([("md.book", syn.book("ex-a", "AAA/USDT:USDT", 100, T0, 1), 0, None)])
    bundle.writer_schemas[7] = json.dumps(old)
    bundle.messages["md.book"].append(Message("md.book", 0, 1, T0 + 5, None, 7, datum))
    data, manifest = encode_bundle(bundle)
    assert [m["path"] for m in manifest["members"]] == [
        "topics/md.book.avro",
        "topics/md.book.2.avro",
    ]
    back, _ = decode_bundle(data)
    records = [r for _, r in back.records("md.book")]
    assert records[1] == read_golden(GOLDEN / "md.book-value" / "v1.bin")


items_strategy = st.lists(
    st.tuples(
        st.sampled_from(["md.book", "md.funding", "risk.decision", "exec.command"]),
        st.integers(0, 10_000),
        st.integers(0, 5),
        st.one_of(st.none(), st.binary(max_size=12)),
        st.decimals(min_value=-1, max_value=1, places=6, allow_nan=False),
    ),
    max_size=30,
)


def _build(spec: list[tuple[str, int, int, bytes | None, Decimal]]) -> Bundle:
    items: list[tuple[str, AvroRecord, int, bytes | None]] = []
    for topic, t, partition, key, rate in spec:
        record: AvroRecord
        if topic == "md.book":
            record = syn.book("ex-a", "AAA/USDT:USDT", Decimal(100) + rate, T0 + t, t + 1)
        elif topic == "md.funding":
            record = syn.funding("ex-b", "AAA/USDT:USDT", rate / 100, T0 + t, t + 1)
        elif topic == "risk.decision":
            record = sample(RiskDecision).model_copy(update={"opportunity_id": f"o-{t}"})
        else:
            record = sample(SubmitOrder if t % 2 else CancelOrder)
        items.append((topic, record, partition % by_name(topic).partitions, key))
    return make_bundle(items)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items_strategy)
def test_any_set_of_messages_round_trips(
    spec: list[tuple[str, int, int, bytes | None, Decimal]],
) -> None:
    bundle = _build(spec)
    back, _ = decode_bundle(encode_bundle(bundle)[0])
    assert _records(back) == _records(bundle)


def _with_order(bundle: Bundle) -> Bundle:
    """The bundle with an apply order over its market messages (latest first, as a worker's
    sequenced topic might list them)."""
    market = [
        (m.topic, m.partition, m.offset)
        for t in ("md.book", "md.funding")
        for m in bundle.messages.get(t, ())
    ]
    bundle.order = {"market": market[::-1]}
    return bundle


_SMALL, _ = encode_bundle(_with_order(make_bundle(_scenario()[:8] + _scenario()[-2:])))


def test_the_apply_order_round_trips_and_must_name_bundled_messages() -> None:
    bundle = _with_order(make_bundle(_scenario()))
    data, manifest = encode_bundle(bundle)
    assert manifest["order"]["market"] == len(bundle.order["market"]) > 0
    back, _ = decode_bundle(data)
    assert back.order == bundle.order
    bundle.order["market"].append(("md.book", 5, 10_000))  # no such message in the bundle
    with pytest.raises(BundleError, match=r"order\.json does not match"):
        decode_bundle(encode_bundle(bundle)[0])


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_SMALL) - 1), st.integers(1, 255))
def test_any_flipped_byte_is_refused(position: int, flip: int) -> None:
    tampered = bytearray(_SMALL)
    tampered[position] ^= flip
    with pytest.raises(BundleError):
        decode_bundle(bytes(tampered))


def test_every_byte_of_a_bundle_counts() -> None:
    """Flip each byte in turn (headers, manifest, checksums, containers, padding, trailer)."""
    passed = []
    for position in range(len(_SMALL)):
        tampered = bytearray(_SMALL)
        tampered[position] ^= 0x01
        try:
            decode_bundle(bytes(tampered))
        except BundleError:
            continue
        passed.append(position)
    assert passed == []


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(_SMALL) - 1))
def test_any_truncation_is_refused(length: int) -> None:
    with pytest.raises(BundleError):
        decode_bundle(_SMALL[:length])


def test_the_guard_twin_a_flip_in_padding_passes_without_the_zero_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the padding check a byte flipped in the tar's trailer goes unnoticed: the check
    is what makes every byte count."""
    import streams.bundle as bundle_module

    tampered = bytearray(_SMALL)
    tampered[-1] ^= 1
    with pytest.raises(BundleError, match="end-of-archive"):
        decode_bundle(bytes(tampered))
    monkeypatch.setattr(bundle_module, "_zeros", lambda *_a: None)
    decode_bundle(bytes(tampered))


def test_a_member_checksum_mismatch_names_the_member() -> None:
    bundle = make_bundle(_scenario())
    data, _ = encode_bundle(bundle)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        info = tar.getmember("topics/md.funding.avro")
    tampered = bytearray(data)
    tampered[info.offset_data + info.size // 2] ^= 0x01
    with pytest.raises(BundleError, match=r"checksum mismatch in topics/md\.funding\.avro"):
        decode_bundle(bytes(tampered))


def test_unknown_topics_and_empty_windows_are_refused() -> None:
    with pytest.raises(BundleError, match="empty or inverted"):
        Window(T0, T0)
    with pytest.raises(BundleError, match="empty or inverted"):
        Window(T0, T0 - 1)
    bundle = make_bundle(_scenario())
    bundle.topics = (*bundle.topics, "md.nope")
    with pytest.raises(BundleError, match=r"unknown topic 'md\.nope'"):
        encode_bundle(bundle)


def test_not_a_tar_is_refused() -> None:
    with pytest.raises(BundleError):
        decode_bundle(b"definitely not a bundle" * 100)
    with pytest.raises(BundleError):
        decode_bundle(b"")


def test_writing_refuses_an_existing_file_and_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "incident.tar"
    out.write_bytes(b"keep me")
    bundle = make_bundle(_scenario())
    with pytest.raises(BundleError, match="exists; pass --force"):
        write_bundle(bundle, out)
    assert out.read_bytes() == b"keep me"
    manifest = write_bundle(bundle, out, force=True)
    assert decode_bundle(out.read_bytes())[1] == manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["incident.tar"]


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "incident.tar"
    bundle = make_bundle(_scenario())
    bundle.topics = ("md.nope",)
    with pytest.raises(BundleError):
        write_bundle(bundle, out)
    assert list(tmp_path.iterdir()) == []
