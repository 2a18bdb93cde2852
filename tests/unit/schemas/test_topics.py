"""The topic catalogue names every schema, and every schema has a topic."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas import topics
from schemas.avsc import schema_set
from schemas.records import EVENT_RECORDS
from schemas.records import STATE_RECORDS
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.dlq import DeadLetter
from schemas.records.md import FundingRateUpdate
from schemas.records.stream import SequencedBatch
from schemas.samples import sample
from schemas.topics import CATALOGUE
from schemas.topics import STATE_CATALOGUE
from schemas.topics import STREAM_CATALOGUE
from schemas.topics import SUBJECTS
from schemas.topics import by_name
from schemas.topics import key_for


def test_every_topic_names_existing_schemas() -> None:
    definitions = schema_set().definitions
    for spec in CATALOGUE:
        assert spec.value_records, spec.name
        for record_type in spec.value_records:
            assert record_type.AVRO_NAME in definitions


def test_every_event_schema_is_carried_by_a_topic() -> None:
    carried = {record for spec in CATALOGUE for record in spec.value_records}
    assert set(EVENT_RECORDS) == carried


def test_topic_names_are_unique_and_exported_as_constants() -> None:
    names = [spec.name for spec in CATALOGUE]
    assert len(names) == len(set(names))
    constants = {v for k, v in vars(topics).items() if k.isupper() and isinstance(v, str)}
    assert set(names) <= constants


def test_every_source_family_has_a_dead_letter_topic() -> None:
    for spec in CATALOGUE:
        if spec.family != "dlq":
            assert by_name(topics.dlq_for(spec.name)).value_records == (DeadLetter,)


def test_partition_defaults() -> None:
    for spec in CATALOGUE:
        expected = 6 if spec.family in ("md", "arb") else 3
        expected = 1 if spec.name == topics.OPS_CONTROL else expected
        assert spec.partitions == expected, spec.name


def test_control_events_are_kept_forever() -> None:
    assert by_name(topics.OPS_CONTROL).topic_config()["retention.ms"] == "-1"


def test_market_data_is_keyed_by_base_asset_across_venues() -> None:
    base = sample(FundingRateUpdate)
    keys = set()
    for exchange, symbol in [
        ("binance", "BTC/USDT:USDT"),
        ("okx", "BTC/USD:BTC"),
        ("bybit", "BTC/USDC"),
    ]:
        instrument = InstrumentRef(exchange=exchange, symbol=symbol, market_type=MarketType.PERP)
        keys.add(key_for(base.model_copy(update={"instrument": instrument})))
    assert keys == {b"BTC"}


def test_every_carried_record_has_a_key() -> None:
    for spec in CATALOGUE:
        for record_type in spec.value_records:
            assert isinstance(key_for(sample(record_type)), bytes)


def test_dead_letters_keep_the_original_key() -> None:
    letter = sample(DeadLetter)
    assert key_for(letter) == letter.source_key
    assert key_for(letter.model_copy(update={"source_key": None})) == letter.source_topic.encode()


def test_unknown_topic_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"md\.funding"):
        by_name("md.fundings")


def test_sample_decimal_is_exact() -> None:
    assert sample(FundingRateUpdate).mark_price == Decimal("65000.123456789012345678")


def test_every_state_record_has_a_state_subject_and_no_topic() -> None:
    assert {r for spec in STATE_CATALOGUE for r in spec.value_records} == set(STATE_RECORDS)
    assert not {spec.name for spec in STATE_CATALOGUE} & {spec.name for spec in CATALOGUE}
    assert SUBJECTS == CATALOGUE + STATE_CATALOGUE + STREAM_CATALOGUE
    for spec in STATE_CATALOGUE:
        assert spec.family == "state"
        assert spec.topic_config()["cleanup.policy"] == "compact"
        assert spec.topic_config()["retention.ms"] == "-1"
        assert by_name(spec.name) is spec


def test_the_sequenced_batches_have_a_subject_and_no_topic() -> None:
    assert [spec.name for spec in STREAM_CATALOGUE] == [topics.STREAM_BATCH]
    assert not {spec.name for spec in STREAM_CATALOGUE} & {spec.name for spec in CATALOGUE}
    assert by_name(topics.STREAM_BATCH).value_records == (SequencedBatch,)
