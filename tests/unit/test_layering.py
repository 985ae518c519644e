"""The rooms keep their walls: ``shared`` never imports a service, and the pure packages
(``shared.contract``, ``shared.domain``) do no I/O — no network, Redis, Kafka client, process
or HTTP library — so their rules can be tested, and reused by the simulator, without a
running system."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE = ("shared/contract", "shared/domain")
IO_MODULES = {
    "aiokafka",
    "aiosmtplib",
    "asyncio",
    "confluent_kafka",
    "fastapi",
    "faust",
    "httpx",
    "mode",
    "redis",
    "smtplib",
    "socket",
    "starlette",
    "subprocess",
    "uvicorn",
}
# the default partitioner's hash (a pure function) is the one part of a Kafka client the
# contract uses: an event's key must land where Kafka's own producers put it
ALLOWED = {"kafka.partitioner.default"}


def imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_pure_packages_import_no_io_library() -> None:
    offenders = []
    for package in PURE:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in imports(path):
                top = name.split(".")[0]
                if name in ALLOWED:
                    continue
                if top in IO_MODULES or top == "kafka":
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_shared_never_imports_a_service_or_the_dev_stack() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "shared").rglob("*.py"))
        for name in imports(path)
        if name.split(".")[0] in {"services", "devstack", "simulator", "bench", "tests"}
    ]
    assert not offenders, "\n".join(offenders)


def test_the_rooms_exist() -> None:
    # a newcomer names the room of a line from its concept (DESIGN.md, "Rooms")
    for room in ("contract", "domain", "readmodel", "store", "platform"):
        assert (ROOT / "shared" / room / "__init__.py").is_file(), room
    loose = {p.name for p in (ROOT / "shared").glob("*.py")} - {"__init__.py", "exceptions.py"}
    assert not loose, loose


def test_every_exception_of_the_project_derives_from_the_root() -> None:
    """One root (shared/exceptions.py); each package's exceptions in its ``exceptions``
    module."""
    builtin = {"Exception", "ValueError", "RuntimeError", "LookupError", "KeyError"}
    strays, misplaced = [], []
    for base in ("shared", "services"):
        for path in sorted((ROOT / base).rglob("*.py")):
            rel = path.relative_to(ROOT)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ClassDef) or node.name == "EgovError":
                    continue
                bases = {ast.unparse(b) for b in node.bases}
                if bases & builtin and "EgovError" not in bases:
                    strays.append(f"{rel}: {node.name}")
                if "EgovError" in bases and path.name != "exceptions.py":
                    misplaced.append(f"{rel}: {node.name}")
    assert not strays, "\n".join(strays)
    assert not misplaced, "\n".join(misplaced)
