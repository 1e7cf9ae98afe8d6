"""The cluster commands: ``suite launch`` (workers on SLURM or this machine) and
``suite store copy`` (between SQLite and PostgreSQL); ``suite.cli.COMMANDS`` lists them."""

from __future__ import annotations

import click

from suite import filters, runner
from suite import launch as launch_mod
from suite.cli.common import RESULTS_HELP, reported, store_option
from suite.collection import load_specs
from suite.grid import expand
from suite.store import Store, open_store, redact, results_dir
from suite.store import store_url as resolve
from suite.store.copy import copy_store


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, exists=True))
@click.option("--executor", type=click.Choice(["local", "slurm"]), required=True,
              help="slurm: a job array through submitit; local: processes on this machine")
@click.option("--workers", type=click.IntRange(min=1), required=True, help="number of workers")
@click.option("--results", type=click.Path(file_okay=False), help=RESULTS_HELP)
@store_option
@click.option("--partition", help="SLURM partition")
@click.option("--gpus-per-worker", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--cpus-per-worker", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--time", "time_limit", default="24:00:00", show_default=True,
              help="SLURM time limit per job (MINUTES, HH:MM:SS or D-HH:MM:SS); a job that "
                   "reaches it checkpoints and is requeued")
@click.option("--mem", help="SLURM memory per worker, e.g. 16G")
@click.option("--slurm-arg", "slurm_args", multiple=True, metavar="KEY=VALUE",
              help="any other sbatch option, e.g. account=myproj or qos=high; repeatable")
@click.option("--only", multiple=True, metavar="KEY=VALUE", help="launch only matching runs")
@click.option("--retry-failed", is_flag=True, help="run failed runs again")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="device for the torch backend")
@click.option("--lease", type=click.FloatRange(min=2), default=None, metavar="SECONDS",
              help="how long a claim outlives its worker's last renewal (default 300)")
@reported
def launch(spec_path: str, executor: str, workers: int, results: str | None,
           store_url: str | None, partition: str | None, gpus_per_worker: int,
           cpus_per_worker: int, time_limit: str, mem: str | None, slurm_args: tuple[str, ...],
           only: tuple[str, ...], retry_failed: bool, device: str | None,
           lease: float | None) -> None:
    """Queue the runs of SPEC in the store and start N workers that claim them until none
    is left; returns at once. `suite plan SPEC` shows from any machine what runs where."""
    loaded = load_specs(spec_path)
    filters.parse_filters(only)
    for spec in loaded.specs:
        runner.backend_for(spec, None, device=device).describe()
    root = results_dir(results)
    url = resolve(store_url, results)
    if executor == "slurm" and url.get_backend_name() == "sqlite":
        click.echo("warning: a SQLite store is safe only while every worker runs on this host "
                   "(SQLite over NFS corrupts); give --store postgresql://... for a cluster", err=True)
    store = open_store(store_url, results)
    queued = 0
    for spec in loaded.specs:
        runs = runner.plan(spec, store, only, require_match=not loaded.is_collection)
        store.record_spec(spec, expand(spec))
        todo = [(r.cell.id, r.seed) for r in runs
                if r.status in ("pending", "running") or (retry_failed and r.status == "failed")]
        store.enqueue(todo)
        queued += len(todo)
    store.close()
    args = [a for o in only for a in ("--only", o)]
    args += ["--retry-failed"] if retry_failed else []
    args += ["--device", device] if device else []
    args += ["--lease", str(lease)] if lease else []
    request = launch_mod.LaunchRequest(
        spec_path=spec_path, executor=executor, workers=workers, results=root,
        store_url=url.render_as_string(hide_password=False), worker_args=tuple(args),
        partition=partition, gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker,
        time=time_limit, mem=mem, slurm_args=slurm_args)
    if executor == "slurm":
        launch_mod.parse_time(time_limit)
    where, ids = launch_mod.start_workers(request, loaded.name)
    click.echo(f"{loaded.name}: {queued} runs queued in {redact(url)}; started {len(ids)} "
               f"{executor} workers ({', '.join(ids)}); logs in {where}")
    click.echo(f"follow it with: suite plan {spec_path} --store '{redact(url)}'")


@click.group()
def store() -> None:
    """Work on results stores as a whole."""


@store.command(name="copy")
@click.argument("src")
@click.argument("dst")
@reported
def copy(src: str, dst: str) -> None:
    """Copy every spec, cell and run of the store at SRC into the store at DST (URLs:
    sqlite:///PATH/suite.db or postgresql://...). Runs DST already has done are kept."""
    source = Store.open(src, create=False)
    target = Store.open(dst)
    summary = copy_store(source, target)
    click.echo(f"{source.where} -> {target.where}: {summary.describe()}")
