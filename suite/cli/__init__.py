"""The ``suite`` command line: thin commands, each calling one library function.

Exit status: 0 all requested runs done, 1 some runs failed, 2 bad spec or usage.

Each command lives in a module of this package that is imported only when the command
is invoked: ``suite --help`` and ``suite --version`` answer without loading torch and the
report stack, and ``suite report`` does not pay for the training stack. ``COMMANDS`` names
every command's module and its one-line summary (the first sentence of its docstring, which
``tests/suite/cli/test_lazy_commands.py`` checks), in the order ``suite --help`` lists them.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import click


class CommandInfo(NamedTuple):
    """Where a command is defined (``module:attribute``) and what ``suite --help`` says of it."""

    target: str
    summary: str


COMMANDS: dict[str, CommandInfo] = {
    "run": CommandInfo("suite.cli.run:run", "Run every pending cell x seed of SPEC (a spec, or a "
                       "collection of specs run one after the other); stored runs are skipped."),
    "plan": CommandInfo("suite.cli.run:plan", "List every cell x seed of SPEC (a spec or a collection) "
                        "with its id, axes and status, then the number of cells and runs and an "
                        "estimate of the GPU-hours."),
    "report": CommandInfo("suite.cli.report:report", "Tables and figures of stored results for SPEC "
                          "(a spec or a collection of specs; every stored spec when SPEC is not given)."),
    "export": CommandInfo("suite.cli.report:export", "Stored results of SPEC (a spec or a collection; "
                          "every stored spec when SPEC is not given) as a flat CSV table for your own "
                          "analyses, or one run's weights (--model)."),
    "list": CommandInfo("suite.cli.listing:list_", "List the registered methods, models (with "
                        "parameter counts), datasets or backends."),
    "launch": CommandInfo("suite.cli.cluster:launch", "Queue the runs of SPEC in the store and start "
                          "N workers that claim them until none is left; returns at once."),
    "store": CommandInfo("suite.cli.cluster:store", "Work on results stores as a whole."),
    "measure": CommandInfo("suite.cli.speed:measure", "Time the final model of every finished run of "
                           "SPEC against the dense model of its architecture and store the measurement "
                           "(one record per run and machine)."),
}


def load_command(name: str) -> click.Command:
    """Import the module that defines command ``name`` and return the command."""
    module, _, attribute = COMMANDS[name].target.partition(":")
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{COMMANDS[name].target} is {type(command).__name__}, not a click command")
    return command


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, "..." marking a cut."""
    if len(text) <= limit:
        return text
    cut = max(limit - 3, 0)
    head = text[:cut] if text[cut] == " " else text[:cut].rsplit(" ", 1)[0]
    return head.rstrip(" ,;(") + "..."


class LazyGroup(click.Group):
    """A group whose commands are imported on first use; its help lists the summaries of
    ``COMMANDS`` without importing anything."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, shorten(info.summary, limit)) for name, info in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pruning-suite")
def main() -> None:
    """Declarative benchmark suite for neural-network pruning (DPF and its baselines)."""
