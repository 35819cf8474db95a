"""A variant at another commit: `--variant='@REV FLAGS'` runs localviyo's code as it is at REV (a commit,
branch or tag), from a `git worktree` of its own, in the same turns as today's code.

That is how a design change is measured: commit it on a branch, then run `python -m bench --variant=@branch`
from the commit to compare it with (or the other way round). The server of the variant is this Python, with
`PYTHONPATH` set to the worktree's `src`, which comes before an editable install of this checkout; the suite
checks that the variant really imports its code from there before measuring anything. Where REV has a
setup.py (it compiles modules), the variant runs from an install of the worktree instead (`installed`), so
that it is measured compiled as it would be installed. Its store is a copy
of the one this checkout builds: a REV with migrations of its own applies them when it starts.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.environment import git, src_commit
from bench.servers import environment


class CheckoutFailed(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Variant:
    """`--variant` parsed: the commit whose code it runs (None: this checkout's) and its serve flags."""

    rev: str | None
    flags: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Variant:
        words = shlex.split(text)
        if words and words[0].startswith("@"):
            rev = words[0][1:]
            if not rev:
                raise ValueError(f"--variant={text!r}: '@' must be followed by a commit, branch or tag")
            return cls(rev, tuple(words[1:]))
        return cls(None, tuple(words))


def _git(*args: str) -> str:
    result = git(*args)
    if result is None or result.returncode != 0:
        why = "git cannot be run" if result is None else (result.stderr or result.stdout).strip()
        raise CheckoutFailed(f"git {' '.join(args)}: {why}")
    return result.stdout.strip()


def src_at(rev: str) -> str:
    """What a run records as the code a variant at `rev` measured (environment.src_commit)."""
    commit = src_commit(rev)
    if commit is None:
        raise CheckoutFailed(f"no commit of src/ or setup.py at or before {rev!r}")
    return commit


@contextmanager
def checkout(rev: str, tree: Path) -> Iterator[dict[str, str]]:
    """The code at `rev` in a worktree at `tree` (a path that does not exist yet) while the block runs; yields
    the environment a server needs to run it. The worktree is removed afterwards."""
    commit = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    _git("worktree", "add", "--detach", str(tree), commit)
    try:
        code = installed(tree)
        env = {"PYTHONPATH": str(code)}
        check_imports_from(code, env)
        yield env
    finally:
        git("worktree", "remove", "--force", str(tree))
        git("worktree", "prune")


def installed(tree: Path) -> Path:
    """Where the variant's code runs from: the worktree's `src`, or, where REV has a setup.py (it compiles
    modules: the nineteenth round on), an install of the worktree in a folder of its own, built as `pip`
    builds it for anyone (`LOCALVIYO_COMPILE=0` in the environment leaves it plain Python)."""
    if not (tree / "setup.py").exists() or os.environ.get("LOCALVIYO_COMPILE") == "0":
        return tree / "src"
    target = tree / ".installed"
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(tree)]
    built = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if built.returncode != 0:
        raise CheckoutFailed(f"installing {tree} failed:\n{built.stdout[-2000:]}\n{built.stderr[-4000:]}")
    return target


def check_imports_from(src: Path, env: dict[str, str]) -> None:
    """Raise unless a server started with `env` imports localviyo from `src`."""
    probe = subprocess.run(
        [sys.executable, "-c", "import localviyo; print(localviyo.__file__)"],
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = Path(probe.stdout.strip()).resolve()
    if probe.returncode != 0 or not found.is_relative_to(src.resolve()):
        raise CheckoutFailed(f"the variant would not run the code of {src}: it imports {found or probe.stderr}")
