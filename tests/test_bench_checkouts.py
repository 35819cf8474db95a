"""bench/checkouts.py: how `--variant` is read, and the check that a variant runs the code it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.checkouts import CheckoutFailed, Variant, check_imports_from


def test_flags_alone_run_this_checkouts_code() -> None:
    assert Variant.parse("--group-commit off --journal-size 0") == Variant(
        None, ("--group-commit", "off", "--journal-size", "0")
    )


def test_a_first_word_at_rev_names_the_commit() -> None:
    assert Variant.parse("@main") == Variant("main", ())
    assert Variant.parse("@a1b2c3d --sqlite-checkpoints inline") == Variant(
        "a1b2c3d", ("--sqlite-checkpoints", "inline")
    )


def test_an_at_sign_without_a_commit_is_refused() -> None:
    with pytest.raises(ValueError, match="'@' must be followed by a commit"):
        Variant.parse("@ --group-commit off")


def test_a_source_tree_without_localviyo_is_refused_before_anything_is_measured(tmp_path: Path) -> None:
    """The PYTHONPATH check: a variant that would import another copy of localviyo (here, the installed one,
    because the named tree has none) must not be measured as if it ran the named code."""
    with pytest.raises(CheckoutFailed, match="would not run the code of"):
        check_imports_from(tmp_path, {"PYTHONPATH": str(tmp_path)})
