"""Upload the datasource and dashboards to an existing Grafana through its HTTP API.

grafana-client was tried first (DESIGN.md's choice) and replaced with these few httpx calls:
its dependency niquests installs urllib3-future, which overwrites the ``urllib3`` package
and breaks every requests-based tool in the same environment (schemathesis among them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml

from dashboards.build import OUT

DATASOURCE_FILE = OUT.parent / "provisioning" / "datasources" / "prometheus.yml"
FOLDER_UID = "egov-monitor"


def datasource(prometheus_url: str | None) -> dict[str, Any]:
    spec = yaml.safe_load(DATASOURCE_FILE.read_text())["datasources"][0]
    return {
        "name": spec["name"],
        "uid": spec["uid"],
        "type": spec["type"],
        "access": spec["access"],
        "url": prometheus_url or spec["url"],
        "isDefault": True,
    }


def push(
    url: str, token: str, prometheus_url: str | None = None, folder: str = "egov-monitor"
) -> list[str]:
    """Create or update the datasource, the folder and every dashboard; returns their uids."""
    with httpx.Client(
        base_url=url.rstrip("/"), timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        ds = datasource(prometheus_url)
        if client.get(f"/api/datasources/uid/{ds['uid']}").status_code == 200:
            client.put(f"/api/datasources/uid/{ds['uid']}", json=ds).raise_for_status()
        else:
            client.post("/api/datasources", json=ds).raise_for_status()
        if client.get(f"/api/folders/{FOLDER_UID}").status_code != 200:
            client.post(
                "/api/folders", json={"title": folder, "uid": FOLDER_UID}
            ).raise_for_status()
        uids = []
        for path in sorted(Path(OUT).glob("*.json")):
            board = json.loads(path.read_text(encoding="utf-8"))
            client.post(
                "/api/dashboards/db",
                json={
                    "dashboard": board,
                    "folderUid": FOLDER_UID,
                    "overwrite": True,
                    "message": "egov-monitor push",
                },
            ).raise_for_status()
            uids.append(board["uid"])
    return uids
