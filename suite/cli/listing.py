"""``suite list``: what the registries hold."""

from __future__ import annotations

import click

from suite import catalog
from suite.cli.common import reported


@click.command(name="list")
@click.argument("kind", type=click.Choice(["methods", "models", "datasets", "backends"]))
@reported
def list_(kind: str) -> None:
    """List the registered methods, models (with parameter counts), datasets or backends."""
    for line in catalog.describe(kind):
        click.echo(line)
