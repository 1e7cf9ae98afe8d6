"""The result record: its JSON form, the upgrade of older formats step by step, the
refusal of newer and unknown ones, and the committed version 1 store read through it."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from backends.base import Backend
from suite.errors import StoreError
from suite.report import stored_specs
from suite.result import CURRENT, RESULT_FORMAT, UPDATES, ResultRecord, upgrade
from suite.runner import execute
from suite.runs import frame
from suite.spec import parse_spec
from suite.store import Store

COMMITTED = Path(__file__).resolve().parent / "store" / "data" / "suite_v1.db"

V1 = {
    "format": "suite.result/1", "cell_id": "abc123", "cell": {"method": "dense", "model": "mlp"},
    "seed": 1,
    "metrics": {"top1": 97.5, "best_top1": 98.0, "test_loss": 0.1, "train_loss": 0.05},
    "curve": [{"epoch": 1, "train_loss": 0.05, "top1": 97.5, "lr": 0.1, "sparsity": 0.0}],
    "sparsity": {"target": 0.0, "overall": 0.0, "per_layer": {"fc1": 0.0}, "off_target": False},
    "flips": [],
    "timing": {"train_seconds": 1.0, "wall_seconds": 1.5, "images_per_second": 900.0},
    "provenance": {"torch": "2.5.0", "device": "cpu", "started": 1.0, "finished": 2.5},
}


def test_the_chain_of_upgrades_reaches_the_current_format():
    assert sorted(UPDATES) == list(range(2, CURRENT + 1))
    assert RESULT_FORMAT == f"suite.result/{CURRENT}" == "suite.result/2"


def test_a_version_1_record_is_upgraded_to_the_current_format():
    given = copy.deepcopy(V1)
    record = ResultRecord.from_json(given)
    assert given == V1  # the stored dict is left as it was
    assert record.format == RESULT_FORMAT
    assert (record.cell_id, record.cell, record.seed) == ("abc123", V1["cell"], 1)
    assert (record.metrics, record.curve, record.sparsity, record.flips, record.timing) == (
        V1["metrics"], V1["curve"], V1["sparsity"], V1["flips"], V1["timing"])
    # format 2: the torch backend, which named none, is named; the rest is kept in order
    assert record.provenance == {**V1["provenance"], "backend": "torch"}
    assert list(record.provenance) == [*V1["provenance"], "backend"]
    assert record.validation is None and record.per_layer == {"fc1": 0.0}
    assert record.to_json() == {**V1, "format": "suite.result/2",
                                "provenance": {**V1["provenance"], "backend": "torch"}}


def test_a_version_1_deepspeed_record_keeps_its_backend():
    provenance = {"torch": "2.5.0", "backend": "deepspeed", "deepspeed_run": {"world_size": 2}}
    record = ResultRecord.from_json({**V1, "provenance": provenance})
    assert record.provenance == provenance


@pytest.mark.parametrize("found", ["suite.result/3", "suite.result/12"])
def test_a_record_of_a_newer_format_is_refused(found):
    with pytest.raises(StoreError, match=rf"format '{found}', newer than this version of suite "
                                         r"reads \('suite.result/1', 'suite.result/2'\).*Upgrade"):
        ResultRecord.from_json({**V1, "format": found})


@pytest.mark.parametrize("found", [None, "x", "suite.result/0", "suite.result/01",
                                   "suite.result/1.5", 1, "suite.measure/1"])
def test_a_record_of_an_unknown_format_is_refused(found):
    record = {**V1, "format": found} if found is not None else {k: v for k, v in V1.items()
                                                               if k != "format"}
    with pytest.raises(StoreError, match=rf"format {found!r}, which is not a format of suite "
                                         r"result records; this version reads 'suite.result/1', "
                                         r"'suite.result/2'"):
        upgrade(record)


def test_to_json_and_from_json_round_trip_byte_for_byte():
    current = ResultRecord.from_json(V1).to_json()
    for data in (current, {**current, "validation": {"fraction": 0.1, "images": 10}}):
        record = ResultRecord.from_json(data)
        assert ResultRecord.from_json(record.to_json()) == record
        assert json.dumps(record.to_json()) == json.dumps(data)
    assert list(ResultRecord.from_json(current).to_json()) == [
        "format", "cell_id", "cell", "seed", "metrics", "curve", "sparsity", "flips", "timing",
        "provenance"]


def test_missing_unknown_and_mistyped_fields_are_refused():
    current = ResultRecord.from_json(V1).to_json()
    with pytest.raises(StoreError, match=r"cell 'abc123' does not match format "
                                         r"'suite.result/2': missing flips; unknown extra"):
        ResultRecord.from_json({**{k: v for k, v in current.items() if k != "flips"}, "extra": 1})
    with pytest.raises(StoreError, match=r"'seed' is str, not int"):
        ResultRecord.from_json({**current, "seed": "1"})
    with pytest.raises(StoreError, match=r"not list"):
        ResultRecord.from_json({**current, "curve": None})
    with pytest.raises(StoreError, match=r"a JSON object, not list"):
        ResultRecord.from_json([])


def test_the_committed_version_1_store_still_reads(tmp_path):
    shutil.copy(COMMITTED, tmp_path / "suite.db")
    store = Store(tmp_path, create=False)
    rows = store.runs()
    assert len(rows) == 14
    for row in rows.values():
        assert row.result["format"] == "suite.result/1"
        record = row.record
        assert record.format == RESULT_FORMAT and record.provenance["backend"] == "torch"
        stored = {**row.result, "format": RESULT_FORMAT,
                  "provenance": {**row.result["provenance"], "backend": "torch"}}
        assert json.dumps(record.to_json()) == json.dumps(stored)
    (spec,) = stored_specs(store)  # as it was run; cells whose ids moved since read pending
    runs = frame(spec, store)
    done = runs[runs["status"] == "done"]
    assert len(done) == sum((c, int(s)) in rows for c, s in zip(runs["cell_id"], runs["seed"], strict=True))
    assert len(done) >= 10 and done["top1"].notna().all() and done["git_commit"].notna().all()
    store.close()


def test_a_backend_whose_record_is_malformed_fails_its_run(tmp_path, tiny_spec_text):
    class Malformed(Backend):
        name = "malformed"

        def fit(self, cell, seed, run_dir, progress):
            return {"format": RESULT_FORMAT, "cell_id": cell.id, "seed": seed}

    store = Store(tmp_path / "r")
    spec = parse_spec(tiny_spec_text.replace("seeds = [0, 1]", "seeds = [0]"))
    summary = execute(spec, store, Malformed(None))
    assert (summary.ran, summary.done, len(summary.failed)) == (1, 0, 1)
    (row,) = store.runs().values()
    assert row.status == "failed" and "missing cell, metrics, curve" in row.error
    assert row.record is None
    store.close()
