"""Paper venues for executor tests: a sim world and its order gateway in a background thread,
and decisions to trade on it.

The world stays at its epoch (nothing steps it), so its books are still and every market
order fills at known prices; the executor under test runs in a subprocess and reaches the
venues over the gateway, as ``fundingflow run`` wires it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.sim.exchange import SimExchange
from connectors.sim.gateway import OrderGateway
from connectors.sim.world import SimWorld
from connectors.sim.world import build_sim_exchanges
from schemas.records.arb import OpportunityLeg
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import Side
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from tests.event_stores import EventProducer
from tests.ledger_db import ScratchSchema

REPO = Path(__file__).resolve().parent.parent
EXECUTOR_TOPICS = (
    "risk.decision",
    "arb.opportunity",
    "ops.control",
    "exec.command",
    "exec.order_event",
    "exec.fill",
    "account.position",
    "exec.pair",
    "ops.incident",
    "dlq.exec",
    "portfolio.position",
    "portfolio.funding",
    "portfolio.pnl",
)


class PaperVenues:
    """The sim venues behind a gateway on a free loopback port, served from a thread."""

    def __init__(self, seed: int = 7, **overrides: Any) -> None:
        self.exchanges: dict[str, SimExchange] = build_sim_exchanges(seed, "max", **overrides)
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="paper-venues", daemon=True)
        self._gateway: OrderGateway | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._gateway = OrderGateway(self.exchanges, "127.0.0.1", 0)
        self.url = self._loop.run_until_complete(self._gateway.start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._gateway.stop())

    def start(self) -> PaperVenues:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the paper venues' gateway did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def now_ms(self) -> int:
        return next(iter(self.exchanges.values())).world.model.now_ms

    def order_log(self) -> list[dict[str, Any]]:
        """Every order any venue accepted, response dropped or not."""
        return [entry for ex in self.exchanges.values() for entry in ex.order_log]

    def client_id_counts(self) -> Counter[str]:
        return Counter(str(entry["clientOrderId"]) for entry in self.order_log())

    def net_positions(self) -> dict[tuple[str, str], Decimal]:
        """Net base size per (venue, perp symbol) as the venues' accounts hold them."""
        out: dict[tuple[str, str], Decimal] = {}
        for vid, ex in self.exchanges.items():
            for symbol in list(ex.account.positions):
                contracts = ex.account.position_contracts(symbol)
                size = ex.world.scenario.markets[(vid, symbol)].contract_size
                if contracts:
                    out[(vid, symbol)] = Decimal(str(contracts)) * Decimal(str(size))
        return out

    def run_for(self, duration_ms: int) -> None:
        """Step the world ``duration_ms`` of sim time (funding settles on the way), on the
        gateway's loop (call it while no executor is running)."""
        world = next(iter(self.exchanges.values())).world
        assert isinstance(world, SimWorld)
        done = threading.Event()

        def step() -> None:
            try:
                world.run_for(duration_ms)
            finally:
                done.set()

        self._loop.call_soon_threadsafe(step)
        if not done.wait(60):
            raise RuntimeError("the paper world did not step in time")


@contextmanager
def paper_venues(seed: int = 7, **overrides: Any) -> Iterator[PaperVenues]:
    venues = PaperVenues(seed, **overrides).start()
    try:
        yield venues
    finally:
        venues.stop()


def perp(exchange: str, asset: str = "ETH") -> InstrumentRef:
    return InstrumentRef(
        exchange=exchange, symbol=f"{asset}/USDT:USDT", market_type=MarketType.PERP
    )


def decision(
    at_ms: int,
    *,
    size: str = "0.05",
    long: InstrumentRef | None = None,
    short: InstrumentRef | None = None,
    decision_id: str | None = None,
    price: str = "3300",
) -> RiskDecision:
    """An approved perp-perp decision: long ``long`` (sim-okx), short ``short`` (sim-bybit)."""
    legs = tuple(
        OpportunityLeg(
            instrument=ins, side=side, entry_price=Decimal(price), fee_rate_bps=Decimal("5")
        )
        for ins, side in (
            (long or perp("sim-okx"), Side.BUY),
            (short or perp("sim-bybit"), Side.SELL),
        )
    )
    did = decision_id or str(uuid.uuid4())
    return RiskDecision(
        envelope=Envelope(event_id=str(uuid.uuid4()), event_time_ms=at_ms, ingest_time_ms=at_ms),
        decision_id=did,
        opportunity_id=f"opp-{did}",
        outcome=RiskOutcome.APPROVED,
        reasons=(),
        legs=legs,
        approved_size_base=Decimal(size),
        approved_notional_quote=Decimal(size) * 3300,
    )


def executor_command(gateway: str, prefix: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "fundingflow", "execute", "--gateway", gateway,
        "--topic-prefix", prefix, "--wait", "5", *extra,
    ]  # fmt: skip


def executor_env(schema: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDINGFLOW_EXECUTOR_")}
    env.update({"FUNDINGFLOW_POSTGRES__SCHEMA_NAME": schema, "FUNDINGFLOW_LOG_JSON": "true"})
    env.update(extra)
    return env


def start_executor(
    gateway: str, prefix: str, schema: str, log: Path, *extra: str, **env: str
) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        executor_command(gateway, prefix, *extra),
        cwd=REPO,
        env=executor_env(schema, **env),
        stdout=out,
        stderr=out,
    )


def read_topic(bootstrap: str, registry_url: str, topic: str, idle_s: float = 3.0) -> list[Any]:
    """Every record on ``topic`` from the beginning (until nothing arrives for ``idle_s``)."""
    import time

    from confluent_kafka import Consumer

    from schemas.codec import Codec
    from schemas.registry import ConfluentRegistry

    codec = Codec(ConfluentRegistry(registry_url))
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-read-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            for message in consumer.consume(500, 0.5):
                if message.error() is None and message.value():
                    out.append(codec.decode(message.value() or b""))
                    last = time.monotonic()
    finally:
        consumer.close()
    return out


def submit_on(venues: PaperVenues, venue: str, symbol: str, side: str, amount: float) -> None:
    """Place an order on a venue directly, as someone else on the account would."""
    exchange = venues.exchanges[venue]
    future = asyncio.run_coroutine_threadsafe(
        exchange.create_order(symbol, "market", side, amount), venues._loop
    )
    future.result(10)


class Run:
    def __init__(
        self, venues: PaperVenues, schema: ScratchSchema, prefix: str, bootstrap: str,
        registry: str, tmp: Path,
    ) -> None:  # fmt: skip
        self.venues, self.schema, self.prefix = venues, schema, prefix
        self.bootstrap, self.registry = bootstrap, registry
        self.log = tmp / "executor.log"
        self.producer = EventProducer(bootstrap, registry, prefix)

    def decide(self, n: int, **kwargs: object) -> list[str]:
        made = [decision(self.venues.now_ms, **kwargs) for _ in range(n)]  # type: ignore[arg-type]
        self.producer.send(("risk.decision", d) for d in made)
        return [d.decision_id for d in made]

    def execute(self, **env: str) -> int:
        proc = start_executor(
            self.venues.url, self.prefix, self.schema.name, self.log, "--until-idle", "4", **env
        )
        return proc.wait(timeout=180)

    def pairs(self) -> dict[str, str]:
        with self.schema.connect() as conn:
            rows = conn.execute("SELECT signal_id, status FROM pairs").fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def pair_detail(self, signal: str) -> str:
        with self.schema.connect() as conn:
            row = conn.execute(
                "SELECT detail FROM pairs WHERE signal_id = %s", (signal,)
            ).fetchone()
        return "" if row is None or row[0] is None else str(row[0])

    def ledger_net(self) -> dict[tuple[str, str], Decimal]:
        with self.schema.connect() as conn:
            rows = conn.execute(
                "SELECT exchange, symbol, sum(CASE side WHEN 'BUY' THEN filled_base"
                " ELSE -filled_base END) FROM orders GROUP BY exchange, symbol"
            ).fetchall()
        return {(str(r[0]), str(r[1])): Decimal(r[2]) for r in rows if Decimal(r[2]) != 0}


@contextmanager
def executor_run(
    tag: str, postgres_conninfo: str, kafka_bootstrap: str, registry_url: str, tmp_path: Path
) -> Iterator[Run]:
    """Paper venues, a scratch ledger schema and the executor's topics under a fresh prefix
    (``t-TAG-…``), as one :class:`Run`; everything removed afterwards."""
    from tests.event_stores import create_topics
    from tests.event_stores import delete_topics
    from tests.ledger_db import scratch_schema

    prefix = f"t-{tag}-{uuid.uuid4().hex[:8]}."
    create_topics(kafka_bootstrap, prefix, EXECUTOR_TOPICS)
    try:
        with paper_venues() as venues, scratch_schema(postgres_conninfo) as schema:
            yield Run(venues, schema, prefix, kafka_bootstrap, registry_url, tmp_path)
    finally:
        delete_topics(kafka_bootstrap, prefix, EXECUTOR_TOPICS)
