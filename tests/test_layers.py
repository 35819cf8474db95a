"""core/ stays pure (its README says so): no I/O, no HTTP toolkit, no database driver, no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "src" / "localviyo" / "core"
ALLOWED = {
    "__future__",
    "collections.abc",
    "dataclasses",
    "datetime",
    "functools",
    "hashlib",
    "hmac",
    "math",
    "re",
    "secrets",
    "string",
    "typing",
    "msgspec",
    "phonenumbers",
    "localviyo.core",
    "localviyo.errors",
    "localviyo.revisions",
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda path: path.name)
def test_core_imports_only_pure_modules(path: Path) -> None:
    impure = {name for name in imports(path) if not any(name == ok or name.startswith(ok + ".") for ok in ALLOWED)}
    assert not impure, f"{path.name} imports {sorted(impure)}"


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda path: path.name)
def test_core_reads_no_clock(path: Path) -> None:
    text = path.read_text()
    for call in ("time.time(", "datetime.now(", "datetime.utcnow(", "date.today("):
        assert call not in text, f"{path.name} reads the clock with {call}"
