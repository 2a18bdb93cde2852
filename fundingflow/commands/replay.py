"""``fundingflow replay``: re-run the stream agents over a recorded range, in a namespace."""

from __future__ import annotations

from typing import Annotated
from typing import Any

import typer

from fundingflow.output import err_console
from fundingflow.output import print_json
from fundingflow.output import print_table
from fundingflow.settings import load_settings
from fundingflow.settings import worker_settings
from schemas.errors import FundingflowError

app = typer.Typer()


class ReplayDigestMismatch(FundingflowError):  # noqa: N818 - reads as the outcome
    """The replay worker's state differs from the offline replay of its sequenced input."""


BOUND_HELP = "ISO-8601 time, epoch ms, offset:N (every partition) or P:N,P:N"


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
) -> None:
    """Re-publish a recorded range into NAMESPACE.* (keys, partitions, order and bytes kept)
    and run the stream agents over it under the namespace's own app id until they consumed
    it all."""
    from streams.replay import ReplayRun
    from streams.replay import parse_speed
    from streams.replay import plan_range
    from streams.replay_range import ReplayInputError
    from streams.replay_range import check_namespace
    from streams.replay_range import check_order
    from streams.replay_range import parse_bound
    from streams.replay_range import select_topics

    settings = load_settings()
    base = worker_settings(settings)
    try:
        first, stop = parse_bound(start, "--from"), parse_bound(end, "--to")
        check_order(first, stop)
        namespace = check_namespace(into)
        chosen = select_topics(topics)
        factor = parse_speed(speed)
        plan = plan_range(
            base.bootstrap,
            chosen,
            first,
            stop,
            explicit=topics is not None,
            source_prefix=base.topic_prefix,
        )
        if plan.total == 0:
            raise ReplayInputError(
                f"the range --from {start} --to {end} holds no message of {', '.join(chosen)}"
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
    if not digest:
        document.pop("digest")
        document.pop("offline_digest")
    if as_json:
        print_json(document)
    else:
        rows: list[tuple[str, Any]] = [
            ("namespace", result.namespace),
            ("app id", result.app_id),
            ("topics", ", ".join(plan.topics)),
            ("re-published", result.republished),
            ("re-publish rate", f"{result.republish_rate:,.0f} events/s"),
            ("agents done after", f"{result.agents_s:.1f} s"),
            ("elapsed", f"{result.elapsed_s:.1f} s"),
            ("opportunities", result.opportunities),
            ("decisions", result.decisions),
        ]
        if digest:
            rows += [("digest", result.digest), ("offline replay", result.offline_digest)]
        print_table("replay", ["", "value"], rows)
    if digest and result.digest != result.offline_digest:
        raise ReplayDigestMismatch("the replay's state differs from the offline replay")


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
