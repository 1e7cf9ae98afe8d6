"""``suite measure``: time the final models of finished runs (dense, masked as trained,
and shrunk or sparse); ``suite.cli.COMMANDS`` lists them."""

from __future__ import annotations

import sys

import click
import torch

from suite import filters
from suite.cli.common import RESULTS_HELP, only_option, reported, store_option
from suite.collection import load_specs
from suite.errors import SpecError
from suite.speed.measure import Settings
from suite.speed.measure import measure as run_measure
from suite.store import open_store, results_dir


def parse_batches(text: str) -> tuple[int, ...]:
    """``--batch 1,64`` as (1, 64); anything else is a usage error naming the value."""
    try:
        batches = tuple(int(part) for part in text.split(","))
    except ValueError:
        batches = ()
    if not batches or any(b < 1 for b in batches):
        raise SpecError(f"--batch {text!r}: give positive batch sizes separated by commas, e.g. 1,64")
    return batches


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--results", type=click.Path(file_okay=False), help=RESULTS_HELP)
@store_option
@click.option("--batch", "batch_text", default="1,64", show_default=True,
              help="batch sizes to time, comma-separated")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="intra-op threads while timing")
@click.option("--repeats", type=click.IntRange(min=1), default=15, show_default=True,
              help="timed rounds per batch size (each runs every form once, interleaved)")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True,
              help="untimed rounds first")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@only_option
@click.option("--export/--no-export", default=True, show_default=True,
              help="also write the pruned model (safetensors, TorchScript, ONNX) into each run's folder")
@reported
def measure(spec_path: str, results: str | None, store_url: str | None, batch_text: str,
            threads: int, repeats: int, warmup: int, device: str, only: tuple[str, ...],
            export: bool) -> None:
    """Time the final model of every finished run of SPEC against the dense model of its
    architecture and store the measurement (one record per run and machine). Exit
    status 1 when some run could not be measured."""


    batches = parse_batches(batch_text)
    if device == "cuda" and not torch.cuda.is_available():
        raise SpecError("--device cuda: this machine has no CUDA device; use --device cpu")
    loaded = load_specs(spec_path)
    filters.check(loaded.specs, only, spec_path)
    store = open_store(store_url, results)
    settings = Settings(batches, threads, repeats, warmup, device, export)
    count, failed = run_measure(loaded.specs, store, results_dir(results), settings, only=only,
                                echo=lambda line: click.echo(line))
    click.echo(f"{count} runs measured; `suite export {spec_path} --table speed` lists them")
    if failed:
        click.echo(f"{len(failed)} runs not measured (above)", err=True)
        sys.exit(1)
