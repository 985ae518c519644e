"""Services never import each other: what two services share lives in ``shared/``.

Every module under ``services/`` is parsed (``ast``, nothing is imported); a module of
service X (``services/X/…`` or ``services/X.py``) importing ``services.Y`` with Y ≠ X fails."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"


def service_of(path: Path, root: Path) -> str:
    return path.relative_to(root).parts[0].removesuffix(".py")


def imported(tree: ast.AST, module: str) -> list[str]:
    """Absolute names of every module ``tree`` imports (relative imports resolved)."""
    package = module.rsplit(".", 1)[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def crossings(root: Path) -> list[str]:
    out: list[str] = []
    for path in sorted(root.rglob("*.py")):
        own = service_of(path, root)
        module = ".".join(("services", *path.relative_to(root).with_suffix("").parts))
        for name in imported(ast.parse(path.read_text(), str(path)), module):
            parts = name.split(".")
            if parts[0] != "services" or len(parts) < 2 or parts[1] == own:
                continue
            if (root / parts[1]).is_dir() or (root / f"{parts[1]}.py").is_file():
                out.append(f"{path.relative_to(root.parent)}: imports {name}")
    return sorted(set(out))


def test_no_service_imports_another() -> None:
    assert crossings(SERVICES) == []


def test_the_rule_sees_absolute_and_relative_imports(tmp_path: Path) -> None:
    root = tmp_path / "services"
    for pkg in ("alerts", "calculator", "api"):
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "alerts" / "a.py").write_text("from services.calculator.updates import X\n")
    (root / "api" / "b.py").write_text("from ..alerts import model\nimport shared.domain\n")
    (root / "calculator" / "c.py").write_text("from services.calculator import lag\n")
    assert crossings(root) == [
        "services/alerts/a.py: imports services.calculator.updates",
        "services/alerts/a.py: imports services.calculator.updates.X",
        "services/api/b.py: imports services.alerts",
        "services/api/b.py: imports services.alerts.model",
    ]
