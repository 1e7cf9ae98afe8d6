"""The ``suite`` command line: thin commands, each calling one library function.

Exit status: 0 all requested runs done, 1 some runs failed, 2 bad spec or usage.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from suite import catalog, cli_cluster, cli_speed, estimate, filters, interrupt, runner
from suite import export as export_mod
from suite import report as report_mod
from suite.api import stored
from suite.cli_common import RESULTS_HELP, only_option, store_option
from suite.cli_common import reported as _reported
from suite.collection import load_specs
from suite.errors import SpecError
from suite.lease import LEASE_SECONDS
from suite.model_export import export_model
from suite.store import open_existing, open_store, results_dir


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pruning-suite")
def main() -> None:
    """Declarative benchmark suite for neural-network pruning (DPF and its baselines)."""


@main.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--results", type=click.Path(file_okay=False), help=RESULTS_HELP)
@store_option
@click.option("--backend", help="backend to run on (default: the spec's, else torch)")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="device for the torch backend")
@click.option("--only", multiple=True, metavar="KEY=VALUE",
              help="run only matching runs (method, model, dataset, sparsity, seed, id); repeatable")
@click.option("--dry-run", is_flag=True, help="show what would run, run nothing")
@click.option("--retry-failed", is_flag=True, help="run failed runs again")
@click.option("--wait", is_flag=True,
              help="stay while other runners hold runs of the grid, and take over those whose "
                   "runner died (what the workers of `suite launch` do)")
@click.option("--lease", type=click.FloatRange(min=2), default=None, metavar="SECONDS",
              help="how long a claim outlives its runner's last renewal (default 300)")
@_reported
def run(spec_path: str, results: str | None, store_url: str | None, backend: str | None,
        device: str | None, only: tuple[str, ...], dry_run: bool, retry_failed: bool,
        wait: bool, lease: float | None) -> None:
    """Run every pending cell x seed of SPEC (a spec, or a collection of specs run one
    after the other); stored runs are skipped. Any number of runners, on any hosts, may
    share one store: each claims a run before it trains it."""
    loaded = load_specs(spec_path)
    root = results_dir(results)
    filters.check(loaded.specs, only, spec_path)
    jobs = []
    for spec in loaded.specs:
        backend_obj = runner.backend_for(spec, backend, device=device)
        jobs.append((spec, backend_obj, backend_obj.describe()))  # checks devices before writing
    lenient = loaded.is_collection
    if dry_run:
        store = open_existing(store_url, results)
        seen: set[tuple[str, int]] = set()  # members of a collection may share cells
        would: set[tuple[str, int]] = set()
        for spec, _, where in jobs:
            runs = runner.plan(spec, store, only, require_match=not lenient)
            todo = [r for r in runs if r.status == "pending" or (retry_failed and r.status == "failed")]
            for r in todo:
                if (r.cell.id, r.seed) not in would:
                    click.echo(f"would run  {r.label}")
            click.echo(f"{spec.name}: {len(todo)} of {len(runs)} runs would run on {where} "
                       f"(results: {root}{_store_note(store)})")
            seen |= {(r.cell.id, r.seed) for r in runs}
            would |= {(r.cell.id, r.seed) for r in todo}
        if only and not seen:
            raise SpecError(f"--only {' '.join(only)} matches no run of {spec_path}")
        if lenient:
            click.echo(f"{loaded.name}: {len(would)} of {len(seen)} runs would run")
        return
    store = open_store(store_url, results)
    t0 = time.monotonic()
    summary = runner.RunSummary()
    with interrupt.graceful_stops():  # Ctrl-C / kill: checkpoint at the next step, give claims back
        for spec, backend_obj, where in jobs:
            click.echo(f"{spec.name}: {spec.path} on {where}, results in {root}"
                       f"{_store_note(store)}", err=True)
            summary += runner.execute(spec, store, backend_obj, only=only,
                                      retry_failed=retry_failed, require_match=not lenient,
                                      results=root, wait=wait, lease=lease or LEASE_SECONDS)
    if only and not summary.requested:
        raise SpecError(f"--only {' '.join(only)} matches no run of {spec_path}")
    elapsed = time.monotonic() - t0
    if summary.ran == 0 and summary.held_elsewhere == 0:
        msg = f"nothing to do: all {summary.already_done} runs of {loaded.name!r} are stored in {root}"
        if summary.skipped_failed:
            msg = (f"nothing to run: {summary.already_done} runs done, {summary.skipped_failed} failed "
                   "(use --retry-failed to run them again)")
        click.echo(msg)
    else:
        lost = f", {summary.lost} lost to another runner" if summary.lost else ""
        click.echo(f"{summary.done} runs done, {len(summary.failed)} failed, "
                   f"{summary.already_done} already stored, {summary.held_elsewhere} taken by another "
                   f"runner{lost}, in {elapsed:.1f} s")
    for line in summary.failed:
        click.echo(f"failed: {line}", err=True)
    if summary.skipped_failed and summary.ran:
        click.echo(f"{summary.skipped_failed} runs failed earlier; --retry-failed runs them again",
                   err=True)
    sys.exit(summary.exit_code)


@main.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--results", type=click.Path(file_okay=False), help=RESULTS_HELP)
@store_option
@click.option("--only", multiple=True, metavar="KEY=VALUE", help="show only matching runs")
@click.option("--summary", is_flag=True, help="only the counts and the compute estimate")
@click.option("--tflops", type=click.FloatRange(min=0, min_open=True), default=None,
              help="sustained TFLOP/s per GPU assumed by the estimate (default 15)")
@click.option("--max-images-per-second", type=click.FloatRange(min=0, min_open=True), default=None,
              help="images/s ceiling per GPU assumed by the estimate (default 10000)")
@_reported
def plan(spec_path: str, results: str | None, store_url: str | None, only: tuple[str, ...],
         summary: bool, tflops: float | None, max_images_per_second: float | None) -> None:
    """List every cell x seed of SPEC (a spec or a collection) with its id, axes and
    status, then the number of cells and runs and an estimate of the GPU-hours."""
    loaded = load_specs(spec_path)
    filters.check(loaded.specs, only, spec_path)
    store = open_existing(store_url, results)
    plans = []
    for spec in loaded.specs:
        runs = runner.plan(spec, store, only, require_match=not loaded.is_collection)
        if runs or not only:
            plans.append((spec, runs))
    if not plans:
        raise SpecError(f"--only {' '.join(only)} matches no run of {spec_path}")
    for spec, runs in plans:
        if loaded.is_collection:
            click.echo(f"== {spec.name} ({spec.path})")
        if not summary:
            click.echo(f"{'id':12}  {'method':12} {'model':12} {'dataset':12} {'sparsity':>8}  "
                       f"{'seed':>4}  status")
            for r in runs:
                c = r.cell
                status = r.status
                if status == "running" and r.row.started:
                    status += (f" since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(r.row.started))}"
                               f" by {r.row.owner}")
                rounds = f"  ({c.rounds} rounds)" if c.rounds > 1 else ""
                click.echo(f"{c.id:12}  {c.method:12} {c.model:12} {c.dataset:12} {c.sparsity:>8g}  "
                           f"{r.seed:>4}  {status}{rounds}")
        counts = {s: sum(r.status == s for r in runs) for s in ("done", "failed", "running", "pending")}
        cells = len({r.cell.id for r in runs})
        click.echo(f"{cells} cells x {len(spec.seeds)} seeds = {len(runs)} runs: "
                   + ", ".join(f"{n} {s}" for s, n in counts.items()))
    est = estimate.estimate([(spec.name, runs) for spec, runs in plans],
                            tflops or estimate.DEFAULT_TFLOPS,
                            max_images_per_second or estimate.DEFAULT_MAX_IMAGES_PER_SECOND)
    for line in estimate.describe(est, collection=loaded.name if loaded.is_collection else None):
        click.echo(line)


def _store_note(store: Any) -> str:
    """", store URL" for messages when the store is not the results directory's file."""
    return "" if store is None or store.root is not None else f", store {store.where}"


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


@main.command()
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
@_reported
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


@main.command()
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
@_reported
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


@main.command(name="list")
@click.argument("kind", type=click.Choice(["methods", "models", "datasets", "backends"]))
@_reported
def list_(kind: str) -> None:
    """List the registered methods, models (with parameter counts), datasets or backends."""
    for line in catalog.describe(kind):
        click.echo(line)


main.add_command(cli_cluster.launch)
main.add_command(cli_cluster.store)
main.add_command(cli_speed.measure)

if __name__ == "__main__":  # pragma: no cover
    main()
