"""The compiled rules (``shared/platform/compiled.py``, ``scripts/compile_rules.py``): the bootstrap
builds them, so the tests run the code production runs; a stale build is never used; and
the compiled rules give what their Python source gives, event by event."""

from __future__ import annotations

import functools
import sys
import types
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import shared.domain.lifecycle as lifecycle
import shared.store.apply_plan as apply_plan
from shared.contract.events import Event
from shared.domain.counting import entity_key
from shared.platform.compiled import MARKER, MODULES, source_part, use_compiled
from tests.integration.test_lifecycle_rules import lifecycle_event, parse

ROOT = Path(__file__).resolve().parents[2]


def test_the_compiled_modules_are_in_use() -> None:
    assert set(MODULES) == {"shared.domain.lifecycle", "shared.store.apply_plan"}
    assert lifecycle.COMPILED, "run scripts/compile_rules.py (the bootstrap does)"
    assert apply_plan.COMPILED
    assert type(lifecycle.apply_entity).__name__ == "builtin_function_or_method"
    assert type(apply_plan.compute_call).__name__ == "builtin_function_or_method"


def test_a_stale_build_is_not_used(tmp_path: Path) -> None:
    source = ROOT / "shared/domain/lifecycle.py"
    edited = tmp_path / "lifecycle.py"
    text = source.read_text("utf-8")
    edited.write_text(text.replace(MARKER, "X = 1\n" + MARKER, 1), "utf-8")
    namespace: dict[str, object] = {"apply_entity": "python"}
    assert not use_compiled(namespace, str(edited), MODULES["shared.domain.lifecycle"])
    assert namespace == {"apply_entity": "python"}
    assert use_compiled(namespace, str(source), MODULES["shared.domain.lifecycle"])
    assert namespace["apply_entity"] is lifecycle.apply_entity


@functools.cache
def python_rules() -> types.ModuleType:
    """The rules from their Python source alone (never swapped for the compiled copy)."""
    module = types.ModuleType("lifecycle_source")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    path = ROOT / "shared/domain/lifecycle.py"
    exec(compile(source_part(path), str(path), "exec"), module.__dict__)
    return module


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_compiled_rules_give_what_the_source_gives(data: st.DataObject) -> None:
    py = python_rules()
    raws = [data.draw(lifecycle_event(n)) for n in range(data.draw(st.integers(1, 16)))]
    events = list(data.draw(st.permutations([parse(r) for r in raws])))
    events += data.draw(st.lists(st.sampled_from(events), max_size=4))  # duplicates
    entities: dict[tuple[str, str], list[Event]] = {}
    for event in events:
        entities.setdefault((event.agency_code, entity_key(event)), []).append(event)
    for (agency, _), mine in entities.items():
        document = mine[0].family == "document"
        ident = mine[0].entity_id
        changes = [lifecycle.Changes(), py.Changes()]
        states: list[bytes | None] = [None, None]
        half = len(mine) // 2
        for batch in (mine[:half], mine[half:]):
            flags = []
            for i, mod in enumerate((lifecycle, py)):
                steps = [mod.step_of(e) for e in batch]
                new, applied = mod.apply_entity(
                    states[i], steps, ident, agency, changes[i], document=document
                )
                states[i] = new if new is not None else states[i]
                flags.append(applied)
            assert flags[0] == flags[1]
            assert states[0] == states[1]
        fast, slow = changes
        assert (fast.counters, fast.holders, fast.paid_online, fast.open, fast.applied) == (
            slow.counters,
            slow.holders,
            slow.paid_online,
            slow.open,
            slow.applied,
        )
