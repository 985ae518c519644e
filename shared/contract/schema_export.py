"""JSON Schema files of contract v1.1, generated from the pydantic models (topics keep
their `.v1` names: every v1 event is a valid v1.1 event).

``python -m shared.contract.schema_export`` rewrites ``shared/contract/schemas/``; a test
fails when the committed files differ from what the models generate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from shared.contract.events import DocumentEventV1, DossierEventV1

SCHEMA_DIR = Path(__file__).parent / "schemas"


def generated_schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, adapter, title in (
        ("dossier-event.v1.schema.json", TypeAdapter(DossierEventV1), "Dossier event v1.1"),
        ("document-event.v1.schema.json", TypeAdapter(DocumentEventV1), "Document event v1.1"),
    ):
        schema = adapter.json_schema()
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://egov-monitor.local/schemas/{name}",
            "title": title,
            **schema,
        }
        out[name] = schema
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, schema in generated_schemas().items():
        (SCHEMA_DIR / name).write_text(render(schema), encoding="utf-8")
        print(f"wrote {SCHEMA_DIR / name}")


if __name__ == "__main__":
    main()
