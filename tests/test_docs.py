"""Every command has help text with an example and is documented in the README (like sqlite-utils)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_with_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output, f"{name} --help lacks an example"
    assert "--db" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_readme(name):
    assert f"python -m assistant {name}" in README, f"README does not document `{name}`"


def test_readme_opens_with_the_two_commands():
    lines = [line.strip() for line in README.splitlines() if line.strip() and not line.startswith("#")]
    code = [line for line in lines[:8] if line.startswith("bash scripts/")]
    assert code[:2] == ["bash scripts/run.sh", "bash scripts/test.sh"]


def test_prompts_are_files():
    names = {p.stem for p in (ROOT / "prompts").glob("*.txt")}
    assert {"answer", "summary"} <= names
