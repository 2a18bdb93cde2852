"""Run the Faust worker: in this process (``run_worker``) or as a child (``start_worker``).

``python -m streams.worker '<StreamsSettings JSON>'`` is the child's entry point; the lead's
``fundingflow worker`` command calls :func:`run_worker` with settings built from
``fundingflow.settings``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import structlog

from streams.app import create_app
from streams.config import StreamsSettings
from streams.digest import worker_digest
from streams.digest import write_digest
from streams.internal_topics import ensure_internal_topics
from streams.internal_topics import ensure_source_topics
from streams.sequencer import start_sequencer
from streams.wiring import Wiring

log = structlog.get_logger("streams")


def install_digest_writer(wiring: Wiring, path: Path) -> None:
    """Write the tables' digest and its cut to ``path`` periodically and on shutdown."""
    app = wiring.app

    def write() -> None:
        write_digest(path, worker_digest(wiring))

    @app.timer(wiring.settings.digest_interval_s)  # type: ignore[untyped-decorator]
    async def _digest_timer() -> None:
        await fill_idle_positions(wiring)
        write()

    @app.on_before_shutdown.connect  # type: ignore[untyped-decorator]
    def _digest_on_shutdown(_app: Any, **_: Any) -> None:
        write()


async def fill_idle_positions(wiring: Wiring) -> None:
    """Give the cut a position for sequenced partitions idle since start (nothing processed):
    the cut stored with the table state (what the recovered state includes), else the
    consumer's position there."""
    sequenced = {wiring.settings.md_sequenced, wiring.settings.risk_sequenced}
    consumer = wiring.app.consumer
    for tp in sorted(consumer.assignment()):
        if tp.topic not in sequenced or tp.partition in wiring.positions.get(tp.topic, {}):
            continue
        offset = wiring.stored_cut(tp.topic, tp.partition)
        if offset is None:
            offset = await consumer.position(tp)
        if offset is not None and offset > 0:
            wiring.positions.setdefault(tp.topic, {})[tp.partition] = offset


def install_stall_check(wiring: Wiring) -> None:
    """Rewind sequenced partitions that stalled past their cut (see
    :meth:`streams.cut_guard.CutGuard.stalled`), checked every second."""
    settings = wiring.settings
    if settings.stall_after_s is None:
        return
    interval = min(1.0, settings.stall_after_s / 2)

    @wiring.app.timer(interval)  # type: ignore[untyped-decorator]
    async def _stall_check() -> None:
        await rewind_stalled(wiring)


async def rewind_stalled(wiring: Wiring) -> list[tuple[str, int, int]]:
    """Seek each stalled sequenced partition back to its cut; returns what was rewound."""
    app, consumer = wiring.app, wiring.app.consumer
    if app.rebalancing or not consumer.flow_active:
        return []
    sequenced = {wiring.settings.md_sequenced, wiring.settings.risk_sequenced}
    ahead = []
    assigned = {tp: tp for tp in consumer.assignment() if tp.topic in sequenced}
    for tp in sorted(assigned):
        try:
            position = await asyncio.wait_for(consumer.position(tp), 2.0)
        except Exception:  # not known yet (no fetch): the log end still is
            position = None
        ahead.append((tp.topic, tp.partition, max(position or 0, consumer.highwater(tp) or 0)))
    rewound = wiring.guard.stalled(ahead)
    by_key = {(tp.topic, tp.partition): tp for tp in assigned}
    for topic, partition, cut in rewound:
        log.warning("sequenced_partition_stalled", topic=topic, partition=partition, cut=cut)
        await consumer.seek(by_key[(topic, partition)], cut)
    return rewound


def build(settings: StreamsSettings) -> Wiring:
    wiring = create_app(settings)
    install_stall_check(wiring)
    if settings.digest_path is not None:
        install_digest_writer(wiring, settings.digest_path)
    return wiring


def run_worker(settings: StreamsSettings) -> None:
    """Run the agents until SIGINT/SIGTERM (Faust's worker handles both, gracefully)."""
    import faust

    use_event_loop(settings.event_loop)
    if settings.create_internal_topics:
        ensure_internal_topics(settings)
    if settings.sequencer:
        ensure_source_topics(settings)  # before the sequencer subscribes to them
    wiring = build(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last folder
    if settings.sequencer:
        start_sequencer(settings, wiring.codec)
    worker = faust.Worker(wiring.app, loglevel=settings.log_level, quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG and spins on every record: every
    # ``log.debug`` of aiokafka and Faust (several per message) would build a LogRecord.
    worker.spinner = None
    worker.execute_from_commandline()


def use_event_loop(name: str | None) -> bool:
    """Install the event loop policy ``name`` (e.g. ``uvloop``) if it is importable."""
    if name is None:
        return False
    try:
        import mode.loop

        mode.loop.use(name)
    except ImportError:
        return False
    return True


def start_worker(
    settings: StreamsSettings, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start the worker as a child process (stop it with ``terminate()``; ``kill()`` crashes it)."""
    out = log_path.open("ab") if log_path is not None else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "streams.worker", settings.model_dump_json()],
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    settings = StreamsSettings.model_validate_json(args[0]) if args else StreamsSettings()
    run_worker(settings)


if __name__ == "__main__":
    main()
