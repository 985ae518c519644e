"""Upload the datasource and dashboards to an existing Grafana (grafana-client)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError

from dashboards.build import OUT

DATASOURCE_FILE = OUT.parent / "provisioning" / "datasources" / "prometheus.yml"
FOLDER_UID = "egov-monitor"


def datasource(prometheus_url: str | None) -> dict[str, Any]:
    spec = yaml.safe_load(DATASOURCE_FILE.read_text())["datasources"][0]
    ds = {
        "name": spec["name"],
        "uid": spec["uid"],
        "type": spec["type"],
        "access": spec["access"],
        "url": prometheus_url or spec["url"],
        "isDefault": True,
    }
    return ds


def push(
    url: str, token: str, prometheus_url: str | None = None, folder: str = "egov-monitor"
) -> list[str]:
    """Create or update the datasource, the folder and every dashboard; returns their uids."""
    api = GrafanaApi.from_url(url, credential=token)
    ds = datasource(prometheus_url)
    try:
        api.datasource.get_datasource_by_uid(ds["uid"])
        api.datasource.update_datasource_by_uid(ds["uid"], ds)
    except GrafanaClientError:
        api.datasource.create_datasource(ds)
    try:
        api.folder.get_folder(FOLDER_UID)
    except GrafanaClientError:
        api.folder.create_folder(folder, uid=FOLDER_UID)
    uids = []
    for path in sorted(Path(OUT).glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        api.dashboard.update_dashboard(
            {
                "dashboard": board,
                "folderUid": FOLDER_UID,
                "overwrite": True,
                "message": "egov-monitor push",
            }
        )
        uids.append(board["uid"])
    return uids
