"""`egov` command line: the local stack, simulations and replays, operations."""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Annotated

import typer

from devstack import stack
from services.catalog_cli import catalog_app, rebuild_command
from simulator.cli import replay_command, simulate_app

app = typer.Typer(
    help="egov-monitor — giám sát chỉ tiêu chính quyền điện tử.", no_args_is_help=True
)


@app.command()
def up(demo: bool = typer.Option(True, help="Stream demo events")) -> None:
    """Start the stack in the background and write .run/stack.env."""
    try:
        urls = stack.up(with_demo=demo)
    except BaseException:
        stack.down()
        raise
    print(stack.describe(urls))


@app.command()
def down() -> None:
    """Stop exactly the processes `up` started."""
    stopped = stack.down()
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def status() -> None:
    """Show which of the stack's processes are alive."""
    for name, alive in stack.status().items():
        print(f"{name:<12} {'up' if alive else 'DOWN'}")


@app.command()
def run(demo: bool = typer.Option(True, help="Stream demo events")) -> None:
    """Start the stack in the foreground; Ctrl-C stops everything cleanly."""
    stop = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        urls = stack.up(with_demo=demo)
        print(stack.describe(urls), flush=True)
        print("Ctrl-C to stop.", flush=True)
        while not stop:
            time.sleep(0.5)
    finally:
        print("\nstopping…", flush=True)
        stopped = stack.down()
        print("stopped: " + ", ".join(stopped), flush=True)


grafana_app = typer.Typer(help="Grafana: upload the dashboards as code.", no_args_is_help=True)


@grafana_app.command("push")
def grafana_push(
    url: Annotated[
        str, typer.Option(envvar="GRAFANA_URL", help="e.g. https://grafana.tinh.gov.vn")
    ],
    token: Annotated[str, typer.Option(envvar="GRAFANA_TOKEN", help="service account token")],
    prometheus_url: Annotated[
        str | None, typer.Option(help="Prometheus as Grafana sees it")
    ] = None,
) -> None:
    """Create or update the Prometheus datasource and every dashboard in an existing Grafana."""
    from dashboards.push import push

    for uid in push(url, token, prometheus_url):
        print(f"pushed {uid}")


app.add_typer(grafana_app, name="grafana")
app.command("rebuild")(rebuild_command)
app.add_typer(catalog_app, name="catalog")
app.add_typer(simulate_app, name="simulate")
app.command("replay")(replay_command)
