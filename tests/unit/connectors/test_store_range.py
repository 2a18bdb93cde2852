"""A replay from the store re-creates each event exactly: PostgreSQL's ``payload`` JSON turns
back into the same record (decimals keep their digits, enums their symbols), encoding to the
same bytes; QuestDB's wire columns hold the framed value and key as consumed."""

from __future__ import annotations

from base64 import b64decode
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connectors.storage.relational import BY_TOPIC
from connectors.storage.store_range import record_of
from connectors.storage.stores import Consumed
from connectors.storage.timeseries import SERIES
from connectors.storage.timeseries import WIRE_TOPICS
from connectors.storage.timeseries import wire_columns
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.records.md import InstrumentFacts
from schemas.records.ops import ControlAction
from schemas.records.ops import ControlCommand
from schemas.registry import InMemoryRegistry
from schemas.samples import sample
from schemas.topics import by_name
from schemas.topics import key_for

CODEC = Codec(InMemoryRegistry())


def _same_bytes(record: AvroRecord, topic: str) -> None:
    back = record_of(type(record), record.model_dump_json())
    assert back == record
    assert CODEC.encode(back, topic) == CODEC.encode(record, topic)
    assert key_for(back) == key_for(record)


def test_every_single_record_postgres_topic_round_trips_through_its_payload() -> None:
    for table in BY_TOPIC.values():
        types = by_name(table.topic).value_records
        if len(types) == 1:
            _same_bytes(sample(types[0]), table.topic)


def test_every_control_action_round_trips() -> None:
    for action in ControlAction:
        _same_bytes(
            sample(ControlCommand).model_copy(update={"action": action, "value": "x"}),
            "ops.control",
        )


decimals = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=18, allow_nan=False
)


@given(fee=decimals, tick=decimals, size=decimals)
def test_instrument_facts_decimals_round_trip_to_the_digit(
    fee: Decimal, tick: Decimal, size: Decimal
) -> None:
    facts = sample(InstrumentFacts).model_copy(
        update={
            "taker_fee": fee,
            "price_tick": abs(tick) or Decimal("0.1"),
            "contract_size_base": abs(size) or Decimal(1),
        }
    )
    _same_bytes(facts, "md.instrument")
    back = record_of(InstrumentFacts, facts.model_dump_json())
    assert str(back.taker_fee) == str(fee)  # digits and exponent, not only the value


def test_the_market_tables_keep_the_message_as_consumed() -> None:
    assert (
        {t.topic for t in SERIES if t.wire} == WIRE_TOPICS == {"md.book", "md.funding", "md.trade"}
    )
    for table in SERIES:
        record = sample(by_name(table.topic).value_records[0])
        value = CODEC.encode(record, table.topic)
        item = Consumed(record, table.topic, 2, 41, 1_767_225_600_123, key_for(record), value)
        frame = table.batch([item])
        if not table.wire:
            assert "wire_value" not in frame.columns
            assert "wire_value" not in table.ddl(table.name)
            continue
        assert "wire_value VARCHAR" in table.ddl(table.name)
        assert b64decode(frame.columns["wire_value"][0]) == value
        assert b64decode(frame.columns["wire_key"][0]) == key_for(record)
        assert frame.columns["kafka_partition"] == [2]
        assert frame.columns["kafka_offset"] == [41]
        assert frame.columns["kafka_timestamp_ms"] == [1_767_225_600_123]


def test_a_message_without_a_key_keeps_a_null_key() -> None:
    record = sample(by_name("md.trade").value_records[0])
    columns = wire_columns([Consumed(record, "md.trade", 0, 0, None, None, b"\x00")])
    assert columns["wire_key"] == [None]
    assert columns["kafka_timestamp_ms"] == [None]
