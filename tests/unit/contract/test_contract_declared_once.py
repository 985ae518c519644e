"""The contract is declared once: the pydantic models of ``shared.contract.events`` are the
declaration; the msgspec structs of the fast path (``shared.contract.fastevents``) are checked
against them here, field by field — names, types, enums, bounds, defaults and which fields
are required — through the JSON Schema each library derives. A field added to one and not
the other, a changed bound or enum, or a changed default fails this test."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from shared.contract import fastevents
from shared.contract.events import EVENT_MODELS


def _normal(node: Any, defs: dict[str, Any]) -> Any:
    """A schema fragment without titles, references resolved, enums as sorted lists."""
    if isinstance(node, list):
        return [_normal(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _normal(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    out = {k: _normal(v, defs) for k, v in node.items() if k not in {"title", "$defs"}}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "enum" in out:
        out["enum"] = sorted(out["enum"])
        out.pop("type", None)
    if "required" in out:
        out["required"] = sorted(out["required"])
    return out


def _pydantic(model: type) -> Any:
    schema = model.model_json_schema()  # type: ignore[attr-defined]
    return _normal(schema, schema.get("$defs", {}))


def _msgspec(struct: type) -> Any:
    schema = msgspec.json.schema(struct)
    defs = schema.get("$defs", {})
    return _normal(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)


PAIRS = sorted(fastevents._MODELS.items(), key=lambda kv: kv[1].__name__)


@pytest.mark.parametrize(("struct", "model"), PAIRS, ids=[m.__name__ for _, m in PAIRS])
def test_fast_struct_declares_exactly_the_model(struct: type, model: type) -> None:
    fast, slow = _msgspec(struct), _pydantic(model)
    assert fast["required"] == slow["required"]
    assert fast["properties"] == slow["properties"]


def test_every_event_type_has_a_fast_struct_of_its_model() -> None:
    tags = {s.__struct_config__.tag: m for s, m in fastevents._MODELS.items()}
    assert tags == EVENT_MODELS
