"""Compile the modules of ``shared.platform.compiled.MODULES`` (the lifecycle rules and the
calculator's per-event planning) to C extensions with mypyc, each carrying the SHA-256 of
the source it was built from (``shared/platform/compiled.py`` uses a build only when that matches).
``--if-stale``: only when a build is missing or does not match its source.

    python scripts/compile_rules.py [--if-stale]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.platform.compiled import MODULES, source_part, source_sha256  # noqa: E402


def path_of(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def built() -> dict[str, str | None]:
    """Per compiled module, the SHA-256 its build carries (None: none, or it won't load)."""
    probe = (
        "import importlib, sys; sys.path.insert(0, sys.argv[1])\n"
        "for name in sys.argv[2:]:\n"
        "    try: print(importlib.import_module(name).SOURCE_SHA256)\n"
        "    except Exception: print('-')\n"
    )
    names = list(MODULES.values())
    done = subprocess.run(
        [sys.executable, "-c", probe, str(ROOT), *names],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != len(names):
        return dict.fromkeys(names)
    return {n: (v if v != "-" else None) for n, v in zip(names, lines, strict=True)}


def main() -> int:
    want = {compiled: source_sha256(path_of(src)) for src, compiled in MODULES.items()}
    if "--if-stale" in sys.argv and built() == want:
        return 0
    copies = []
    for src, compiled in MODULES.items():
        copy = path_of(compiled)
        copy.write_text(
            source_part(path_of(src)) + f'\n\nSOURCE_SHA256 = "{want[compiled]}"\n', "utf-8"
        )
        copies.append(copy)
    had_build = (ROOT / "build").exists()  # mypyc builds in ./build
    try:
        # one module per run: each its own extension in its package, no shared library at
        # the top level (which an installed package would not find)
        for copy in copies:
            done = subprocess.run(
                [str(Path(sys.executable).with_name("mypyc")), str(copy)],
                cwd=ROOT,
                env={**os.environ, "MYPYC_OPT_LEVEL": "3"},
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                break
    finally:
        for copy in copies:
            copy.unlink()
        if not had_build:
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
        return 1
    if built() != want:
        print("the compiled modules do not load", file=sys.stderr)
        return 1
    print("compiled " + ", ".join(f"{m} ({s[:12]})" for m, s in want.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
