"""`egov grafana push` against an HTTP server that answers like Grafana's API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dashboards.push import push
from devstack.ports import free_port


def test_push_sends_datasource_folder_and_every_dashboard() -> None:
    calls: list[tuple[str, str, dict[str, Any] | None, str]] = []

    class FakeGrafana(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            calls.append((self.command, self.path, body, self.headers.get("Authorization", "")))

        def do_GET(self) -> None:
            self._record()
            self._answer(404, {"message": "not found"})  # nothing exists yet

        def do_POST(self) -> None:
            self._record()
            self._answer(200, {"status": "success", "uid": "x", "id": 1})

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), FakeGrafana)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uids = push(
            f"http://127.0.0.1:{server.server_address[1]}",
            "glsa_test",
            prometheus_url="http://prometheus.tinh:9090",
        )
    finally:
        server.shutdown()
    assert sorted(uids) == ["egov-agency", "egov-health", "egov-overview", "egov-ranking"]
    posts = [(path, body) for method, path, body, _ in calls if method == "POST"]
    ds = next(body for path, body in posts if path == "/api/datasources")
    assert (
        ds is not None and ds["uid"] == "prometheus" and ds["url"] == "http://prometheus.tinh:9090"
    )
    assert any(path == "/api/folders" for path, _ in posts)
    boards = [body for path, body in posts if path == "/api/dashboards/db"]
    assert len(boards) == 4 and all(
        b["overwrite"] and b["folderUid"] == "egov-monitor" for b in boards if b
    )
    assert all(auth == "Bearer glsa_test" for *_, auth in calls)
