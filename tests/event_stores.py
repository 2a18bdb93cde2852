"""Test harness of the sinks: namespaced topics, event streams, store counts and a cuttable proxy.

Every test names its own topic prefix, consumer group prefix, PostgreSQL scratch schema
(``tests.ledger_db``) and QuestDB table prefix, so parallel runs never meet.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from confluent_kafka import Consumer
from confluent_kafka import Producer
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import NewTopic

from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.registry import ConfluentRegistry
from schemas.samples import sample
from schemas.topics import by_name
from schemas.topics import key_for
from tests.ledger_db import ScratchSchema

T0_MS = 1_767_225_600_000
"""2026-01-01T00:00:00Z."""


def namespace() -> str:
    """A fresh name fragment for one test's topics, groups and tables."""
    return f"sinktest{uuid.uuid4().hex[:10]}"


def events(record_type: type[AvroRecord], count: int, *, start: int = 0) -> list[AvroRecord]:
    """``count`` sample records with fresh event ids and event times one ms apart."""
    base = sample(record_type)
    out: list[AvroRecord] = []
    for i in range(start, start + count):
        env = base.envelope.model_copy(  # type: ignore[attr-defined]
            update={"event_id": str(uuid.uuid4()), "event_time_ms": T0_MS + i}
        )
        out.append(base.model_copy(update={"envelope": env}))
    return out


def create_topics(bootstrap: str, prefix: str, topics: Iterable[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(f"{prefix}{t}", min(by_name(t).partitions, 3), 1) for t in topics]
    for future in admin.create_topics(new).values():
        future.result(timeout=30)


def delete_topics(bootstrap: str, prefix: str, topics: Iterable[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics([f"{prefix}{t}" for t in topics]).values():
        with contextlib.suppress(Exception):
            future.result(timeout=30)


@dataclass
class EventProducer:
    """Produces (catalogue topic, record) pairs into a namespace, as the pipeline frames them."""

    bootstrap: str
    registry_url: str
    prefix: str
    codec: Codec = field(init=False)
    producer: Producer = field(init=False)

    def __post_init__(self) -> None:
        self.codec = Codec(ConfluentRegistry(self.registry_url))
        self.producer = Producer(
            {"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "linger.ms": 5}
        )

    def send(self, items: Iterable[tuple[str, AvroRecord]]) -> int:
        sent = 0
        for topic, record in items:
            value = self.codec.encode(record, topic)
            while True:
                try:
                    self.producer.produce(f"{self.prefix}{topic}", value, key_for(record))
                    break
                except BufferError:
                    self.producer.poll(0.1)
            sent += 1
        remaining = self.producer.flush(30)
        assert remaining == 0, f"{remaining} messages not delivered"
        return sent

    def send_paced(
        self, items: Sequence[tuple[str, AvroRecord]], chunk: int, pause_s: float
    ) -> threading.Thread:
        """Send ``items`` in chunks with pauses, in a background thread (mid-stream faults)."""

        def run() -> None:
            for i in range(0, len(items), chunk):
                self.send(items[i : i + chunk])
                time.sleep(pause_s)

        thread = threading.Thread(target=run, name="paced-producer")
        thread.start()
        return thread


def committed_offsets(bootstrap: str, group_id: str, topics: Iterable[str]) -> dict[str, int]:
    """``topic:partition`` -> the offset ``group_id`` committed (negative: none yet)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False}
    )
    try:
        names = list(topics)
        meta = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(t, p) for t in names for p in sorted(meta.topics[t].partitions)
        ]
        return {
            f"{tp.topic}:{tp.partition}": tp.offset
            for tp in consumer.committed(partitions, timeout=10)
        }
    finally:
        consumer.close()


def caught_up(bootstrap: str, group_id: str, topics: Iterable[str]) -> bool:
    """True when ``group_id`` has committed every partition of ``topics`` up to its end."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False}
    )
    try:
        names = list(topics)
        meta = consumer.list_topics(timeout=10)
        partitions = [
            TopicPartition(t, p) for t in names for p in sorted(meta.topics[t].partitions)
        ]
        for tp in consumer.committed(partitions, timeout=10):
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            if high > 0 and tp.offset < high:
                return False
        return True
    finally:
        consumer.close()


def wait_until(condition: Callable[[], bool], timeout_s: float, every_s: float = 0.5) -> bool:
    """True once ``condition()`` holds, False when ``timeout_s`` passed first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


def pg_positions(schema: ScratchSchema, table: str) -> list[tuple[str, int, int, str]]:
    """(topic, partition, offset, event id) of every row of ``table``, in Kafka order."""
    with schema.connect() as conn:
        rows = conn.execute(
            f"SELECT topic, kafka_partition, kafka_offset, event_id FROM {table}"
            " ORDER BY topic, kafka_partition, kafka_offset"
        ).fetchall()
    return [(str(t), int(p), int(o), str(e)) for t, p, o, e in rows]


def pg_count(schema: ScratchSchema, table: str) -> int:
    with schema.connect() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def questdb_query(http_url: str, query: str) -> list[list[object]]:
    url = f"{http_url}/exec?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as resp:
        answer = json.loads(resp.read())
    rows: list[list[object]] = answer.get("dataset", [])
    return rows


def questdb_counts(http_url: str, table: str) -> tuple[int, int]:
    """(rows, distinct event ids) of ``table``; (0, 0) before the table exists."""
    try:
        rows = questdb_query(http_url, f"SELECT count(), count_distinct(event_id) FROM {table}")
    except OSError:
        return 0, 0
    if not rows:
        return 0, 0
    return int(str(rows[0][0])), int(str(rows[0][1] or 0))


def questdb_settled(http_url: str, table: str) -> bool:
    """True when every committed WAL transaction of ``table`` is applied (counts are final)."""
    try:
        rows = questdb_query(
            http_url, f"SELECT writerTxn, sequencerTxn FROM wal_tables() WHERE name = '{table}'"
        )
    except OSError:
        return False
    return bool(rows) and rows[0][0] == rows[0][1]


def questdb_drop(http_url: str, table: str) -> None:
    with contextlib.suppress(OSError):
        questdb_query(http_url, f"DROP TABLE IF EXISTS {table}")


def no_gaps(positions: Sequence[tuple[str, int, int, str]]) -> bool:
    """Per (topic, partition), offsets run 0, 1, 2, ... without a hole or a repeat."""
    expected: dict[tuple[str, int], int] = {}
    for topic, partition, offset, _ in positions:
        key = (topic, partition)
        if offset != expected.get(key, 0):
            return False
        expected[key] = offset + 1
    return True


class LoopbackProxy:
    """A TCP proxy on a free loopback port to ``target``; :meth:`cut` refuses and drops every
    connection (the database looks down) until :meth:`restore`."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            victims, self._sockets = self._sockets, []
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept thread (Linux)
            listener.close()
        for s in victims:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
