"""Which of localviyo's modules run compiled, and a guard against running a compiled module that is stale.

The install compiles the modules on the request path with mypyc (setup.py) and writes a manifest,
`compiled.json`, beside them: each compiled module and the SHA-256 of the source it was compiled from.
Python loads an extension module in preference to its source, so in an editable install a module edited
after the install would go on running as it was compiled, silently. `check()`, run when the package is
imported, refuses that: an extension module in the package whose source does not match the manifest (or
that the manifest does not name) stops the import with what to run. This module itself stays Python.
"""

from __future__ import annotations

import hashlib
import json
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
MANIFEST = "compiled.json"


def manifest(package: Path = PACKAGE) -> dict[str, str]:
    """The compiled modules (`localviyo/app.py`, relative to the package's parent) and their sources'
    SHA-256; empty for a plain Python install."""
    path = package / MANIFEST
    if not path.exists():
        return {}
    entries: dict[str, str] = json.loads(path.read_text())
    return entries


def _extensions(package: Path) -> dict[str, Path]:
    """Every module this interpreter would load from an extension module in the package: its name (as the
    manifest gives it) and its source."""
    found = {}
    for path in package.rglob("*"):
        suffix = next((suffix for suffix in EXTENSION_SUFFIXES if path.name.endswith(suffix)), None)
        if suffix is not None:
            source = path.with_name(path.name[: -len(suffix)] + ".py")
            found[source.relative_to(package.parent).as_posix()] = source
    return dict(sorted(found.items()))


def stale(package: Path = PACKAGE) -> list[str]:
    """The compiled modules that would run other code than their source: changed or removed since they
    were compiled, or compiled by an install other than the last (so not in its manifest)."""
    entries = manifest(package)
    changed = []
    for name, source in _extensions(package).items():
        digest = entries.get(name)
        if digest is None or not source.exists() or hashlib.sha256(source.read_bytes()).hexdigest() != digest:
            changed.append(name)
    return changed


def check(package: Path = PACKAGE) -> None:
    changed = stale(package)
    if changed:
        raise ImportError(
            f"localviyo: {', '.join(changed)} changed after it was compiled, and the compiled module would run "
            "instead of the source. Install again (`pip install -e .`), or install plain Python "
            "(`LOCALVIYO_COMPILE=0 pip install -e .`)."
        )


def running_compiled(package: Path = PACKAGE) -> bool:
    """Whether every module the manifest names runs from its extension module (False for plain Python)."""
    entries = manifest(package)
    return bool(entries) and _extensions(package).keys() >= entries.keys()
