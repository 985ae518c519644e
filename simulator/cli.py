"""`egov simulate …` and `egov replay …` (also ``python -m simulator``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import Progress

from shared.config import get_settings
from simulator.appendix2024 import YearStream
from simulator.replay import IngestSink, KafkaSink, replay

console = Console()
simulate_app = typer.Typer(
    help="Sinh dữ liệu mô phỏng — generate simulated event streams.", no_args_is_help=True
)


@simulate_app.command("appendix-2024")
def appendix_2024(
    out: Annotated[Path, typer.Option(help="Directory for events.ndjson and procedures.csv")],
    seed: int = 2024,
    lifecycle_fraction: Annotated[float, typer.Option(min=0.0, max=1.0)] = 1.0,
) -> None:
    """The year 2024 as events, consistent with the published appendix (Công văn 112)."""
    stream = YearStream(seed=seed, lifecycle_fraction=lifecycle_fraction)
    out.mkdir(parents=True, exist_ok=True)
    (out / "procedures.csv").write_text(stream.catalog().to_csv_text(), encoding="utf-8")
    started = time.perf_counter()
    n = 0
    with (out / "events.ndjson").open("wb") as fh, Progress(console=console) as progress:
        task = progress.add_task("generating", total=None)
        for event in stream.events():
            fh.write(orjson.dumps(event) + b"\n")
            n += 1
            if n % 50_000 == 0:
                progress.update(task, completed=n)
    console.print(
        f"{n:,} events in {time.perf_counter() - started:.1f}s → {out}/events.ndjson; "
        f"catalog → {out}/procedures.csv"
    )


@simulate_app.command("live")
def live(
    ingest_url: Annotated[str, typer.Option(envvar="INGEST_URL")] = "http://127.0.0.1:8081",
    token: Annotated[str, typer.Option(envvar="INGEST_TOKEN")] = "dev-ingest-token",
    rate: Annotated[float, typer.Option(help="Events per second in working hours")] = 20.0,
    duration: Annotated[float | None, typer.Option(help="Seconds; default: until Ctrl-C")] = None,
) -> None:
    """A realistic live stream into the ingest API (working hours heavier)."""
    from simulator.live import run_live

    run_live(ingest_url, token, rate, duration)


def replay_command(
    file: Path,
    ingest_url: Annotated[str | None, typer.Option(help="Send through the ingest API")] = None,
    token: Annotated[str, typer.Option(envvar="INGEST_TOKEN")] = "dev-ingest-token",
    kafka_bootstrap: Annotated[str | None, typer.Option(help="Produce straight to Kafka")] = None,
    resume: Annotated[bool, typer.Option(help="Continue after the last checkpoint")] = False,
    batch_size: int = 1000,
) -> None:
    """Replay an NDJSON or CSV file of events; prints what was rejected."""
    if (ingest_url is None) == (kafka_bootstrap is None):
        raise typer.BadParameter("give exactly one of --ingest-url or --kafka-bootstrap")
    sink = (
        IngestSink(ingest_url, token)
        if ingest_url is not None
        else KafkaSink(str(kafka_bootstrap), get_settings())
    )
    summary = replay(file, sink, batch_size=batch_size, resume=resume)
    console.print(
        f"sent {summary.sent:,} (skipped {summary.skipped:,} already done), "
        f"accepted {summary.accepted:,}, rejected {sum(summary.rejected.values()):,} "
        f"in {summary.seconds:.1f}s ({summary.rate:,.0f} events/s)"
    )
    for (field_name, code), n in summary.rejected.most_common(10):
        console.print(f"  rejected {n:>8,}  {field_name}: {code}")
