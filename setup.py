"""Compiles the modules on localviyo's request path with mypyc; everything else is in pyproject.toml.

Compiled, they serve an update in about three quarters of the time (bench/ROUNDS.md, nineteenth round).
Beside them goes `compiled.json`, each module and the SHA-256 of the source it was compiled from, by which
`localviyo.compiled` refuses to run a compiled module whose source has changed since.
`LOCALVIYO_COMPILE=0 pip install .` installs plain Python; an editable install (`pip install -e .`)
first clears what an earlier one compiled into the source tree (README, "Compiled modules").
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from setuptools import setup

SRC = Path(__file__).resolve().parent / "src"
MANIFEST = SRC / "localviyo" / "compiled.json"
COMPILED = [
    "localviyo/app.py",
    "localviyo/http/cycle.py",
    "localviyo/http/outbox.py",
    "localviyo/http/protocol.py",
    "localviyo/api/auth.py",
    "localviyo/api/paging.py",
    "localviyo/api/profiles.py",
    "localviyo/api/query.py",
    "localviyo/api/querystring.py",
    "localviyo/api/request.py",
    "localviyo/api/routes.py",
    "localviyo/core/document.py",
    "localviyo/core/keys.py",
    "localviyo/core/listing.py",
    "localviyo/core/merge.py",
    "localviyo/core/patch.py",
    "localviyo/journal.py",
    "localviyo/jsonapi.py",
    "localviyo/revisions.py",
    "localviyo/service.py",
    "localviyo/storage/group_commit.py",
    "localviyo/storage/relational.py",
    "localviyo/storage/sql.py",
    "localviyo/storage/sqlite.py",
    "localviyo/storage/wal_drain.py",
]


# Builds that put the compiled modules in `src` (an editable install), rather than in a wheel.
IN_PLACE = {"editable_wheel", "develop", "--inplace"}
# What pip asks of this file before it builds: the metadata, which does not depend on the extensions.
# Planning them is mypy's whole analysis of the modules, a few seconds each time.
METADATA = {"egg_info", "dist_info"}


def clear_compiled() -> None:
    """Remove the manifest and the extension modules an earlier in-place build compiled into `src`."""
    MANIFEST.unlink(missing_ok=True)
    for path in SRC.rglob("*"):
        if any(path.name.endswith(suffix) for suffix in EXTENSION_SUFFIXES):
            path.unlink()


def extensions() -> list[object]:
    if METADATA.intersection(sys.argv[1:2]):
        return []
    if IN_PLACE.intersection(sys.argv[1:]):
        clear_compiled()  # an earlier build's modules, which this one may not compile again
    if os.environ.get("LOCALVIYO_COMPILE", "1") == "0":
        return []
    from mypyc.build import mypycify

    digests = {name: hashlib.sha256((SRC / name).read_bytes()).hexdigest() for name in COMPILED}
    MANIFEST.write_text(json.dumps(digests, indent=1) + "\n")
    # The build sees the standard library and localviyo, nothing installed: every third-party module
    # (msgspec, httptools, uvloop, ...) is typed Any in the compiled code, which calls it as plain Python
    # would and checks nothing it returns against its stubs (httptools' say a URL's query is bytes; it is
    # None when there is none). The same source then compiles the same way whatever is installed. Errors in
    # the modules left as Python are not this build's to report: the strict check of the whole package is
    # mypy's own run (pyproject.toml).
    options = ["--config-file", os.devnull, "--no-site-packages", "--ignore-missing-imports", "--follow-imports=silent"]
    return list(mypycify([*options, *(f"src/{name}" for name in COMPILED)], opt_level="3"))


setup(ext_modules=extensions())
