"""``fundingflow execute | orders | pairs | positions``: the paper (or live) executor and its books.

``execute`` trades approved decisions on the simulated venues by default, through the order
gateway the sim connector serves (``connect --venues sim``); live ccxt venues only with
``--live`` and keys from the environment or the secrets file (``FUNDINGFLOW_CONNECTORS__
VENUES__<ID>__API_KEY`` ...). The other commands read the ledger.
"""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any

import typer

from fundingflow.output import print_json
from fundingflow.output import print_table
from fundingflow.settings import Settings
from fundingflow.settings import load_settings

if TYPE_CHECKING:
    import psycopg

    from executors.venues import OrderVenue

app = typer.Typer(help="Execution.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document only.")]


async def _sim_venues(settings: Settings, gateway: str) -> list[OrderVenue]:
    from connectors.ccxt_venue import CcxtVenue
    from connectors.order_venue import CcxtOrderVenue
    from connectors.sim.remote import RemoteSimExchange
    from connectors.sim.remote import gateway_venues
    from connectors.venues import profile_for

    ids, session = await gateway_venues(gateway)
    return [
        CcxtOrderVenue(
            CcxtVenue(
                RemoteSimExchange(vid, gateway),
                venue_id=vid,
                settings=settings.connectors,
                profile=profile_for("sim"),
            ),
            session=f"paper:{session}",
        )
        for vid in ids
    ]


async def _wait_for_gateway(settings: Settings, url: str, wait_s: float) -> list[OrderVenue]:
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await _sim_venues(settings, url)
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise typer.BadParameter(
                    f"no sim order gateway at {url} ({exc}); start `fundingflow connect"
                    " --venues sim` (or `fundingflow run`) first"
                ) from None
            await asyncio.sleep(0.5)


def _live_venues(settings: Settings, ids: list[str]) -> list[OrderVenue]:
    from connectors.factory import create_venues
    from connectors.order_venue import CcxtOrderVenue

    out: list[OrderVenue] = []
    for vid in ids:
        if not settings.connectors.venue(vid).ccxt_credentials():
            raise typer.BadParameter(
                f"--live {vid}: no API key (set FUNDINGFLOW_CONNECTORS__VENUES__"
                f"{vid.upper()}__API_KEY and __SECRET, or the secrets file)"
            )
        out += [CcxtOrderVenue(v, session="live") for v in create_venues(vid, settings.connectors)]
    return out


async def _execute(
    settings: Settings,
    venues: list[OrderVenue],
    duration: float | None,
    idle: float | None,
    prefix: str,
) -> dict[str, Any]:
    import psycopg
    from confluent_kafka import Consumer

    from connectors.publisher import KafkaPublisher
    from executors.engine import CrashPlan
    from executors.engine import Executor
    from executors.service import ExecutionService
    from executors.service import consumer_config
    from processors.funding_settlements import FundingTolerance
    from schemas.topics import ACCOUNT_POSITION
    from schemas.topics import DLQ_EXEC
    from schemas.topics import EXEC_COMMAND
    from schemas.topics import EXEC_FILL
    from schemas.topics import EXEC_ORDER_EVENT
    from schemas.topics import EXEC_PAIR
    from schemas.topics import OPS_INCIDENT
    from schemas.topics import PORTFOLIO_FUNDING
    from schemas.topics import PORTFOLIO_PNL
    from schemas.topics import PORTFOLIO_POSITION

    publisher = KafkaPublisher(settings.kafka.bootstrap, settings.registry.url, topic_prefix=prefix)
    publisher.register(
        [
            EXEC_COMMAND,
            EXEC_ORDER_EVENT,
            EXEC_FILL,
            ACCOUNT_POSITION,
            EXEC_PAIR,
            OPS_INCIDENT,
            DLQ_EXEC,
            PORTFOLIO_POSITION,
            PORTFOLIO_FUNDING,
            PORTFOLIO_PNL,
        ]
    )
    conn = psycopg.connect(settings.postgres.conninfo(), autocommit=True)
    ex = settings.executor
    executor = Executor(
        conn,
        {v.id: v for v in venues},
        publisher.codec,
        publisher,
        crash=CrashPlan.from_env(),
        max_decision_age_ms=ex.max_decision_age_ms,
        position_tolerance=ex.position_tolerance_base,
        lost_after_ms=ex.lost_after_ms,
        entry_band_bps=ex.entry_band_bps,
        plan=ex.plan_spec(),
    )
    consumer = Consumer(consumer_config(settings.kafka.bootstrap, prefix + ex.group))
    service = ExecutionService(
        executor,
        consumer,
        publisher.codec,
        topic_prefix=prefix,
        reconcile_every_s=ex.reconcile_every_s,
        funding_tolerance=FundingTolerance(ex.funding_tolerance_quote, ex.funding_tolerance_bps),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    try:
        stats = await service.run(stop, until_idle_s=idle)
    finally:
        service.close()
        for v in venues:
            await v.close()
        conn.close()
        publisher.close()
    return {
        "session": executor.session,
        "decisions": stats.decisions,
        "opened": stats.opened,
        "closes": stats.closes,
        "changes": stats.changes,
        "published": stats.published,
        "dead_letters": stats.dead_letters,
        "reconciliations": stats.reconciliations,
        "halted_by_reconciliation": stats.halted_by_reconciliation,
        "funding_settlements": stats.funding_settlements,
        "funding_mismatches": stats.funding_mismatches,
    }


@app.command()
def execute(
    live: Annotated[
        str | None,
        typer.Option("--live", help="Trade these ccxt venues for real (comma list; needs keys)."),
    ] = None,
    gateway: Annotated[
        str | None, typer.Option(help="Order gateway of the sim venues (default from settings).")
    ] = None,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after N seconds.")] = None,
    until_idle: Annotated[
        float | None, typer.Option(min=0.1, help="Stop after N seconds without a message.")
    ] = None,
    topic_prefix: Annotated[
        str, typer.Option(help="Namespace prefix of every topic read and written, and the group.")
    ] = "",
    wait_s: Annotated[
        float, typer.Option("--wait", min=0, help="Seconds to wait for the sim order gateway.")
    ] = 30.0,
    plan: Annotated[
        str | None,
        typer.Option(
            help="Entry plan: MARKET, LIMIT, IOC, FOK, POST_ONLY, ICEBERG, TWAP, VWAP, LEVELS"
            " (default from settings: IOC)."
        ),
    ] = None,
    plan_slices: Annotated[
        int | None, typer.Option(min=0, help="TWAP/VWAP children; LEVELS most levels.")
    ] = None,
    plan_duration_ms: Annotated[
        int | None, typer.Option(min=0, help="TWAP/VWAP span; LIMIT/POST_ONLY/ICEBERG rest.")
    ] = None,
    plan_display_base: Annotated[
        str | None, typer.Option(help="ICEBERG display size, base units.")
    ] = None,
    post_only_retries: Annotated[
        int | None, typer.Option(min=0, help="POST_ONLY retries at the passive price.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Turn approved risk decisions into hedged two-leg positions (paper by default)."""
    from fundingflow.log import configure_logging

    settings = _with_plan(
        load_settings(), plan, plan_slices, plan_duration_ms, plan_display_base, post_only_retries
    )
    configure_logging(settings.log_level, settings.log_json)

    async def main() -> dict[str, Any]:
        if live:
            venues = _live_venues(settings, [v.strip() for v in live.split(",") if v.strip()])
        else:
            url = gateway or settings.executor.gateway_url
            venues = await _wait_for_gateway(settings, url, wait_s)
        return await _execute(settings, venues, duration, until_idle, topic_prefix)

    summary = asyncio.run(main())
    if as_json:
        print_json(summary)
    else:
        print_table("executor", ["field", "value"], [(k, v) for k, v in summary.items()])


def _with_plan(
    settings: Settings,
    plan: str | None,
    slices: int | None,
    duration_ms: int | None,
    display: str | None,
    retries: int | None,
) -> Settings:
    """``settings`` with the plan options given on the command line (a bad one: exit 2)."""
    from decimal import InvalidOperation

    from pydantic import ValidationError

    from schemas.records.execution import PlanKind

    changes: dict[str, Any] = {}
    if plan is not None:
        kinds = [k.value for k in PlanKind if k is not PlanKind.UNKNOWN]
        if plan.upper() not in kinds:
            raise typer.BadParameter(f"--plan {plan!r}: one of {', '.join(kinds)}")
        changes["plan"] = PlanKind(plan.upper())
    if slices is not None:
        changes["plan_slices"] = slices
    if duration_ms is not None:
        changes["plan_duration_ms"] = duration_ms
    if display is not None:
        try:
            changes["plan_display_base"] = Decimal(display)
        except InvalidOperation:
            raise typer.BadParameter(f"--plan-display-base {display!r}: not a number") from None
    if retries is not None:
        changes["post_only_retries"] = retries
    if not changes:
        return settings
    try:
        executor = type(settings.executor).model_validate(
            {**settings.executor.model_dump(), **changes}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise typer.BadParameter(f"plan options: {first['msg']}") from None
    return settings.model_copy(update={"executor": executor})


def _connect(settings: Settings) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(settings.postgres.conninfo(), autocommit=True)


@app.command()
def orders(
    signal_id: Annotated[str | None, typer.Option("--signal", help="One signal's orders.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status, e.g. FILLED.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest N orders.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Orders in the ledger, newest first."""
    from schemas.records.execution import OrderStatus

    if status is not None and status.upper() not in OrderStatus.__members__:
        raise typer.BadParameter(f"--status {status!r}: one of {', '.join(OrderStatus)}")
    sql = (
        "SELECT client_order_id, signal_id, leg_index, slice_index, purpose, exchange, symbol,"
        " side, amount_base, filled_base, average_price_quote, status, updated_ms FROM orders"
    )
    where, params = [], []
    if signal_id is not None:
        where.append("signal_id = %s")
        params.append(signal_id)
    if status is not None:
        where.append("status = %s")
        params.append(status.upper())
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY updated_ms DESC, client_order_id LIMIT %s"
    with _connect(load_settings()) as conn:
        rows = conn.execute(sql, [*params, limit]).fetchall()
    names = [
        "client_order_id", "signal_id", "leg", "slice", "purpose", "exchange", "symbol", "side",
        "size_base", "filled_base", "average_price", "status", "updated_ms",
    ]  # fmt: skip
    if as_json:
        print_json([dict(zip(names, [_plain(v) for v in r], strict=True)) for r in rows])
        return
    print_table("orders", [*names[2:], "client_order_id"], [(*r[2:], r[0]) for r in rows])


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@app.command()
def pairs(
    status: Annotated[str | None, typer.Option(help="Only this status, e.g. HEDGED.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest N pairs.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Two-leg positions, one per approved signal, newest first."""
    from schemas.records.execution import PairStatus

    if status is not None and status.upper() not in PairStatus.__members__:
        raise typer.BadParameter(f"--status {status!r}: one of {', '.join(PairStatus)}")
    sql = (
        "SELECT signal_id, opportunity_id, status, target_size_base, detail, updated_ms,"
        " venue_session FROM pairs"
    )
    params: list[Any] = []
    if status is not None:
        sql += " WHERE status = %s"
        params.append(status.upper())
    sql += " ORDER BY updated_ms DESC, signal_id LIMIT %s"
    with _connect(load_settings()) as conn:
        rows = conn.execute(sql, [*params, limit]).fetchall()
    names = [
        "signal_id",
        "opportunity_id",
        "status",
        "size_base",
        "detail",
        "updated_ms",
        "session",
    ]
    if as_json:
        print_json([dict(zip(names, [_plain(v) for v in r], strict=True)) for r in rows])
        return
    print_table("pairs", names, rows)


@app.command()
def positions(
    session: Annotated[
        str | None, typer.Option(help="One venue session (default: every session).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Net positions per venue and instrument from the ledger's fills (base units, long +)."""
    sql = (
        "SELECT venue_session, exchange, symbol,"
        " sum(CASE side WHEN 'BUY' THEN filled_base ELSE -filled_base END),"
        " sum(CASE side WHEN 'BUY' THEN filled_base * average_price_quote"
        "          ELSE -filled_base * average_price_quote END), count(*)"
        " FROM orders WHERE filled_base > 0"
    )
    params: list[Any] = []
    if session is not None:
        sql += " AND venue_session = %s"
        params.append(session)
    sql += " GROUP BY venue_session, exchange, symbol ORDER BY venue_session, exchange, symbol"
    with _connect(load_settings()) as conn:
        rows = conn.execute(sql, params).fetchall()
    out = []
    for sess, exchange, symbol, net, cost, fills in rows:
        net, cost = Decimal(net), Decimal(cost or 0)
        out.append(
            {
                "session": sess,
                "exchange": exchange,
                "symbol": symbol,
                "net_base": str(net.normalize()),
                "net_cost_quote": str(cost.quantize(Decimal("0.01"))),
                "orders": int(fills),
            }
        )
    if as_json:
        print_json(out)
        return
    print_table(
        "positions",
        ["session", "exchange", "symbol", "net base", "net cost (quote)", "orders"],
        [tuple(r.values()) for r in out],
    )


control_app = typer.Typer(help="Kill switch: stop new orders at once, resume explicitly.")


def _send_control(action: str, reason: str, actor: str, prefix: str, as_json: bool) -> None:
    import time
    import uuid

    from connectors.publisher import KafkaPublisher
    from schemas.records.common import Envelope
    from schemas.records.ops import ControlAction
    from schemas.records.ops import ControlCommand
    from schemas.topics import OPS_CONTROL

    if not reason.strip():
        raise typer.BadParameter("--reason must say why")
    settings = load_settings()
    now = int(time.time() * 1000)
    command = ControlCommand(
        envelope=Envelope(event_id=str(uuid.uuid4()), event_time_ms=now, ingest_time_ms=now),
        action=ControlAction(action),
        actor=actor,
        reason=reason,
        scope="global",
    )
    publisher = KafkaPublisher(settings.kafka.bootstrap, settings.registry.url, topic_prefix=prefix)
    publisher.register([OPS_CONTROL])
    publisher.publish(OPS_CONTROL, command)
    publisher.close()
    summary = {
        "action": action,
        "event_id": command.envelope.event_id,
        "topic": prefix + OPS_CONTROL,
    }
    if as_json:
        print_json(summary)
    else:
        print_table("ops.control", ["field", "value"], list(summary.items()))


Reason = Annotated[str, typer.Option("--reason", help="Why (kept with the command).")]
Actor = Annotated[str, typer.Option("--actor", help="Who.")]
Prefix = Annotated[str, typer.Option("--topic-prefix", help="Namespace of ops.control.")]


@control_app.command("kill")
def kill(
    reason: Reason, actor: Actor = "operator", topic_prefix: Prefix = "", as_json: JsonOpt = False
) -> None:
    """Engage the kill switch: risk approves nothing and the executor sends no new entry."""
    _send_control("KILL_SWITCH_ENGAGE", reason, actor, topic_prefix, as_json)


@control_app.command("resume")
def resume(
    reason: Reason, actor: Actor = "operator", topic_prefix: Prefix = "", as_json: JsonOpt = False
) -> None:
    """Release the kill switch (and a halt from reconciliation of the current session)."""
    _send_control("KILL_SWITCH_RELEASE", reason, actor, topic_prefix, as_json)


@app.command()
def pnl(
    signal_id: Annotated[str | None, typer.Option("--signal", help="One pair only.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """PnL from the ledger's fills and the venues' funding, split so the parts add up: total =
    price + funding - fees - slippage (open holdings valued at their last fill); and funding
    per instrument, expected (the position held at each settlement) against paid (the venue's
    funding history)."""
    import time

    from executors.funding_store import FundingStore
    from executors.ledger import Ledger
    from executors.pair_store import PairStore
    from executors.portfolio import Portfolio
    from schemas.codec import Codec
    from schemas.registry import ConfluentRegistry

    settings = load_settings()
    with _connect(settings) as conn:
        ledger = Ledger(conn)
        book = Portfolio(ledger, PairStore(conn, Codec(ConfluentRegistry(settings.registry.url))))
        book.load(published_only=False)
        snapshots = book.snapshots({}, int(time.time() * 1000))
        funding = FundingStore(conn).by_instrument()
    if signal_id is not None:
        snapshots = [s for s in snapshots if s.scope == signal_id]
        if not snapshots:
            raise typer.BadParameter(f"--signal {signal_id}: no fills for that signal")
    fields = [
        "realized_pnl_quote", "unrealized_pnl_quote", "funding_pnl_quote", "fees_quote",
        "slippage_quote", "price_pnl_quote", "total_pnl_quote", "gross_exposure_quote",
    ]  # fmt: skip
    rows = [
        {"scope": s.scope, **{f: str(_cents(getattr(s, f))) for f in fields}} for s in snapshots
    ]
    money = ("expected_quote", "paid_quote", "difference_quote")
    funding_rows = [{k: str(_cents(v)) if k in money else v for k, v in f.items()} for f in funding]
    if as_json:
        print_json({"pnl": rows, "funding": funding_rows})
        return
    heads = ["scope", "realized", "unrealized", "funding", "fees", "slippage", "price", "total",
             "gross exposure"]  # fmt: skip
    print_table(f"pnl ({snapshots[0].quote_currency})" if snapshots else "pnl", heads,
                [tuple(r.values()) for r in rows])  # fmt: skip
    if signal_id is None:
        print_table(
            "funding: expected vs paid",
            ["exchange", "symbol", "currency", "settlements", "expected", "paid", "paid - expected",
             "mismatches", "last settlement ms"],
            [tuple(r.values()) for r in funding_rows],
        )  # fmt: skip


def _cents(value: Decimal | None) -> Decimal:
    return (value or Decimal(0)).quantize(Decimal("0.01"))
