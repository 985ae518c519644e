"""Command line of the simulator: ``simulate appendix-2024``, ``simulate live``, ``replay``.

``app`` is runnable as ``python -m simulator``; ``simulate_app`` and ``replay_command`` are
what the project-wide ``egov`` CLI mounts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.platform.config import get_settings
from simulator.appendix2024 import DEFAULT_SEED, YearStream

console = Console()
simulate_app = typer.Typer(
    help="Sinh dữ liệu mô phỏng — generate simulated event streams.", no_args_is_help=True
)


@simulate_app.command("appendix-2024")
def appendix_2024(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for events.ndjson and procedures.csv")
    ],
    seed: Annotated[int, typer.Option(help="Same seed, byte-identical output")] = DEFAULT_SEED,
    lifecycle_fraction: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Share of dossiers with lifecycle events (0: received only)"
        ),
    ] = 1.0,
    documents_per_agency: Annotated[
        int | None,
        typer.Option(min=0, help="Document events per agency (default 1,200 / 3,000 a district)"),
    ] = None,
    agency: Annotated[
        list[str] | None, typer.Option(help="Only these agencies (repeatable)")
    ] = None,
) -> None:
    """The year 2024 as events, consistent with the published appendix (Công văn 112)."""
    try:
        stream = YearStream(
            seed=seed,
            lifecycle_fraction=lifecycle_fraction,
            documents_per_agency=documents_per_agency,
            agencies=tuple(agency) if agency else None,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    rows = stream.rows()
    dossiers = sum(r.hstn_total for r in rows)
    with Progress(
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("events", total=None)
        result = stream.write(out, progress=lambda n: progress.update(task, completed=n))
    console.print(
        f"{result.events:,} events ({dossiers:,} dossiers of {len(rows)} agencies) in "
        f"{result.seconds:.1f}s ({result.events / max(result.seconds, 1e-9):,.0f} events/s), "
        f"{result.bytes / 1e6:,.1f} MB → {result.events_path}"
    )
    console.print(
        "  "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(result.by_type.items(), key=lambda kv: -kv[1]))
    )
    console.print(f"procedure catalog → {result.procedures_path}")


@simulate_app.command("live")
def live(
    ingest_url: Annotated[str, typer.Option(envvar="INGEST_URL")] = "http://127.0.0.1:8081",
    token: Annotated[str, typer.Option(envvar="INGEST_TOKEN")] = "dev-ingest-token",
    rate: Annotated[float, typer.Option(min=0.0, help="Events per second in working hours")] = 20.0,
    duration: Annotated[float | None, typer.Option(help="Seconds; default: until Ctrl-C")] = None,
    seed: Annotated[int | None, typer.Option(help="Fix the random choices")] = None,
) -> None:
    """A realistic live stream into the ingest API (working hours heavier): the units of the
    agency catalog valid today — the 117 units of the merged province."""
    from simulator.live import run_live

    accepted = run_live(ingest_url, token, rate, duration, seed=seed, report=console.print)
    console.print(f"live: {accepted:,} events accepted")


def replay_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="NDJSON or CSV")],
    ingest_url: Annotated[
        str | None, typer.Option(help="Send through the ingest API, e.g. http://127.0.0.1:8081")
    ] = None,
    token: Annotated[str, typer.Option(envvar="INGEST_TOKEN")] = "dev-ingest-token",
    kafka_bootstrap: Annotated[
        str | None, typer.Option(help="Produce straight to Kafka, e.g. 127.0.0.1:9092")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue after the last checkpoint (<file>.checkpoint)")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per request / flush")] = 1000,
    validate: Annotated[
        bool, typer.Option(help="Check events here first and send only the valid ones")
    ] = False,
) -> None:
    """Replay an NDJSON or CSV file of events; prints what was rejected."""
    from simulator.replay import IngestSink, KafkaSink, Sink, replay, summary_lines

    if (ingest_url is None) == (kafka_bootstrap is None):
        raise typer.BadParameter("give exactly one of --ingest-url or --kafka-bootstrap")
    sink: Sink
    if ingest_url is not None:
        sink = IngestSink(ingest_url, token, on_wait=lambda m: console.log(m))
    else:
        sink = KafkaSink(str(kafka_bootstrap), get_settings())
    summary = replay(
        file, sink, batch_size=batch_size, resume=resume, validate=validate, console=console
    )
    for line in summary_lines(summary):
        console.print(line, highlight=False, markup=False)
    if summary.interrupted:
        raise typer.Exit(130)


app = typer.Typer(
    help="egov-monitor simulator: generated event streams and replays.", no_args_is_help=True
)
app.add_typer(simulate_app, name="simulate")
app.command("replay")(replay_command)
