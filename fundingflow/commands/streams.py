"""``fundingflow worker | scan`` and ``fundingflow state digest``: the stream processors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fundingflow.output import err_console
from fundingflow.output import print_json
from fundingflow.output import print_table
from fundingflow.settings import load_settings
from fundingflow.settings import worker_settings
from schemas.errors import FundingflowError

app = typer.Typer()
state_app = typer.Typer(help="Table state of the worker, and its offline replay.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


class DigestMismatch(FundingflowError):  # noqa: N818 - reads as the outcome
    """The worker's state differs from an offline replay of the same input."""


@app.command()
def worker() -> None:
    """Run the Faust agents (market state, spreads, opportunities, risk) until Ctrl-C."""
    from fundingflow.log import configure_logging
    from streams.worker import run_worker

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    run_worker(worker_settings(settings))


@app.command()
def scan(
    venues: Annotated[str, typer.Option(help="sim, or ccxt ids such as binanceusdm,okx,bybit")],
    assets: Annotated[str | None, typer.Option(help="Base assets, e.g. BTC,ETH; all.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated market.")] = 0,
    all_candidates: Annotated[
        bool, typer.Option("--all", help="Also list candidates below the open thresholds.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """One snapshot of the venues through the same processors: ranked opportunities."""
    from connectors.cli_commands import parse_assets
    from connectors.cli_commands import parse_venues
    from fundingflow.scan import TABLE_COLUMNS
    from fundingflow.scan import scan_report
    from fundingflow.scan import table_rows

    try:
        venue_ids = parse_venues(venues)
        asset_list = parse_assets(assets) if assets else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    settings = load_settings()
    report = scan_report(
        venue_ids,
        asset_list,
        settings.streams.market,
        seed=seed,
        all_candidates=all_candidates,
        connectors=settings.connectors,
    )
    for line in report.refusal_lines():
        err_console.print(line)
    rows = report.rows
    if as_json:
        print_json([r.as_json() for r in rows])
        return
    title = "candidates" if all_candidates else "opportunities net of all costs"
    print_table(f"{title} ({', '.join(venue_ids)})", TABLE_COLUMNS, table_rows(rows))
    if not rows:
        err_console.print("no candidates on this snapshot")
    elif not all_candidates and all(r.blocked_by for r in rows):
        err_console.print("nothing passes the open thresholds now; best candidates shown above")


@state_app.command()
def digest(
    until_offsets: Annotated[
        str | None,
        typer.Option(
            help='JSON cut {"topic": {"partition": offset}}; default: the worker\'s last cut.'
        ),
    ] = None,
    digest_file: Annotated[
        Path | None, typer.Option(help="The worker's digest file; default from settings.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replay the input up to an offset cut offline and compare with the worker's digest."""
    from streams.digest import digest_at_cut
    from streams.digest import read_digest
    from streams.digest import replay_settings

    settings = load_settings()
    streams_settings = worker_settings(settings)
    path = digest_file or streams_settings.digest_path
    recorded = read_digest(path) if path is not None else None
    if until_offsets is not None:
        try:
            raw = json.loads(until_offsets)
            cut = {t: {int(p): int(o) for p, o in parts.items()} for t, parts in raw.items()}
        except (ValueError, AttributeError, TypeError) as exc:
            raise typer.BadParameter(f"--until-offsets must be a JSON cut: {exc}") from None
    elif recorded is not None:
        cut = recorded["cut"]
    else:
        raise typer.BadParameter(f"no worker digest at {path}; pass --until-offsets")
    if recorded is not None:
        streams_settings = replay_settings(streams_settings, recorded)
    replayed = digest_at_cut(
        streams_settings.bootstrap, streams_settings.registry_url, cut, streams_settings
    )
    same_cut = recorded is not None and recorded["cut"] == cut
    worker_digest = recorded["digest"] if same_cut and recorded is not None else None
    result = {"cut": cut, "replayed_digest": replayed, "worker_digest": worker_digest}
    if as_json:
        print_json(result)
    else:
        print_table(
            "state digest",
            ["source", "digest"],
            [("offline replay", replayed), ("worker", worker_digest or "(not at this cut)")],
        )
    if worker_digest is not None and worker_digest != replayed:
        raise DigestMismatch("the worker's state differs from the replay of its input")
