"""Demo source of `make run`: the simulator's live stream into the local ingest service.

Run with ``python -m devstack.demo`` (env ``INGEST_URL``, ``INGEST_TOKEN``, ``DEMO_RATE``).
Outside working hours the stream slows to a trickle, as the province's systems do.
"""

from __future__ import annotations

import os

from simulator.live import run_live


def main() -> None:
    run_live(
        os.environ.get("INGEST_URL", "http://127.0.0.1:8081"),
        os.environ.get("INGEST_TOKEN", "dev-ingest-token"),
        float(os.environ.get("DEMO_RATE", "20")),
    )


if __name__ == "__main__":
    main()
