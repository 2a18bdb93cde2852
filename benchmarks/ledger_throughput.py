"""Intent ledger throughput on the stack's PostgreSQL: orders/s through their whole life.

    python -m benchmarks.ledger_throughput [--orders 2000] [--connections 1] [--json]

Each order is one ``record_intent`` and three ``apply`` calls (Sent, the venue's ACCEPTED,
FILLED): four committed transactions, what the executor pays per order before and after its
send. The orders are split over ``--connections`` threads, one ledger connection each, in a
scratch schema dropped afterwards. Prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from decimal import Decimal

from executors.ledger import Ledger
from fundingflow.settings import load_settings
from processors.client_ids import OrderKey
from processors.client_ids import client_order_id
from processors.orders import Sent
from processors.orders import VenueReport
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.execution import OrderStatus
from schemas.records.execution import SubmitOrder
from schemas.samples import sample
from tests.ledger_db import scratch_schema

T = 1_767_225_600_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(orders: int, connections: int = 1) -> dict[str, float]:
    template = sample(SubmitOrder).model_copy(
        update={
            "instrument": InstrumentRef(
                exchange="sim", symbol="BTC/USDT", market_type=MarketType.SPOT
            ),
            "size_base": Decimal(1),
        }
    )
    intents = [
        template.model_copy(
            update={
                "client_order_id": client_order_id(OrderKey(f"bench-{i}", 0, 0)).hex,
                "signal_id": f"bench-{i}",
                "leg_index": 0,
                "slice_index": 0,
            }
        )
        for i in range(orders)
    ]
    record_ms: list[float] = []
    life_ms: list[float] = []

    def work(ledger: Ledger, share: list[SubmitOrder]) -> None:
        for order in share:
            t0 = time.perf_counter()
            ledger.record_intent(order, now_ms=T)
            t1 = time.perf_counter()
            cid = order.client_order_id
            ledger.apply(cid, Sent(), now_ms=T)
            ledger.apply(cid, VenueReport(OrderStatus.ACCEPTED, venue_order_id=cid), now_ms=T)
            ledger.apply(cid, VenueReport(OrderStatus.FILLED, Decimal(1), Decimal(100)), now_ms=T)
            t2 = time.perf_counter()
            record_ms.append((t1 - t0) * 1000)
            life_ms.append((t2 - t0) * 1000)

    with scratch_schema(load_settings().postgres.conninfo()) as schema:
        ledgers = [Ledger(schema.connect()) for _ in range(connections)]
        threads = [
            threading.Thread(target=work, args=(ledger, intents[i::connections]))
            for i, ledger in enumerate(ledgers)
        ]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        for ledger in ledgers:
            ledger.close()
    return {
        "orders": orders,
        "connections": connections,
        "orders_per_s": orders / elapsed,
        "transactions_per_s": 4 * orders / elapsed,
        "record_intent_p50_ms": percentile(record_ms, 0.5),
        "record_intent_p99_ms": percentile(record_ms, 0.99),
        "order_life_p50_ms": percentile(life_ms, 0.5),
        "order_life_p99_ms": percentile(life_ms, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.orders, args.connections)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
        return
    for name, value in figures.items():
        print(f"{name:>22}: {value:,.2f}")


if __name__ == "__main__":
    main()
