"""Prometheus metrics of the sinks: lag, write rate, availability of the store."""

from __future__ import annotations

from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram

ROWS_WRITTEN = Counter(
    "fundingflow_sink_rows_written_total",
    "Rows a sink handed to its store in committed batches (re-consumed rows included)",
    ["sink", "table"],
)
EVENTS_CONSUMED = Counter(
    "fundingflow_sink_events_total", "Events a sink wrote and committed", ["sink", "topic"]
)
UNDECODABLE = Counter(
    "fundingflow_sink_undecodable_total",
    "Messages a sink could not decode (skipped; the producers' DLQs hold bad input)",
    ["sink", "topic"],
)
WRITE_SECONDS = Histogram(
    "fundingflow_sink_batch_write_seconds",
    "Time to make one batch durable in the store",
    ["sink"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WRITE_RATE = Gauge(
    "fundingflow_sink_write_rows_per_second", "Rows per second of the last batch write", ["sink"]
)
LAG_RECORDS = Gauge(
    "fundingflow_sink_lag_records",
    "Records between a partition's high watermark and the sink's last committed offset",
    ["sink", "topic", "partition"],
)
LAG_SECONDS = Gauge(
    "fundingflow_sink_lag_seconds",
    "Wall-clock age of the newest committed message (its Kafka timestamp)",
    ["sink"],
)
STORE_UP = Gauge(
    "fundingflow_sink_store_up",
    "1 while the sink can write to its store, 0 while it waits",
    ["sink"],
)
WRITE_FAILURES = Counter(
    "fundingflow_sink_write_failures_total",
    "Batches the store refused for being unreachable (each is retried, never committed)",
    ["sink"],
)
