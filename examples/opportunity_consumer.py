"""A downstream consumer of fundingflow's ``arb.opportunity`` topic, standalone.

It needs nothing of fundingflow: only ``confluent-kafka[avro,schemaregistry]``. Every message
on the topic is Confluent-framed Avro (magic byte, schema id, body); the AvroDeserializer looks
the writer schema up in the schema registry by its id (Apicurio's Confluent-compatible API) and
returns the record as a dict — decimals as ``Decimal``, enums as their symbol. One line is
printed per opportunity event (time, lifecycle, kind, asset, legs, net edge, net APR, size and
notional, id, and the close reason of a closed one), e.g.::

    2026-12-03T18:40:00.123Z OPENED  PERP_PERP  BTC   long okx:BTC/USDT:USDT
    short bybit:BTC/USDT:USDT  net 12.5 bps  apr 1520.1 bps  size 0.4 (24,000.00 quote)  id 3f0c…

(shown on two lines here).

Usage::

    python examples/opportunity_consumer.py [--bootstrap 127.0.0.1:9092]
        [--registry http://127.0.0.1:8081/apis/ccompat/v7] [--topic arb.opportunity]
        [--group GROUP] [--from-beginning] [--limit N] [--idle-timeout S]

Without ``--group`` it reads with a throw-away group and commits nothing; with a group it
commits as it goes, so a restart continues where it stopped. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField
from confluent_kafka.serialization import SerializationContext


def describe(opportunity: dict[str, Any]) -> str:
    """One line for one opportunity event (a dict as the AvroDeserializer returns it)."""
    at = datetime.fromtimestamp(opportunity["envelope"]["event_time_ms"] / 1000, tz=UTC)
    legs = " ".join(
        f"{leg['side'].lower().replace('buy', 'long').replace('sell', 'short')} "
        f"{leg['instrument']['exchange']}:{leg['instrument']['symbol']}"
        for leg in opportunity["legs"]
    )
    size: Decimal = opportunity["max_size_base"]
    notional: Decimal = opportunity["max_notional_quote"]
    closed = f"  closed: {opportunity['close_reason']}" if opportunity.get("close_reason") else ""
    return (
        f"{at.isoformat(timespec='milliseconds').replace('+00:00', 'Z')} "
        f"{opportunity['lifecycle']:<7} {opportunity['kind']:<10} {opportunity['base_asset']:<5} "
        f"{legs}  net {opportunity['net_edge_bps'].normalize():f} bps  "
        f"apr {opportunity['net_apr_bps'].quantize(Decimal('0.1'))} bps  "
        f"size {size.normalize():f} ({notional:,.2f} quote)  "
        f"id {opportunity['opportunity_id']}{closed}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--registry", default="http://127.0.0.1:8081/apis/ccompat/v7")
    parser.add_argument("--topic", default="arb.opportunity")
    parser.add_argument("--group", help="consumer group (commits offsets); default: none")
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--limit", type=int, help="stop after N opportunities")
    parser.add_argument("--idle-timeout", type=float, help="stop after S seconds without one")
    args = parser.parse_args(argv)

    deserialize = AvroDeserializer(SchemaRegistryClient({"url": args.registry}))
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group or f"opportunity-consumer-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": args.group is not None,
            "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        }
    )
    consumer.subscribe([args.topic])
    context = SerializationContext(args.topic, MessageField.VALUE)
    seen = 0
    last = time.monotonic()
    try:
        while args.limit is None or seen < args.limit:
            message = consumer.poll(0.5)
            if message is None:
                if args.idle_timeout is not None and time.monotonic() - last > args.idle_timeout:
                    break
                continue
            if message.error() is not None:
                print(f"kafka error: {message.error()}", file=sys.stderr)
                continue
            last = time.monotonic()
            try:
                opportunity = deserialize(message.value(), context)
            except Exception as e:  # a message that does not decode is reported, not fatal
                print(f"offset {message.offset()}: cannot decode: {e}", file=sys.stderr)
                continue
            print(describe(opportunity), flush=True)
            seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
