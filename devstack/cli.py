"""`egov` command line: the local stack, simulations and replays, operations."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from devstack import stack
from services.calculator.catalog_cli import (
    catalog_app,
    rebuild_command,
    restore_command,
    snapshot_command,
)
from simulator.cli import replay_command, simulate_app

app = typer.Typer(
    help="egov-monitor — giám sát chỉ tiêu chính quyền điện tử.", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

DemoOption = Annotated[bool, typer.Option(help="Start the demo source (devstack/demo.py).")]
KafkaBrokersOption = Annotated[
    int,
    typer.Option(
        "--kafka-brokers",
        min=1,
        max=stack.MAX_KAFKA_BROKERS,
        help="Kafka nodes: 1 (default), or a cluster (3: replication 3, min.insync.replicas 2).",
    ),
]
RedisClusterOption = Annotated[
    bool,
    typer.Option(
        "--redis-cluster",
        help="Redis Cluster: 3 primaries + 3 replicas on the Redis port and the 5 above "
        "(EGOV_REDIS_URL becomes redis+cluster://…); default one server.",
    ),
]


def _fail(message: str, code: int = 1) -> NoReturn:
    errors.print(Text("error: ", style="bold red") + Text(message))
    raise typer.Exit(code)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt, so `up`/`run` clean up on both (also
    when started with SIGINT ignored, as a background job of a script is)."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start(demo: bool, kafka_brokers: int = 1, redis_cluster: bool = False) -> dict[str, str]:
    console.print("starting egov-monitor (step, seconds, note)")
    try:
        return stack.up(with_demo=demo, kafka_brokers=kafka_brokers, redis_cluster=redis_cluster)
    except stack.StackError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        errors.print("interrupted: stopped what had started")
        raise typer.Exit(130) from None
    except Exception as exc:  # a process that did not come up: its log tail is in the message
        _fail(f"the stack did not start (stopped what had started): {exc}")


@app.command()
def up(
    demo: DemoOption = True,
    kafka_brokers: KafkaBrokersOption = 1,
    redis_cluster: RedisClusterOption = False,
) -> None:
    """Start the stack in the background; write .run/stack.env (URLs, tokens)."""
    with _signals_interrupt():
        urls = _start(demo, kafka_brokers, redis_cluster)
    console.print(stack.describe(urls), markup=False)


@app.command()
def down() -> None:
    """Stop exactly the processes `up` started (idempotent)."""
    stopped = stack.down()
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def status() -> None:
    """Which of the stack's processes are running; exit 1 unless all are."""
    processes = stack.status()
    if not processes:
        console.print("the stack is not running (no pid files)")
        raise typer.Exit(1)
    table = Table("process", "pid", "state", box=None)
    for p in processes:
        table.add_row(
            p.name, str(p.pid or "?"), Text("up", "green") if p.running else Text("DOWN", "red")
        )
    console.print(table)
    env = stack.read_stack_env()
    for key in (
        "PUBLIC_URL",
        "BOARD_URL",
        "MAIL_DIR",
        "API_DOCS_URL",
        "INGEST_URL",
        "PROMETHEUS_URL",
        "KAFKA_BOOTSTRAP",
        "REDIS_URL",
    ):
        if key in env:
            console.print(f"{key:<16} {env[key]}", markup=False)
    if not all(p.running for p in processes):
        raise typer.Exit(1)


@app.command()
def run(
    demo: DemoOption = True,
    kafka_brokers: KafkaBrokersOption = 1,
    redis_cluster: RedisClusterOption = False,
) -> None:
    """Start the stack in the foreground; Ctrl-C (or SIGTERM) stops everything cleanly."""
    try:
        with _signals_interrupt():
            urls = _start(demo, kafka_brokers, redis_cluster)
            console.print(stack.describe(urls), markup=False)
            console.print("Ctrl-C stops everything.")
            reported: set[str] = set()
            while True:
                time.sleep(1.0)
                for p in stack.status():
                    if not p.running and p.name not in reported:
                        reported.add(p.name)
                        errors.print(
                            f"warning: {p.name} exited; see {stack.RunLayout.default().logs}",
                            markup=False,
                        )
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not cut the clean stop short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        console.print("\nstopping…")
        stopped = stack.down()
        console.print("stopped: " + (", ".join(stopped) if stopped else "nothing"))


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
app.command("snapshot")(snapshot_command)
app.command("restore")(restore_command)
app.add_typer(catalog_app, name="catalog")
app.add_typer(simulate_app, name="simulate")
app.command("replay")(replay_command)
