"""The README tells the truth: its commands are the ones CI runs, its settings table is the settings, and
the rounds of the benchmarks' record it and the code cite are there."""

from __future__ import annotations

import re
from pathlib import Path

from localviyo.cli import main
from localviyo.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _quick_start() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_quick_start_is_two_commands() -> None:
    serve, test = _quick_start()
    assert "\n" not in serve and "\n" not in test
    assert serve.endswith("localviyo serve")
    assert "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    _, test = _quick_start()
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_settings_table_lists_every_setting() -> None:
    for setting in SETTINGS:
        row = f"| `{setting.flag}` | `{setting.env}` | `{setting.default}` | {setting.help} |"
        assert row in README, row


def test_every_command_is_documented() -> None:
    for name, command in main.commands.items():
        subcommands = getattr(command, "commands", None)
        for sub in subcommands or [None]:
            text = f"localviyo {name}" + (f" {sub}" if sub else "")
            assert text in README or f"localviyo {name} create|list|revoke" in README, text


def test_differences_section_exists() -> None:
    assert "## Differences from Klaviyo" in README


# The record of the performance work is cited by round from code and docs ("bench/ROUNDS.md, ninth
# round"): each citation must name a round the record has, or it points nowhere.
_UNITS = "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth"
_TEENS = "tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth"
_ORDINAL = rf"(?:twenty-(?:{_UNITS})|twentieth|{_TEENS}|{_UNITS})"
_CITATION = re.compile(rf"bench/ROUNDS\.md\)?,[\s#]*({_ORDINAL})(?:[\s#]+and[\s#]+({_ORDINAL}))?[\s#]+rounds?\b")


def _rounds() -> set[str]:
    text = (ROOT / "bench" / "ROUNDS.md").read_text()
    return {name.lower() for name in re.findall(rf"^## ({_ORDINAL}) round \(", text, re.MULTILINE | re.IGNORECASE)}


def _sources() -> list[Path]:
    scripts = (path for name in ("src", "bench", "tests") for path in (ROOT / name).rglob("*.py"))
    return [ROOT / "README.md", ROOT / "setup.py", *scripts]


def test_every_round_cited_is_in_the_record() -> None:
    rounds = _rounds()
    assert {"second", "ninth", "twenty-first", "twenty-second"} <= rounds
    cited = 0
    for path in _sources():
        for match in _CITATION.finditer(path.read_text()):
            for name in filter(None, match.groups()):
                assert name in rounds, f"{path.relative_to(ROOT)} cites the {name} round of bench/ROUNDS.md"
                cited += 1
    assert cited >= 20  # the citations are found at all


def test_the_bench_readme_cites_rounds_the_record_has_and_links_to_files_that_exist() -> None:
    text = (ROOT / "bench" / "README.md").read_text()
    rounds = _rounds()
    for name in re.findall(rf"\(({_ORDINAL}) round", text):
        assert name in rounds, name
    for document, base in ((README, ROOT), (text, ROOT / "bench")):
        for target in re.findall(r"\]\(([\w./-]+\.md)\)", document):
            assert (base / target).is_file(), target
    for heading in ("## Targets", "## The scale target: where it stands", "## Latest figures"):
        assert heading in text, heading
