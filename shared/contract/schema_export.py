"""JSON Schema files of contract v1.2, one per entity family, generated from the pydantic
models (topics and files keep their `.v1` names: every v1 and v1.1 event is a valid v1.2
event). The dossier topic carries dossier, petition and procedure events; the document
topic document events.

``python -m shared.contract.schema_export`` rewrites ``shared/contract/schemas/``; a test
fails when the committed files differ from what the models generate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from shared.contract.events import (
    CONTRACT_VERSION,
    DocumentEventV1,
    DossierEventV1,
    PetitionEventV1,
    ProcedureEventV1,
)

SCHEMA_DIR = Path(__file__).parent / "schemas"


def generated_schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    v = CONTRACT_VERSION
    for name, adapter, title in (
        ("dossier-event.v1.schema.json", TypeAdapter(DossierEventV1), f"Dossier event v{v}"),
        ("petition-event.v1.schema.json", TypeAdapter(PetitionEventV1), f"Petition event v{v}"),
        (
            "procedure-event.v1.schema.json",
            TypeAdapter(ProcedureEventV1),
            f"Procedure event v{v}",
        ),
        ("document-event.v1.schema.json", TypeAdapter(DocumentEventV1), f"Document event v{v}"),
    ):
        schema = adapter.json_schema()
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://egov-monitor.local/schemas/{name}",
            **schema,
            "title": title,  # over a single model's own title (the procedure event's)
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
