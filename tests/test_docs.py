"""The README tells the truth: its commands are the ones CI runs, its settings table is the settings."""

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
