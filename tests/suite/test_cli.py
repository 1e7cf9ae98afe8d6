"""End-to-end CLI tests on a seconds-long spec."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from suite.cli import main
from suite.store import Store


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_run_then_second_run_is_a_noop_then_report(tiny_spec, results):
    first = invoke("run", tiny_spec, "--results", results)
    assert first.exit_code == 0, first.output
    assert "2 runs done, 0 failed" in first.output
    store = Store(results, create=False)
    rows = store.runs()
    assert len(rows) == 2 and {r.status for r in rows.values()} == {"done"}
    record = next(iter(rows.values())).result
    assert record["format"] == "suite.result/2"
    assert {"top1", "best_top1"} <= set(record["metrics"])
    assert record["provenance"]["torch"] and record["provenance"]["device"] == "cpu"
    assert record["provenance"]["backend"] == "torch"
    assert len(record["curve"]) == 2
    cell_id, seed = next(iter(rows))
    run_dir = results / "runs" / cell_id / f"seed-{seed}"
    assert {"log.txt", "checkpoint.pt", "model.pt", "curve.json"} <= {p.name for p in run_dir.iterdir()}

    second = invoke("run", tiny_spec, "--results", results)
    assert second.exit_code == 0
    assert "nothing to do: all 2 runs of 'tiny' are stored" in second.output
    assert Store(results).runs() == rows

    rep = invoke("report", tiny_spec, "--results", results, "--format", "markdown")
    assert rep.exit_code == 0
    assert "| synthetic | MLP |" in rep.output and "(n=2)" in rep.output
    assert "†" not in rep.output  # no cell is off target, so no legend for the mark

    # without SPEC: everything in the store, grouped by the spec that produced it
    everything = invoke("report", "--results", results, "--format", "csv")
    assert everything.exit_code == 0
    assert everything.output.splitlines()[0].startswith("spec,dataset,model,sparsity,method")
    assert ",dense,top1," in everything.output

    for fmt in ("html", "latex"):
        out = results / f"report.{fmt}"
        assert invoke("report", "--results", results, "--format", fmt, "--out", out).exit_code == 0
        assert "synthetic" in out.read_text()


def test_plan_dry_run_and_only(tiny_spec, results):
    plan = invoke("plan", tiny_spec, "--results", results)
    assert plan.exit_code == 0
    assert "1 cells x 2 seeds = 2 runs: 0 done, 0 failed, 0 running, 2 pending" in plan.output
    dry = invoke("run", tiny_spec, "--results", results, "--dry-run")
    assert dry.exit_code == 0 and "2 of 2 runs would run" in dry.output
    assert not (results / "suite.db").exists()

    only = invoke("run", tiny_spec, "--results", results, "--only", "seed=1")
    assert only.exit_code == 0 and "1 runs done" in only.output
    plan = invoke("plan", tiny_spec, "--results", results)
    assert "1 done, 0 failed, 0 running, 1 pending" in plan.output

    bad = invoke("run", tiny_spec, "--results", results, "--only", "seed=9")
    assert bad.exit_code == 2 and "no cell of" in bad.output and "its seed values: 0, 1" in bad.output
    bad = invoke("run", tiny_spec, "--results", results, "--only", "methd=dense")
    assert bad.exit_code == 2 and 'did you mean "method"' in bad.output


def test_failing_cell_is_stored_and_retried(tmp_path, tiny_spec_text, results):
    spec = tmp_path / "nan.toml"
    spec.write_text(tiny_spec_text.replace("lr = 0.05", "lr = 1e30"))
    res = invoke("run", spec, "--results", results, "--only", "seed=0")
    assert res.exit_code == 1
    assert "FAILED" in res.output or "failed:" in res.output
    row = next(iter(Store(results).runs().values()))
    assert row.status == "failed" and "loss" in row.error
    again = invoke("run", spec, "--results", results, "--only", "seed=0")
    assert again.exit_code == 1 and "--retry-failed" in again.output
    retry = invoke("run", spec, "--results", results, "--only", "seed=0", "--retry-failed")
    assert retry.exit_code == 1
    assert next(iter(Store(results).runs().values())).attempts == 2
    rep = invoke("report", spec, "--results", results)
    assert "1 failed" in rep.output and "1 missing" in rep.output


def test_bad_spec_exits_2_without_traceback_and_writes_nothing(tmp_path, tiny_spec_text, results):
    spec = tmp_path / "bad.toml"
    spec.write_text(tiny_spec_text.replace("epochs = 2", "epochs = 0"))
    proc = subprocess.run([sys.executable, "-m", "suite.cli", "run", str(spec), "--results",
                           str(results)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {spec}: train: epochs = 0 must be a positive integer")
    assert not results.exists()


@pytest.mark.parametrize("kind,expected", [
    ("methods", "dense"), ("models", "params"), ("datasets", "digits"), ("backends", "torch"),
])
def test_list(kind, expected):
    res = invoke("list", kind)
    assert res.exit_code == 0 and expected in res.output


def test_report_without_store_is_a_clear_error(results):
    res = invoke("report", "--results", results)
    assert res.exit_code == 2 and "no results store" in res.output


def test_cuda_without_gpu_is_a_usage_error(tiny_spec, results):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    res = invoke("run", tiny_spec, "--results", results, "--device", "cuda")
    assert res.exit_code == 2 and "no CUDA device" in res.output
    assert not results.exists()


def test_unknown_backend_is_a_usage_error(tiny_spec, results):
    res = invoke("run", tiny_spec, "--results", results, "--backend", "nope")
    assert res.exit_code == 2 and "known backends: " in res.output


def test_run_a_collection_runs_each_member_spec(tmp_path, tiny_spec_text, results):
    (tmp_path / "a.toml").write_text(tiny_spec_text.replace('name = "tiny"', 'name = "a"')
                                     .replace("seeds = [0, 1]", "seeds = [0]"))
    (tmp_path / "b.toml").write_text(tiny_spec_text.replace('name = "tiny"', 'name = "b"')
                                     .replace('model = ["mlp"]', 'model = ["small_cnn"]')
                                     .replace("seeds = [0, 1]", "seeds = [0]"))
    coll = tmp_path / "all.toml"
    coll.write_text('[collection]\nname = "both"\nspecs = ["a.toml", "b.toml"]\n')
    dry = invoke("run", coll, "--results", results, "--dry-run", "--only", "model=small_cnn")
    assert dry.exit_code == 0 and "both: 1 of 1 runs would run" in dry.output
    res = invoke("run", coll, "--results", results)
    assert res.exit_code == 0 and "2 runs done" in res.output
    again = invoke("run", coll, "--results", results)
    assert "nothing to do: all 2 runs of 'both' are stored" in again.output
    none = invoke("run", coll, "--results", results, "--only", "model=resnet20")
    assert none.exit_code == 2 and "its model values: mlp, small_cnn" in none.output


def test_plan_shows_running_claims_with_owner_and_start(tiny_spec, results):
    from suite.grid import expand
    from suite.spec import load_spec

    cell = expand(load_spec(tiny_spec))[0]
    store = Store(results)
    assert store.claim(cell.id, 1, "otherhost:4242:abcdef")
    res = invoke("plan", tiny_spec, "--results", results)
    assert res.exit_code == 0
    line = next(ln for ln in res.output.splitlines() if ln.endswith("by otherhost:4242:abcdef"))
    assert line.split()[6] == "running" and " since 20" in line  # id method model dataset s seed
    assert "1 running, 1 pending" in res.output


def test_a_missing_dataset_root_fails_once_before_any_run_and_stores_nothing(tmp_path, results):
    spec = tmp_path / "cifar.toml"
    spec.write_text(
        '[suite]\nname = "nodata"\nseeds = [0, 1]\n'
        '[grid]\nmethod = ["dense", "dpf"]\nmodel = ["resnet20"]\ndataset = ["cifar10"]\n'
        'sparsity = [0.5, 0.9]\n[train]\nepochs = 1\n'
        f'[dataset.cifar10]\nroot = "{tmp_path / "no-such-folder"}"\n')
    proc = subprocess.run([sys.executable, "-m", "suite.cli", "run", str(spec), "--results",
                           str(results)], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "no-such-folder" in proc.stderr
    assert "cifar10" in proc.stderr
    assert not (results / "suite.db").exists() or not Store(results, create=False).runs()
    assert not (results / "runs").exists()
