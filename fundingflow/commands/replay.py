"""``fundingflow replay``: re-run the stream agents over a recorded range, in a namespace."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any

import typer

from fundingflow.output import err_console
from fundingflow.output import print_json
from fundingflow.output import print_table
from fundingflow.settings import Settings
from fundingflow.settings import load_settings
from fundingflow.settings import worker_settings
from schemas.errors import FundingflowError

if TYPE_CHECKING:
    from streams.config import StreamsSettings
    from streams.replay import ReplaySource
    from streams.replay_range import Bound

app = typer.Typer()


class ReplayDigestMismatch(FundingflowError):  # noqa: N818 - reads as the outcome
    """The replay worker's state differs from the offline replay of its sequenced input."""


BOUND_HELP = "ISO-8601 time, epoch ms, offset:N (every partition) or P:N,P:N"
SOURCES = ("auto", "kafka", "store")


@app.command()
def replay(
    start: Annotated[str, typer.Option("--from", help=f"Inclusive start: {BOUND_HELP}.")],
    end: Annotated[str, typer.Option("--to", help=f"Exclusive end: {BOUND_HELP}.")],
    into: Annotated[
        str, typer.Option("--into", help="New topic namespace, e.g. replay-1 (replay-1.md.book).")
    ],
    topics: Annotated[
        str | None,
        typer.Option(help="Comma list of catalogue topics or globs (md.*); default: market data."),
    ] = None,
    speed: Annotated[
        str, typer.Option(help="Re-publish pace by event time: 1x, 10x, ... or max.")
    ] = "max",
    digest: Annotated[
        bool, typer.Option("--digest", help="Print the state digest (checked offline).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    source: Annotated[
        str,
        typer.Option(
            help="kafka, store (QuestDB + PostgreSQL, time bounds only) or auto: Kafka while "
            "it still holds the range, else the store."
        ),
    ] = "auto",
    table_prefix: Annotated[
        str, typer.Option(help="Store: prefix of the QuestDB table names (as the sink's).")
    ] = "",
    pg_schema: Annotated[
        str | None, typer.Option(help="Store: PostgreSQL schema of the event tables.")
    ] = None,
) -> None:
    """Re-publish a recorded range into NAMESPACE.* (keys, partitions, order and bytes kept)
    and run the stream agents over it under the namespace's own app id until they consumed
    it all. The range comes from Kafka or, once retention has passed, from the event stores."""
    from streams.replay import ReplayRun
    from streams.replay import parse_speed
    from streams.replay_range import ReplayInputError
    from streams.replay_range import check_namespace
    from streams.replay_range import check_order
    from streams.replay_range import parse_bound
    from streams.replay_range import select_topics

    settings = load_settings()
    base = worker_settings(settings)
    try:
        if source not in SOURCES:
            raise ReplayInputError(f"--source {source!r}: use one of {', '.join(SOURCES)}")
        first, stop = parse_bound(start, "--from"), parse_bound(end, "--to")
        check_order(first, stop)
        namespace = check_namespace(into)
        chosen = select_topics(topics)
        factor = parse_speed(speed)
        plan, why = _choose_source(
            settings, base, source, chosen, first, stop, topics is not None, table_prefix, pg_schema
        )
        if plan.total == 0:
            where = "the event stores hold" if plan.name == "store" else "the range holds"
            raise ReplayInputError(
                f"{where} no message of {', '.join(chosen)} --from {start} --to {end} ({why})"
            )
    except ReplayInputError as exc:
        raise typer.BadParameter(str(exc)) from None
    workdir = (settings.stack.home / "replay" / namespace).resolve()
    with _progress(plan.total) as progress:
        run = ReplayRun(
            base,
            namespace,
            plan,
            workdir,
            speed=factor,
            offline_check=digest,
            replication_factor=settings.kafka.replication_factor,
            progress=progress,
        )
        try:
            result = run.run()
        except ReplayInputError as exc:
            raise typer.BadParameter(str(exc)) from None
    document = result.as_json()
    document["source_reason"] = why
    if not digest:
        document.pop("digest")
        document.pop("offline_digest")
    if as_json:
        print_json(document)
    else:
        rows: list[tuple[str, Any]] = [
            ("namespace", result.namespace),
            ("app id", result.app_id),
            ("source", f"{plan.name} ({why})"),
            ("topics", ", ".join(plan.topics)),
            ("re-published", result.republished),
            ("re-publish rate", f"{result.republish_rate:,.0f} events/s"),
            ("agents done after", f"{result.agents_s:.1f} s"),
            ("elapsed", f"{result.elapsed_s:.1f} s"),
            ("opportunities", result.opportunities),
            ("decisions", result.decisions),
            ("worker restarts", result.worker_restarts),
        ]
        if digest:
            rows += [("digest", result.digest), ("offline replay", result.offline_digest)]
        print_table("replay", ["", "value"], rows)
    if digest and result.digest != result.offline_digest:
        raise ReplayDigestMismatch("the replay's state differs from the offline replay")


def _choose_source(
    settings: Settings,
    base: StreamsSettings,
    source: str,
    topics: list[str],
    first: Bound,
    stop: Bound,
    explicit: bool,
    table_prefix: str,
    pg_schema: str | None,
) -> tuple[ReplaySource, str]:
    """The range from Kafka or the store (``auto``: Kafka while it holds the whole range),
    and why that source."""
    from streams.replay import kafka_gap
    from streams.replay import plan_range
    from streams.replay_range import ReplayInputError

    timed = first.kind == "time" and stop.kind == "time"
    why = f"--source {source}"
    if source == "store" and not timed:
        raise ReplayInputError(
            "offset bounds are Kafka's: the store replays a time range (--from/--to TIME)"
        )
    if source == "auto":
        gap = (
            kafka_gap(
                base.bootstrap, topics, first, explicit=explicit, source_prefix=base.topic_prefix
            )
            if timed
            else None
        )
        source = "store" if gap is not None else "kafka"
        why = f"auto: {gap}" if gap is not None else "auto: Kafka still holds the range"
    if source == "store":
        return _store_plan(
            settings, topics, first.time_ms, stop.time_ms, table_prefix, pg_schema
        ), why
    plan = plan_range(
        base.bootstrap, topics, first, stop, explicit=explicit, source_prefix=base.topic_prefix
    )
    return plan, why


def _store_plan(
    settings: Settings,
    topics: list[str],
    start_ms: int,
    end_ms: int,
    table_prefix: str,
    pg_schema: str | None,
) -> ReplaySource:
    """The event stores' copy of the range (refused as :class:`ReplayInputError`)."""
    from connectors.storage.questdb_store import QuestdbStore
    from connectors.storage.store_range import StoreRangeError
    from connectors.storage.store_range import StoreReader
    from schemas.codec import Codec
    from schemas.registry import ConfluentRegistry
    from streams.replay_range import ReplayInputError

    q = settings.questdb
    reader = StoreReader(
        QuestdbStore(q.host, q.http_port, table_prefix=table_prefix),
        settings.postgres.conninfo(),
        Codec(ConfluentRegistry(settings.registry.url)),
        options=f"-c search_path={pg_schema}" if pg_schema else None,
    )
    try:
        return reader.plan(topics, start_ms, end_ms)
    except StoreRangeError as exc:
        raise ReplayInputError(str(exc)) from None


class _progress:  # noqa: N801 - used as a context manager, like a function
    """A rich progress bar on stderr: re-published events, then inputs sequenced."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn
        from rich.progress import MofNCompleteColumn
        from rich.progress import Progress
        from rich.progress import TextColumn
        from rich.progress import TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        )
        self.tasks = {
            "republish": self.bar.add_task("re-publish", total=total),
            "apply": self.bar.add_task("agents", total=None, start=False),
        }

    def __call__(self, stage: str, done: int, total: int) -> None:
        task = self.tasks[stage]
        if stage == "apply":
            self.bar.start_task(task)
        self.bar.update(task, completed=done, total=total or None)

    def __enter__(self) -> _progress:
        self.bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.bar.stop()
