"""Links that hold (issue 23 item 4): every relative link and image of the README, the
CHANGELOG and ``docs/`` points at a file that exists, every ``#anchor`` at a heading of its
page (GitHub's slugs), every ``make X`` they name is a Makefile target and every ``egov X``
a command (with its options) of the ``egov`` typer app — the production commands and the
local stack's. The README stays short and links every page of ``docs/``."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer

import devstack.cli  # noqa: F401  (registers the local stack's commands on `egov`)
from services.ops.cli import app as egov_app

ROOT = Path(__file__).resolve().parents[3]
PAGES = (
    "integrating",
    "operating",
    "api",
    "indicators",
    "architecture",
    "performance",
    "configuration",
)
FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def split_code(text: str) -> tuple[list[str], list[str]]:
    """(prose lines with code spans blanked, code: fenced lines and inline spans)."""
    prose: list[str] = []
    code: list[str] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            prose.append("")
            continue
        if fenced:
            code.append(line)
            prose.append("")
            continue
        code += [m.group(2) for m in CODE_SPAN.finditer(line)]
        prose.append(CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line))
    return prose, code


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped (letters of
    every script, digits, '-' and '_' kept), spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    kept = "".join(
        ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N", "M")
    )
    return kept.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return frozenset(found)


def links(path: Path) -> Iterator[tuple[int, str]]:
    prose, _ = split_code(path.read_text(encoding="utf-8"))
    for number, line in enumerate(prose, 1):
        for match in LINK.finditer(line):
            yield number, match.group(1)


def test_the_slugs_are_githubs() -> None:
    assert slug("Planned: contract v1.2") == "planned-contract-v12"
    assert slug("The `egov` command") == "the-egov-command"
    assert slug("One event's path") == "one-events-path"
    assert slug("Backups: snapshots and restore") == "backups-snapshots-and-restore"
    assert slug("Tổng quan toàn tỉnh") == "tổng-quan-toàn-tỉnh"


def test_every_relative_link_and_anchor_resolves() -> None:
    dead = []
    checked = 0
    for doc in documents():
        for number, target in links(doc):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            checked += 1
            file_part, _, anchor = target.partition("#")
            linked = (doc.parent / file_part).resolve() if file_part else doc
            where = f"{doc.relative_to(ROOT)}:{number}: {target}"
            if not linked.exists():
                dead.append(f"{where} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                dead.append(f"{where} (no heading #{anchor} in {linked.name})")
            elif anchor and linked.suffix != ".md":
                dead.append(f"{where} (an anchor into a file that is not Markdown)")
    assert checked > 50, checked  # the walk really found the links
    assert not dead, "dead links:\n" + "\n".join(dead)


def test_a_dead_link_or_anchor_is_caught(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## A section: here\n\n[ok](#a-section-here) [bad](#nowhere) "
        "`[not a link](nowhere.md)`\n\n```md\n[also not](gone.md)\n```\n[gone](gone.md)\n",
        encoding="utf-8",
    )
    found = dict((t, n) for n, t in links(page))
    assert set(found) == {"#a-section-here", "#nowhere", "gone.md"}
    assert anchors(page) == {"title", "a-section-here"}


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-zA-Z][\w-]*):", text, flags=re.M))


def test_every_make_target_named_exists() -> None:
    targets = makefile_targets()
    named: dict[str, str] = {}
    for doc in documents():
        _, code = split_code(doc.read_text(encoding="utf-8"))
        for snippet in code:
            for target in re.findall(r"(?:^|[\s;&|(])make\s+([a-z][\w-]*)", snippet):
                named.setdefault(target, str(doc.relative_to(ROOT)))
    assert {"run", "test", "config-docs"} <= set(named), named
    missing = {t: doc for t, doc in named.items() if t not in targets}
    assert not missing, f"make targets named in the docs but not in the Makefile: {missing}"


def check_egov(words: list[str]) -> str | None:
    """None when ``egov <words…>`` names an existing command and options, else why not."""
    command: Any = typer.main.get_command(egov_app)  # a group: ``.commands`` by name
    path = "egov"
    for word in words:
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
            if name not in known:
                return f"{path}: no option {name}"
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            continue  # a command's argument or an option's value
        names = [w for w in word.split("|") if w]
        for name in names:
            if name not in subcommands:
                return f"{path}: no command {name!r}"
        command, path = subcommands[names[0]], f"{path} {names[0]}"
    return None


def egov_invocations(snippet: str) -> Iterator[list[str]]:
    for match in re.finditer(r"(?:^|[\s/;&|(])egov((?:\s+[^\s`]+)*)", snippet):
        words = []
        for raw in match.group(1).split():
            word = raw.strip("[]()\"',;")
            if not word or word in ("\\", "#") or word.startswith(("$", "<", "#")):
                break
            if word.isupper() or word[0].isdigit():  # FILE, DIR, HOST:PORT, 3
                words.append("_")
                continue
            words.append(word)
        yield words


def test_every_egov_command_named_exists() -> None:
    problems = []
    seen = 0
    for doc in documents():
        _, code = split_code(doc.read_text(encoding="utf-8"))
        for snippet in code:
            for words in egov_invocations(snippet):
                words = [w for w in words if w != "_"]
                seen += 1
                if (why := check_egov(words)) is not None:
                    problems.append(f"{doc.relative_to(ROOT)}: `egov {' '.join(words)}`: {why}")
    assert seen > 20, seen
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("words", "ok"),
    [
        (["rebuild"], True),
        (["catalog", "load-agencies|load-procedures"], True),
        (["up", "--kafka-brokers", "3"], True),
        (["--version"], True),
        (["rebuld"], False),
        (["catalog", "load-everything"], False),
        (["restore", "--forced"], False),
    ],
)
def test_the_egov_check_catches_a_missing_command(words: list[str], ok: bool) -> None:
    assert (check_egov(words) is None) is ok, check_egov(words)


def test_the_readme_is_short_and_links_every_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    linked = {target.partition("#")[0] for _, target in links(ROOT / "README.md")}
    for page in PAGES:
        assert (ROOT / "docs" / f"{page}.md").is_file(), page
        assert f"docs/{page}.md" in linked, f"README does not link docs/{page}.md"
    assert "CHANGELOG.md" in linked
    # CI runs the README's test command
    assert re.search(r"^make test\b", readme, flags=re.M)
    assert re.search(r"^make run\b", readme, flags=re.M)
