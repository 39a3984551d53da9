"""Docs that tests keep true (like sqlite-utils' tests/test_docs.py): every `kb` subcommand
has help text and is documented in README.md at the project root."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from kb.cli import main
from kb.settings import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
COMMANDS = sorted(main.commands)


def readme_text() -> str:
    assert README.exists(), f"{README} is missing: document every `kb` command there"
    return README.read_text(encoding="utf-8")


def test_the_contract_commands_exist():
    assert {"ingest", "search", "ask", "serve", "ui", "eval"} <= set(COMMANDS)


def test_group_has_help():
    assert (main.help or "").strip()
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_text(name):
    command = main.commands[name]
    assert (command.help or "").strip(), f"`kb {name}` has no help text"
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert command.help.strip().splitlines()[0] in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_documented_in_readme(name):
    text = readme_text()
    assert re.search(rf"\bkb {re.escape(name)}\b", text), f"README.md does not mention `kb {name}`"
