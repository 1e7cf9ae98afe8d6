"""The ``suite`` group imports a command's module only when that command runs: its table
(``suite.cli.COMMANDS``) has to name every command, where it lives and what it does."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import suite.cli
from suite.cli import COMMANDS, load_command, main, shorten

HEAVY = ("torch", "pandas", "jinja2", "matplotlib", "backends", "methods", "suite.runner", "suite.report")


def loaded_after(*args: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after ``suite ARGS``."""
    code = ("import json, sys\nfrom suite.cli import main\n"
            f"try:\n    main({list(args)!r})\nexcept SystemExit:\n    pass\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
            f"or m in {HEAVY!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("-h",)])
def test_help_and_version_load_neither_torch_nor_the_report_stack(args):
    assert loaded_after(*args) == []


def test_a_commands_help_loads_its_module_only():
    loaded = loaded_after("store", "--help")
    assert "suite.report" not in loaded and "matplotlib" not in loaded


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_summary_is_the_first_sentence_of_its_commands_docstring(name):
    command = load_command(name)
    assert command.name == name
    assert COMMANDS[name].summary == command.get_short_help_str(limit=10_000)


def test_every_command_defined_in_the_package_is_in_the_table():
    reachable = set()
    for name in COMMANDS:
        command = load_command(name)
        reachable.add(id(command))
        if isinstance(command, click.Group):
            reachable |= {id(sub) for sub in command.commands.values()}
    for info in pkgutil.iter_modules(suite.cli.__path__):
        if info.name == "__main__":
            continue
        module = importlib.import_module(f"suite.cli.{info.name}")
        for attribute, value in vars(module).items():
            if isinstance(value, click.Command) and value.callback.__module__ == module.__name__:
                assert id(value) in reachable, f"suite.cli.{info.name}:{attribute} is not in COMMANDS"


def test_help_lists_every_command_in_table_order():
    out = CliRunner().invoke(main, ["--help"]).output
    listed = [line.split()[0] for line in out.split("Commands:\n", 1)[1].splitlines() if line.strip()]
    assert listed == list(COMMANDS)


def test_an_unknown_command_is_refused_with_exit_status_2():
    result = CliRunner().invoke(main, ["trian"])
    assert result.exit_code == 2 and "No such command 'trian'" in result.output


@pytest.mark.parametrize("text, limit, expected", [
    ("Short.", 20, "Short."),
    ("Time the final model of every run.", 20, "Time the final..."),
    ("List the methods (with counts), or backends.", 34, "List the methods (with counts)..."),
    ("Onewordtoolong", 8, "Onewo..."),
])
def test_shorten_cuts_at_a_word_boundary(text, limit, expected):
    assert shorten(text, limit) == expected
    assert len(shorten(text, limit)) <= limit
