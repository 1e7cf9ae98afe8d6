"""``suite run`` and ``suite plan``: train the pending runs of a spec, or list them."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from suite import estimate, filters, interrupt, runner
from suite.cli.common import RESULTS_HELP, reported, store_option
from suite.collection import load_specs
from suite.errors import SpecError
from suite.lease import LEASE_SECONDS
from suite.store import open_existing, open_store, results_dir


@click.command()
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
@reported
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


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--results", type=click.Path(file_okay=False), help=RESULTS_HELP)
@store_option
@click.option("--only", multiple=True, metavar="KEY=VALUE", help="show only matching runs")
@click.option("--summary", is_flag=True, help="only the counts and the compute estimate")
@click.option("--tflops", type=click.FloatRange(min=0, min_open=True), default=None,
              help="sustained TFLOP/s per GPU assumed by the estimate (default 15)")
@click.option("--max-images-per-second", type=click.FloatRange(min=0, min_open=True), default=None,
              help="images/s ceiling per GPU assumed by the estimate (default 10000)")
@reported
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
