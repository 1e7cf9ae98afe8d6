"""``suite report`` and ``suite export``: stored results as tables, figures, CSV or weights."""

from __future__ import annotations

from pathlib import Path

import click

from suite import export as export_mod
from suite import filters
from suite import report as report_mod
from suite.api import stored
from suite.cli.common import RESULTS_HELP, only_option, reported, store_option
from suite.model_export import export_model
from suite.store import results_dir


def _stored(spec_path: str | None, results: str | None, store_url: str | None):
    """The specs to report or export, their collection and the store (see suite.api)."""
    return stored(spec_path, results, store_url)


def _emit(text: str, out: str | None) -> None:
    """Write ``text`` to ``out`` (creating its folder), else to stdout."""
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


@click.command()
@click.argument("spec_path", metavar="[SPEC]", required=False, type=click.Path(dir_okay=False))
@click.option("--results", type=click.Path(file_okay=False), help=RESULTS_HELP)
@store_option
@click.option("--format", "fmt", type=click.Choice(["markdown", "html", "latex", "csv"]),
              default="markdown", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="write here instead of stdout")
@click.option("--template", type=click.Path(dir_okay=False), help="your own Jinja2 template")
@click.option("--figures", "figures_dir", type=click.Path(file_okay=False),
              help="also write every figure here as PDF and SVG (LaTeX then includes them)")
@click.option("--standalone", is_flag=True,
              help="LaTeX: a whole document for pdflatex instead of a fragment to \\input")
@only_option
@reported
def report(spec_path: str | None, results: str | None, store_url: str | None, fmt: str,
           out: str | None, template: str | None, figures_dir: str | None, standalone: bool,
           only: tuple[str, ...]) -> None:
    """Tables and figures of stored results for SPEC (a spec or a collection of specs;
    every stored spec when SPEC is not given)."""
    specs, collection, store = _stored(spec_path, results, store_url)
    title, description = (collection.name, collection.description) if collection else (None, "")
    text = report_mod.report(specs, store, fmt, template, figures_dir=figures_dir, out=out,
                             title=title, description=description, standalone=standalone,
                             only=filters.check(specs, only, spec_path or "the store"))
    _emit(text, out)
    if figures_dir:
        click.echo(f"wrote the figures to {figures_dir}", err=True)


@click.command()
@click.argument("spec_path", metavar="[SPEC]", required=False, type=click.Path(dir_okay=False))
@click.option("--results", type=click.Path(file_okay=False), help=RESULTS_HELP)
@store_option
@click.option("--table", type=click.Choice(["runs", "curves", "flips", "layers", "speed"]),
              default="runs", show_default=True,
              help="one row per run, per epoch, per mask update, per layer, or per measured run and batch")
@click.option("--out", type=click.Path(dir_okay=False), help="write here instead of stdout")
@only_option
@click.option("--model", "model_run", metavar="RUN",
              help="write the weights of run CELL_ID/seed-N instead: the sparse state dict (--out) "
                   "and beside it the torch.nn.utils.prune one (weight_orig, weight_mask)")
@reported
def export(spec_path: str | None, results: str | None, store_url: str | None, table: str,
           out: str | None, only: tuple[str, ...], model_run: str | None) -> None:
    """Stored results of SPEC (a spec or a collection; every stored spec when SPEC is not
    given) as a flat CSV table for your own analyses, or one run's weights (--model)."""
    if model_run:
        for path in export_model(results_dir(results), model_run, out):
            click.echo(f"wrote {path}", err=True)
        return
    specs, _, store = _stored(spec_path, results, store_url)
    only_ = filters.check(specs, only, spec_path or "the store")
    _emit(export_mod.export(specs, store, table, only=only_), out)
