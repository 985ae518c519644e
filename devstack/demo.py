"""Demo source of `make run`: the simulator's live stream into the local ingest service —
the province of today, the 117 units of the merged An Giang (``simulator.province``).

Run with ``python -m devstack.demo`` (env ``INGEST_URL``, ``INGEST_TOKEN``, ``DEMO_RATE``;
``DEMO_HISTORY=0`` skips the 12 closed months it first posts, ``devstack/demo_history.py``).
Outside working hours the stream slows to a trickle, as the province's systems do.
"""

from __future__ import annotations

import os

from simulator.live import run_live


def main() -> None:
    ingest_url = os.environ.get("INGEST_URL", "http://127.0.0.1:8081")
    token = os.environ.get("INGEST_TOKEN", "dev-ingest-token")
    if os.environ.get("DEMO_HISTORY", "1") != "0":
        # the 12 closed months first (devstack/demo_history.py): the public results page
        # publishes closed months only
        from devstack.demo_history import backfill
        from devstack.stack import RunLayout

        backfill(ingest_url, token, RunLayout.default().data / "demo-history")
    run_live(ingest_url, token, float(os.environ.get("DEMO_RATE", "20")))


if __name__ == "__main__":
    main()
