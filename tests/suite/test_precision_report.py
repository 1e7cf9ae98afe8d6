"""Precision in the runs export and the reports: every run's numerics are columns, and a
cell whose seeds trained in different precisions is flagged, never silently averaged."""

from __future__ import annotations

import pytest

from suite import report
from suite.export import RUN_COLUMNS
from suite.grid import expand
from suite.result import RESULT_FORMAT
from suite.spec import parse_spec
from suite.store import Store


def record(cell, seed: int, top1: float, provenance: dict) -> dict:
    return {
        "format": RESULT_FORMAT, "cell_id": cell.id, "cell": cell.canonical(), "seed": seed,
        "metrics": {"top1": top1, "best_top1": top1, "train_loss": 0.5, "test_loss": 0.4},
        "curve": [{"epoch": 1, "train_loss": 0.5, "top1": top1, "lr": 0.1, "sparsity": 0.0}],
        "sparsity": {"target": 0.0, "overall": 0.0, "per_layer": {}, "off_target": False,
                     "params_total": 10, "params_prunable": 8, "params_kept": 10,
                     "macs_total": 10, "macs_kept": 10},
        "flips": [], "timing": {"train_seconds": 1.0, "wall_seconds": 1.0, "images_per_second": 1.0},
        "provenance": provenance,
    }


BF16_HOST = {"device": "cpu", "device_name": "Xeon", "precision": "bf16", "tf32": None,
             "compile": False, "cpu_name": "Xeon", "cpu_capability": "AVX512", "gpu_name": None}
FP32_HOST = {**BF16_HOST, "precision": "fp32", "cpu_name": "EPYC", "cpu_capability": "AVX2",
             "device_name": "EPYC"}
OLD_RECORD = {"device": "cpu", "device_name": "EPYC 7B13"}  # from before precision was recorded


@pytest.fixture
def auto_spec(tiny_spec_text):
    text = tiny_spec_text.replace("seeds = [0, 1]", "seeds = [0, 1, 2]")
    return parse_spec(text + '[backend.torch]\nprecision = "auto"\n')


def stored_runs(tmp_path, spec, provenances) -> Store:
    """A real store holding one finished run per provenance, seeds 0, 1, ..."""
    store = Store(tmp_path / "results")
    cell = expand(spec)[0]
    store.record_spec(spec, [cell])
    for seed, prov in enumerate(provenances):
        claim = store.claim(cell.id, seed, "test:1:x")
        assert store.finish(claim, "done", record(cell, seed, 90.0 + seed, prov))
    return store


def test_runs_export_has_the_numerics_columns(tmp_path, auto_spec):
    store = stored_runs(tmp_path, auto_spec, [BF16_HOST, FP32_HOST, OLD_RECORD])
    df = report.frame(auto_spec, store)
    assert {"precision", "tf32", "compile", "cpu_name", "cpu_capability", "gpu_name"} <= set(RUN_COLUMNS)
    assert list(df["precision"]) == ["bf16", "fp32", "fp32"]  # an old record trained in fp32
    assert list(df["cpu_capability"])[:2] == ["AVX512", "AVX2"]
    assert list(df["cpu_name"]) == ["Xeon", "EPYC", "EPYC 7B13"]


def test_a_cell_that_mixed_precisions_is_flagged(tmp_path, auto_spec):
    store = stored_runs(tmp_path, auto_spec, [BF16_HOST, FP32_HOST, BF16_HOST])
    table = report.summarize(auto_spec, report.frame(auto_spec, store))
    (summary,) = table.rows[0].cells.values()
    assert summary.precisions == {"bf16": 2, "fp32": 1}
    assert "mixed precision: 2 bf16, 1 fp32" in summary.notes()
    assert [f.text for f in table.footnotes] == ["seeds trained in mixed precisions: 2 bf16, 1 fp32"]
    markdown = report.render([table], "markdown")
    assert "mixed precision: 2 bf16, 1 fp32" in markdown
    assert "precision" in report.render([table], "csv").splitlines()[0]
    for fmt in ("html", "latex"):
        assert "seeds trained in mixed precisions: 2 bf16, 1 fp32" in report.render([table], fmt)


def test_a_single_precision_cell_has_no_flag(tmp_path, auto_spec):
    store = stored_runs(tmp_path, auto_spec, [BF16_HOST, BF16_HOST, BF16_HOST])
    table = report.summarize(auto_spec, report.frame(auto_spec, store))
    (summary,) = table.rows[0].cells.values()
    assert summary.mixed_precision == "" and not table.footnotes
    assert not any("precision" in note for note in summary.notes())
    assert table.precision_text == ""
    for fmt in ("markdown", "html", "latex"):
        assert "different precisions" not in report.render([table], fmt)


def test_cells_of_one_table_in_different_precisions_are_listed(tmp_path, auto_spec):
    """dense in bf16 on one machine, DPF in fp32 on another (its first seed on both):
    the table says which runs trained in which; dense counts once, not once per row."""
    text = auto_spec.text.replace('method = ["dense"]', 'method = ["dense", "dpf"]')
    spec = parse_spec(text.replace("sparsity = [0.5]", "sparsity = [0.5, 0.9]"))
    store = Store(tmp_path / "results")
    cells = expand(spec)
    store.record_spec(spec, cells)
    hosts = {"dense": [BF16_HOST] * 3, "dpf": [BF16_HOST, FP32_HOST, FP32_HOST]}
    for cell in cells:
        for seed, prov in enumerate(hosts[cell.method]):
            claim = store.claim(cell.id, seed, "test:1:x")
            assert store.finish(claim, "done", record(cell, seed, 80.0 + seed, prov))
    table = report.summarize(spec, report.frame(spec, store))
    assert len(table.rows) == 2
    assert table.precision_runs == {"bf16": [("dense", 3), ("dpf", 2)], "fp32": [("dpf", 4)]}
    line = ("Runs trained in different precisions (finished runs per method): "
            "bf16: Dense 3, DPF 2; fp32: DPF 4.")
    assert line in report.render([table], "markdown")
    assert line in report.render([table], "html")
    assert line in report.render([table], "latex")
