"""The compiled request path (setup.py, localviyo/compiled.py): that it is what runs, that a stale one is
refused, and that plain Python answers the same bytes."""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from localviyo import compiled

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def _setup_list() -> list[str]:
    """setup.py's COMPILED, read without running setup.py."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "COMPILED" for t in node.targets):
            names: list[str] = ast.literal_eval(node.value)
            return names
    raise AssertionError("setup.py has no COMPILED list")


@pytest.mark.skipif(
    os.environ.get("LOCALVIYO_COMPILE") == "0", reason="LOCALVIYO_COMPILE=0: this install is plain Python on purpose"
)
def test_the_modules_setup_py_names_run_compiled_from_their_current_source() -> None:
    entries = compiled.manifest()
    assert sorted(entries) == sorted(_setup_list()), "install again: the manifest is not of this setup.py"
    assert compiled.stale() == []
    for name in entries:
        module = importlib.import_module(name.removesuffix(".py").replace("/", "."))
        assert module.__file__ is not None
        assert any(module.__file__.endswith(suffix) for suffix in EXTENSION_SUFFIXES), module.__file__
    assert compiled.running_compiled()


def _package(tmp_path: Path, source: str, *, extension: bool = True) -> Path:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(source)
    digest = hashlib.sha256(source.encode()).hexdigest()
    (package / compiled.MANIFEST).write_text(json.dumps({"pkg/mod.py": digest}))
    if extension:
        (package / f"mod{EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    return package


def test_a_module_whose_source_changed_after_it_was_compiled_is_refused(tmp_path: Path) -> None:
    package = _package(tmp_path, "x = 1\n")
    assert compiled.stale(package) == []
    compiled.check(package)

    (package / "mod.py").write_text("x = 2\n")
    assert compiled.stale(package) == ["pkg/mod.py"]
    with pytest.raises(ImportError, match=r"pkg/mod\.py changed after it was compiled.*pip install -e \."):
        compiled.check(package)

    (package / "mod.py").unlink()
    assert compiled.stale(package) == ["pkg/mod.py"]  # the extension would run with no source at all


def test_a_module_compiled_by_an_earlier_install_is_refused(tmp_path: Path) -> None:
    package = _package(tmp_path, "x = 1\n")
    (package / "sub").mkdir()
    (package / "sub" / "old.py").write_text("y = 1\n")
    (package / "sub" / f"old{EXTENSION_SUFFIXES[0]}").write_bytes(b"")  # not in the manifest
    assert compiled.stale(package) == ["pkg/sub/old.py"]
    (package / compiled.MANIFEST).unlink()
    assert compiled.stale(package) == ["pkg/mod.py", "pkg/sub/old.py"]


def test_a_changed_source_without_its_extension_module_runs_as_python(tmp_path: Path) -> None:
    package = _package(tmp_path, "x = 1\n", extension=False)
    (package / "mod.py").write_text("x = 2\n")
    assert compiled.stale(package) == []
    assert not compiled.running_compiled(package)


def test_a_plain_python_install_has_no_manifest_and_nothing_compiled(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    assert compiled.manifest(package) == {}
    assert compiled.stale(package) == []
    assert not compiled.running_compiled(package)


# The same requests, answered by this install and by its sources run as plain Python: a frozen clock and
# seeded ids make every byte repeatable, so the two transcripts must be equal.
DRIVER = r"""
import json, sys, tempfile, urllib.error, urllib.request
from pathlib import Path
from localviyo import Settings, accounts, compiled, create_app
from localviyo.core.keys import FULL_ACCESS
from localviyo.testing import ServerThread

settings = Settings(frozen_time="2026-11-30T12:00:00+00:00", seed_ids=7)
db = Path(tempfile.mkdtemp()) / "lv.db"
app = create_app(Settings(frozen_time=settings.frozen_time, seed_ids=7, database_url=f"sqlite:///{db}"))
key = accounts.create_key(app.store, app.clock, account="a", scopes=(FULL_ACCESS,))
headers = {"Authorization": f"Klaviyo-API-Key {key}", "revision": "2024-02-15", "Content-Type": "application/json"}

def call(method, path, document=None, **extra):
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(app_url + path, data=data, method=method, headers={**headers, **extra})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, answer.read().decode().replace(app_url, "http://server")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode().replace(app_url, "http://server")

def profile(attributes, pid=None, meta=None):
    data = {"type": "profile", "attributes": attributes}
    if pid: data["id"] = pid
    if meta: data["meta"] = meta
    return {"data": data}

with ServerThread(app) as server:
    app_url = server.url
    transcript = [compiled.running_compiled()]
    status, body = call("POST", "/api/profiles/", profile({"email": "Ada@Example.com", "properties": {"n": 1}}))
    transcript.append((status, body))
    first = json.loads(body)["data"]["id"]
    status, body = call("POST", "/api/profiles/", profile({"phone_number": "+15005550006"}))
    transcript.append((status, body))
    second = json.loads(body)["data"]["id"]
    patch = {"patch_properties": {"append": {"tags": "a"}, "unset": "n"}}
    transcript.append(call("PATCH", f"/api/profiles/{first}/", profile(
        {"first_name": "Ada", "location": {"city": "London", "latitude": 51.5}, "properties": {"x": [1, 2]}},
        first, patch)))
    transcript.append(call("PATCH", f"/api/profiles/{first}/", profile({"title": None}, first)))
    transcript.append(call("PATCH", f"/api/profiles/{second}/", profile({"email": "ada@example.com"}, second)))
    transcript.append(call("PATCH", f"/api/profiles/{first}/", profile({"email": "not an email"}, first)))
    transcript.append(call("PATCH", f"/api/profiles/{first}/", profile({}, "01HF7YAT00JEWWKGV42XRXVH0V")))
    transcript.append(call("PATCH", "/api/profiles/01HF7YAT00JEWWKGV42XRXVH0V/",
                           profile({"title": "x"}, "01HF7YAT00JEWWKGV42XRXVH0V")))
    transcript.append(call("PATCH", f"/api/profiles/{first}/", None, revision="2020-01-01"))
    transcript.append(call("GET", f"/api/profiles/{first}/"))
    transcript.append(call("GET", '/api/profiles/?filter=equals(email,"ada@example.com")'))
    transcript.append(call("GET", "/api/profiles/?page[size]=1&sort=-created"))
print(json.dumps(transcript))
"""


def _transcript(env: dict[str, str], tmp_path: Path) -> list[object]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    answers: list[object] = json.loads(done.stdout)
    return answers


def test_plain_python_answers_every_byte_as_the_compiled_modules_do(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(SRC / "localviyo", plain / "localviyo", ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.json"))
    base = {name: value for name, value in os.environ.items() if not name.startswith("LOCALVIYO_")}
    installed = _transcript(base, tmp_path)
    python = _transcript({**base, "PYTHONPATH": str(plain)}, tmp_path)
    assert installed[0] is (os.environ.get("LOCALVIYO_COMPILE") != "0")
    assert python[0] is False  # the copy ran as plain Python
    assert installed[1:] == python[1:]
    statuses = [answer[0] for answer in python[1:]]  # type: ignore[index]
    assert statuses == [201, 201, 200, 200, 409, 400, 409, 404, 404, 200, 200, 200]
