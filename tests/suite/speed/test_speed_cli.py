"""``suite measure`` end to end on a seconds-long grid: records in the store, the speed
export, the reports' speed table and figure, the exported model files."""

from __future__ import annotations

import io
import textwrap

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from suite.cli import main

pytest.importorskip("torch_pruning", reason="the speed extra: pip install 'pruning-suite[speed]'")
pytest.importorskip("safetensors", reason="the speed extra: pip install 'pruning-suite[speed]'")

SPEC = textwrap.dedent("""
    [suite]
    name = "speedtiny"
    seeds = [0]

    [grid]
    method = ["dense", "dpf", "snip"]
    model = ["small_cnn"]
    dataset = ["synthetic"]
    sparsity = [0.5]

    [train]
    epochs = 1
    batch_size = 64
    lr = 0.05

    [method.dpf]
    structure = "filter"
    exclude_last_linear = true

    [dataset.synthetic]
    channels = 3
    image_size = 16
    train_size = 128
    test_size = 64
""")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    root = tmp_path_factory.mktemp("speed")
    spec = root / "tiny.toml"
    spec.write_text(SPEC)
    results = root / "results"
    assert invoke("run", spec, "--results", results).exit_code == 0
    before = invoke("report", spec, "--results", results, "--format", "markdown").output
    got = invoke("measure", spec, "--results", results, "--batch", "1,8", "--repeats", "2",
                 "--warmup", "0")
    assert got.exit_code == 0, got.output
    return spec, results, before, got.output


def test_measure_says_what_it_skipped_and_measured(measured):
    _, _, _, output = measured
    assert "GPU paths skipped" in output
    assert "dpf/small_cnn s=0.5 seed=0: shrunk" in output
    assert "snip/small_cnn s=0.5 seed=0: sparse_csr" in output
    assert "3 runs measured" in output


def test_the_speed_export_has_a_row_per_run_and_batch(measured):
    spec, results, _, _ = measured
    got = invoke("export", spec, "--results", results, "--table", "speed")
    df = pd.read_csv(io.StringIO(got.output))
    assert len(df) == 6 and sorted(set(df.batch)) == [1, 8]
    assert set(df.form) == {"dense", "shrunk", "sparse_csr"}
    assert df.cpu_capability.notna().all() and (df.threads == 1).all()
    assert (df.pruned_p10_ms <= df.pruned_median_ms).all() and (df.pruned_median_ms <= df.pruned_p90_ms).all()
    shrunk = df[df.form == "shrunk"].iloc[0]
    assert shrunk.macs_pruned < shrunk.macs_dense and shrunk.max_abs_diff <= 1e-5


def test_every_report_format_shows_macs_kept_and_measured_speedup(measured, tmp_path):
    spec, results, before, _ = measured
    md = invoke("report", spec, "--results", results, "--format", "markdown").output
    assert md.startswith(before.rstrip("\n")[:200]) and "| MACs kept | measured speedup (batch 1 / 8) |" in md
    csv = pd.read_csv(io.StringIO(invoke("report", spec, "--results", results, "--format", "csv").output))
    assert {"macs_kept", "speedup_batch_1", "speedup_batch_8"} <= set(csv.columns)
    html = invoke("report", spec, "--results", results, "--format", "html").output
    assert "Measured speedup (batch 1 / 8)" in html and "Measured speedup against sparsity" in html
    tex = invoke("report", spec, "--results", results, "--format", "latex", "--figures", tmp_path).output
    assert "tab:speedtiny-speed" in tex and "speed.pdf" in tex


def test_the_pruned_models_are_exported(measured):
    from safetensors.torch import load_file

    _, results, _, _ = measured
    shrunk = list(results.glob("runs/*/seed-0/export/shrunk.pt"))
    assert len(shrunk) == 1
    model = torch.jit.load(str(shrunk[0]))
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 10)
    tensors = load_file(str(shrunk[0].with_name("weights.safetensors")))
    assert any(k.endswith(".weight.mask") for k in tensors)


def test_a_bad_batch_list_is_a_usage_error(measured):
    spec, results, _, _ = measured
    got = invoke("measure", spec, "--results", results, "--batch", "1,x")
    assert got.exit_code == 2 and "--batch '1,x'" in got.output and "Traceback" not in got.output


def test_only_selects_runs_and_names_unknown_values(measured):
    spec, results, _, _ = measured
    got = invoke("measure", spec, "--results", results, "--only", "method=dpf", "--batch", "1",
                 "--repeats", "1", "--warmup", "0", "--no-export")
    assert got.exit_code == 0 and "1 runs measured" in got.output
    got = invoke("measure", spec, "--results", results, "--only", "method=dfp")
    assert got.exit_code == 2 and "dfp" in got.output and "Traceback" not in got.output
