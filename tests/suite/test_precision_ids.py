"""Precision and cell ids: fp32 (the default) keeps every existing id, bf16 and auto are
cells of their own, and auto joins the id as asked, not as resolved on a host."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from backends import precision as numerics
from suite.grid import expand
from suite.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]


def ids(text: str, backend: str = "torch", table: str = "") -> list[str]:
    if backend != "torch":
        text = text.replace("[suite]", f'[suite]\nbackend = "{backend}"', 1)
    return [c.id for c in expand(parse_spec(text + (f"\n[backend.{backend}]\n{table}" if table else "")))]


def test_literal_ids_per_precision(tiny_spec_text):
    assert ids(tiny_spec_text) == ["b84a1bf5b404"]  # the id of before precision existed
    assert ids(tiny_spec_text, table='precision = "fp32"\n') == ["b84a1bf5b404"]
    assert ids(tiny_spec_text, table='precision = "bf16"\n') == ["6d86525891cc"]
    assert ids(tiny_spec_text, table='precision = "auto"\n') == ["b4de5bbd62fc"]


def test_precision_is_in_the_canonical_cell_only_when_not_fp32(tiny_spec_text):
    plain = expand(parse_spec(tiny_spec_text))[0]
    assert "precision" not in plain.canonical() and plain.precision == "fp32"
    bf16 = expand(parse_spec(tiny_spec_text + '[backend.torch]\nprecision = "bf16"\n'))[0]
    assert bf16.canonical() == {**plain.canonical(), "precision": "bf16"}


def test_other_knobs_stay_out_of_the_id(tiny_spec_text):
    assert ids(tiny_spec_text, table="compile = true\ntf32 = false\nthreads = 1\n") == ids(tiny_spec_text)


def test_one_meaning_on_both_backends(tiny_spec_text):
    for precision in ("fp32", "bf16", "auto"):
        table = f'precision = "{precision}"\n'
        on_deepspeed = ids(tiny_spec_text, "deepspeed", table + "zero_stage = 1\n")
        assert on_deepspeed == ids(tiny_spec_text, table=table)
    assert ids(tiny_spec_text, "deepspeed", 'precision = "fp16"\nzero_stage = 1\n') != ids(tiny_spec_text)


def test_the_precision_comes_from_the_spec_backend_table(tiny_spec_text):
    # a table of a backend the spec does not use does not change its cells
    assert ids(tiny_spec_text, table="") == ids(
        tiny_spec_text + '[backend.deepspeed]\nprecision = "bf16"\nzero_stage = 1\n')


def test_auto_ids_do_not_depend_on_the_host(tiny_spec_text, monkeypatch):
    seen = set()
    for native in (True, False):
        monkeypatch.setattr(numerics, "cpu_native_bf16", lambda n=native: n)
        seen.add(tuple(ids(tiny_spec_text, table='precision = "auto"\n')))
    assert len(seen) == 1


def committed_cells() -> dict[str, dict]:
    """The canonical cells of docs/results' store, read-only."""
    db = ROOT / "docs" / "results" / "store" / "suite.db"
    if not db.exists():
        pytest.skip("no committed store")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT id, canonical FROM cells WHERE id IN (SELECT cell_id FROM runs)")
        return {cid: json.loads(text) for cid, text in rows}


def test_the_committed_store_keeps_its_ids_under_the_default_precision():
    """docs/results' store holds the earlier fp32 grid of specs/cifar10_cpu.toml: the same
    cells without the spec's ``precision = "auto"`` keep the ids they were stored under."""
    grid = expand(load_spec(ROOT / "specs" / "cifar10_cpu.toml"))
    dense = next(c for c in grid if c.method == "dense")
    assert dense.precision == "auto"
    fp32 = replace(dense, precision="fp32")
    stored = committed_cells()
    assert fp32.id in stored and "precision" not in stored[fp32.id]
    assert dense.canonical() == {**stored[fp32.id], "precision": "auto"}


def test_the_parity_collection_shares_its_fp32_cell_with_the_earlier_cpu_grid():
    from suite.collection import load_specs

    fp32, bf16 = (expand(s) for s in load_specs(ROOT / "specs" / "precision_parity_cpu.toml").specs)
    assert [c.precision for c in fp32 + bf16] == ["fp32", "bf16"]
    stored = committed_cells()
    assert stored[fp32[0].id]["method"] == "dense"
    assert bf16[0].canonical() == {**fp32[0].canonical(), "precision": "bf16"}
