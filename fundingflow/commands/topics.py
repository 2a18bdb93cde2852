"""``fundingflow topics create | list | describe``: topics from the one catalogue."""

from __future__ import annotations

from typing import Annotated

import typer

from fundingflow import topics_admin
from fundingflow.output import print_json
from fundingflow.output import print_table
from fundingflow.settings import load_settings
from schemas.errors import ConfigError

app = typer.Typer(help="Topics of the catalogue (schemas/topics.py) on the broker.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@app.command()
def create(as_json: JsonFlag = False) -> None:
    """Create every catalogue topic and the worker's internal topics that are missing, and
    align configs; idempotent."""
    from fundingflow.settings import worker_settings
    from schemas import topics as catalogue
    from streams.internal_topics import internal_topics

    settings = load_settings()
    actions = topics_admin.create_all(
        settings.kafka.bootstrap,
        [*catalogue.CATALOGUE, *internal_topics(worker_settings(settings))],
        settings.kafka.replication_factor,
        settings.kafka.min_insync_replicas,
    )
    if as_json:
        print_json([{"topic": t, "action": a} for t, a in actions])
    else:
        print_table("topics", ["topic", "action"], actions)


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """Catalogue topics, their specification and whether the broker has them."""
    from schemas import topics as catalogue

    settings = load_settings()
    present = set(topics_admin.broker_topic_names(settings.kafka.bootstrap))
    rows = [
        {
            "topic": s.name,
            "partitions": s.partitions,
            "cleanup": s.cleanup_policy,
            "retention_ms": s.retention_ms,
            "on_broker": s.name in present,
        }
        for s in catalogue.CATALOGUE
    ]
    if as_json:
        print_json(rows)
        return
    print_table(
        "catalogue topics",
        ["topic", "partitions", "cleanup", "retention ms", "on broker"],
        [list(r.values()) for r in rows],
    )


@app.command()
def describe(
    names: Annotated[list[str] | None, typer.Argument(help="Topics; all catalogue topics.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Partitions, replication factor and configuration as the broker reports them."""
    from schemas import topics as catalogue

    settings = load_settings()
    wanted = names or [s.name for s in catalogue.CATALOGUE]
    unknown = [n for n in wanted if n not in {s.name for s in catalogue.CATALOGUE}]
    if unknown:
        raise ConfigError(f"not in the catalogue: {', '.join(unknown)}")
    admin = topics_admin.admin_client(settings.kafka.bootstrap)
    states = topics_admin.describe(admin, wanted)
    if as_json:
        print_json([_state(s) for s in states])
        return
    print_table(
        "topics on the broker",
        ["topic", "partitions", "replication", "config"],
        [
            (
                s.name,
                s.partitions,
                s.replication_factor,
                ", ".join(f"{k}={v}" for k, v in sorted(s.config.items())),
            )
            for s in states
        ],
    )


def _state(state: topics_admin.TopicState) -> dict[str, object]:
    return {
        "topic": state.name,
        "partitions": state.partitions,
        "replication_factor": state.replication_factor,
        "config": state.config,
    }


@app.command()
def tail(
    topic: Annotated[str, typer.Argument(help="A catalogue topic, e.g. md.funding")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest record.")
    ] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after N records.")] = None,
    idle_timeout: Annotated[
        float | None, typer.Option(min=0.1, help="Stop after this many idle seconds.")
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", help="Tail NAMESPACE.TOPIC (a replay's or a bundle's copy)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Decoded records, one per line; undecodable ones shown with their error."""
    from fundingflow.tailing import tail_topic
    from schemas import topics as catalogue
    from schemas.rendering import render

    if topic not in {s.name for s in catalogue.CATALOGUE}:
        raise typer.BadParameter(f"{topic!r} is not a catalogue topic (see `topics list`)")
    if namespace is not None:
        from streams.replay_range import ReplayInputError
        from streams.replay_range import check_namespace

        try:
            check_namespace(namespace)
        except ReplayInputError as exc:
            raise typer.BadParameter(str(exc), param_hint="--namespace") from None
    settings = load_settings()
    for item, position in tail_topic(
        settings.kafka.bootstrap,
        settings.registry.url,
        topic,
        from_beginning=from_beginning,
        limit=limit,
        idle_timeout_s=idle_timeout,
        namespace=namespace,
    ):
        text, as_dict = render(item)
        if as_json:
            print_json({**position, **as_dict})
        else:
            typer.echo(f"{position['partition']}:{position['offset']} {text}")
