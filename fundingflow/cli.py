"""The ``fundingflow`` command line.

Exit codes: 0 success, 1 an operation failed (message on stderr), 2 a bad argument,
78 a configuration error.
"""

from __future__ import annotations

import sys

import typer

from fundingflow import __version__
from fundingflow.command_plugins import add_registered_commands
from fundingflow.commands import api as api_commands
from fundingflow.commands import backtest as backtest_commands
from fundingflow.commands import connect as connect_commands
from fundingflow.commands import db as db_commands
from fundingflow.commands import execute as execute_commands
from fundingflow.commands import incident as incident_commands
from fundingflow.commands import replay as replay_commands
from fundingflow.commands import run as run_commands
from fundingflow.commands import schemas as schemas_commands
from fundingflow.commands import sink as sink_commands
from fundingflow.commands import stack as stack_commands
from fundingflow.commands import streams as streams_commands
from fundingflow.commands import topics as topics_commands
from fundingflow.log import configure_logging
from schemas.errors import ConfigError
from schemas.errors import FundingflowError

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78

app = typer.Typer(
    name="fundingflow",
    help="Funding-rate and basis arbitrage on Kafka: stack, topics, schemas, pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stack_commands.app, name="stack")
app.add_typer(topics_commands.app, name="topics")
app.add_typer(db_commands.app, name="db")
app.add_typer(schemas_commands.app, name="schemas")
app.add_typer(execute_commands.control_app, name="control")
app.add_typer(incident_commands.app, name="incident")
app.registered_commands += run_commands.app.registered_commands
app.registered_commands += connect_commands.app.registered_commands
app.registered_commands += streams_commands.app.registered_commands
app.add_typer(streams_commands.state_app, name="state")
app.registered_commands += api_commands.app.registered_commands
app.registered_commands += sink_commands.app.registered_commands
app.registered_commands += execute_commands.app.registered_commands
app.registered_commands += replay_commands.app.registered_commands
app.registered_commands += backtest_commands.app.registered_commands
add_registered_commands(app)  # fundingflow bench, from the benchmarks package


@app.command()
def version() -> None:
    """Print the fundingflow version."""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point with the documented exit codes."""
    # every command logs to stderr (stdout holds its table or JSON only); a command that
    # logs more configures its own level and format
    configure_logging("WARNING")
    try:
        app(args=argv, prog_name="fundingflow")
    except SystemExit as exc:  # click's standalone mode: usage errors exit 2
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_FAILURE)
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        return EXIT_CONFIG
    except FundingflowError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
