"""Modules compiled to C with mypyc (``scripts/compile_rules.py``): the lifecycle rules and
the calculator's per-event planning, which run once per event.

A compiled module's source is the part of its ``.py`` before the line starting with
:data:`MARKER`; the build adds ``SOURCE_SHA256``, the SHA-256 of that part. The ``.py``
calls :func:`use_compiled` at its end: the compiled functions and classes replace its own
only when that digest is its current source's, so a stale build (a rule edited since) is
never used — the Python source is, with a warning. No build (no compiler): the Python
source, same results.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from pathlib import Path
from typing import Any

MARKER = "# -- the compiled copy --"
# source module → its compiled copy
MODULES = {
    "shared.domain.lifecycle": "shared.domain._lifecycle_compiled",
    "shared.store.apply_plan": "shared.store._apply_plan_compiled",
}


def source_part(path: Path) -> str:
    """What is compiled of a module's source: everything before the marker."""
    text = path.read_text("utf-8")
    return text[: text.index(MARKER)]


def source_sha256(path: Path) -> str:
    return hashlib.sha256(source_part(path).encode()).hexdigest()


def use_compiled(namespace: dict[str, Any], file: str, compiled: str) -> bool:
    """Replace the names of ``namespace`` (a module's globals) with those of its compiled
    copy ``compiled`` when that was built from the module's current source; whether it
    was."""
    try:
        fast = importlib.import_module(compiled)
    except ImportError:
        return False
    if getattr(fast, "SOURCE_SHA256", None) != source_sha256(Path(file)):
        logging.getLogger(__name__).warning(
            "%s is stale: using the Python source (rebuild: python scripts/compile_rules.py)",
            compiled,
        )
        return False
    names = [n for n in vars(fast) if not n.startswith("__") and n in namespace]
    namespace.update({n: getattr(fast, n) for n in names})
    return True
