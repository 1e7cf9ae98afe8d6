"""``[model.<name>] checkpoint``: start from a state dict the suite itself trained.

A seconds-long DPF run (tests/small_specs.py) writes the model, the run checkpoint and
the ``suite export --model`` files once; the tests load them back: into the model a
second spec builds, through the trainer, in each supported layout, and check the id
rule (no checkpoint: the old id; same bytes elsewhere: the same id; other bytes:
another id) and the error messages.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from progress_stops import InterruptAfter
from small_specs import ONE_METHOD
from torchvision.models import resnet50 as tv_resnet50

from backends.base import NullProgress
from backends.training import Trainer
from suite.cli import main
from suite.data import create_dataset
from suite.data.info import DatasetInfo
from suite.errors import SpecError
from suite.grid import expand
from suite.models import create_model
from suite.models.checkpoint import (
    START_RECORD,
    load_checkpoint,
    load_state,
    read_state_file,
    resolve_model_options,
)
from suite.spec import parse_spec

#: The dense cell of ONE_METHOD's model and data, as ids were before checkpoints existed.
DENSE_ID = "48080b5e0ac3"
DENSE = ONE_METHOD.replace('method = ["dpf"]', 'method = ["dense"]')
CPU = torch.device("cpu")


def spec_text(checkpoint: str | Path | None = None, extra: str = "", base: str = DENSE) -> str:
    lines = ([f'checkpoint = "{checkpoint}"'] if checkpoint is not None else []) + ([extra] if extra else [])
    return base.replace("hidden = [16]", "\n".join(["hidden = [16]", *lines]))


def cell_of(text: str):
    return expand(parse_spec(text))[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished DPF run of ONE_METHOD and its exported files."""
    root = tmp_path_factory.mktemp("trained")
    (root / "one.toml").write_text(ONE_METHOD)
    results = root / "results"
    run = CliRunner().invoke(main, ["run", str(root / "one.toml"), "--results", str(results)],
                             catch_exceptions=False)
    assert run.exit_code == 0, run.output
    run_dir = results / "runs" / cell_of(ONE_METHOD).id / "seed-0"
    out = root / "export" / "mlp.pt"
    export = CliRunner().invoke(main, ["export", "--model", str(run_dir), "--out", str(out)],
                                catch_exceptions=False)
    assert export.exit_code == 0, export.output
    return SimpleNamespace(root=root, model=run_dir / "model.pt", checkpoint=run_dir / "checkpoint.pt",
                           plain=out, prune=out.with_name("mlp.prune.pt"),
                           state=torch.load(run_dir / "model.pt", weights_only=True))


def fresh_model(text: str = DENSE):
    cell = cell_of(text)
    info = create_dataset(cell.dataset, cell.dataset_options).info()
    torch.manual_seed(0)
    return create_model(cell.model, info, cell.model_options)


def same(model, state) -> bool:
    own = model.state_dict()
    return own.keys() == state.keys() and all(torch.equal(own[k], state[k]) for k in state)


# ----- ids ---------------------------------------------------------------------------
def test_the_file_contents_join_the_id_and_the_path_does_not(trained, tmp_path):
    assert cell_of(DENSE).id == cell_of(spec_text()).id == DENSE_ID
    with_file = cell_of(spec_text(trained.model))
    assert with_file.id != DENSE_ID
    assert with_file.model_options.checkpoint_sha256 == read_state_file(trained.model, "x").sha256
    assert "checkpoint" not in with_file.canonical()["model_options"]

    copy = tmp_path / "elsewhere" / "weights.bin"
    copy.parent.mkdir()
    shutil.copyfile(trained.model, copy)
    assert cell_of(spec_text(copy)).id == with_file.id

    other = cell_of(spec_text(trained.prune))  # the same weights, other bytes
    assert other.id not in (with_file.id, DENSE_ID)
    loose = cell_of(spec_text(trained.model, "checkpoint_strict = false"))
    assert loose.id not in (with_file.id, DENSE_ID)


def test_resolve_after_replacing_the_path(trained):
    options = cell_of(spec_text(trained.model)).model_options
    moved = dataclasses.replace(options, checkpoint=str(trained.prune))
    resolved = resolve_model_options(moved, "model.mlp")
    assert resolved.checkpoint_sha256 == read_state_file(trained.prune, "x").sha256
    cleared = resolve_model_options(dataclasses.replace(options, checkpoint=""), "model.mlp")
    assert cleared == cell_of(DENSE).model_options
    with pytest.raises(SpecError, match="has no digest: .*resolve_model_options"):
        load_checkpoint(fresh_model(), dataclasses.replace(cleared, checkpoint=str(trained.model)),
                        "model.mlp.checkpoint")


def test_relative_paths_are_relative_to_the_working_directory(trained, tmp_path, monkeypatch):
    shutil.copyfile(trained.model, tmp_path / "start.pt")
    monkeypatch.chdir(tmp_path)
    assert cell_of(spec_text("start.pt")).id == cell_of(spec_text(trained.model)).id
    with pytest.raises(SpecError, match=r"model.mlp.checkpoint = 'gone.pt': cannot read it \(No such "
                                        r"file or directory; relative paths are relative to the "
                                        rf"working directory {re.escape(str(tmp_path))}\)"):
        parse_spec(spec_text("gone.pt"))


# ----- loading -----------------------------------------------------------------------
def test_the_trainer_starts_from_the_file_and_records_it(trained, tmp_path):
    cell = cell_of(spec_text(trained.model, base=DENSE.replace("epochs = 1", "epochs = 1\nlr = 0.05")))
    trainer = Trainer(cell, 0, tmp_path / "run", CPU)
    trainer.build()
    assert same(trainer.model, trained.state)  # before the method's setup and any step
    plain = Trainer(cell_of(DENSE), 0, tmp_path / "plain", CPU)
    plain.build()
    assert not same(plain.model, trained.state) and plain.model_start is None

    record = Trainer(cell, 0, tmp_path / "fit", CPU).fit(NullProgress())
    found = record["provenance"]["model_checkpoint"]
    assert found["sha256"] == cell.model_options.checkpoint_sha256
    assert found["path"] == str(trained.model) and found["layout"] == "state dict"
    assert found["loaded"] == len(trained.state) and found["skipped"] == 0
    assert "model_checkpoint" not in Trainer(cell_of(DENSE), 0, tmp_path / "p2", CPU).fit(
        NullProgress())["provenance"]


def test_a_resumed_run_keeps_its_own_weights(trained, tmp_path):
    cell = cell_of(spec_text(trained.model))
    first = Trainer(cell, 0, tmp_path, CPU)
    first.build()
    with torch.no_grad():
        first.model[1].weight.mul_(0.5)  # what training did after the start
    first.save_checkpoint()
    trained_state = {k: v.clone() for k, v in first.model.state_dict().items()}

    again = Trainer(cell, 0, tmp_path, CPU)
    again.build()
    assert not same(again.model, trained.state)  # the file was not loaded again ...
    assert again.model_start == first.model_start  # ... but is still the run's provenance
    assert (tmp_path / START_RECORD).is_file()
    assert again.try_resume() and same(again.model, trained_state)


def test_resume_is_exact_and_does_not_read_the_file_again(trained, tmp_path):
    start = tmp_path / "start.pt"
    shutil.copyfile(trained.model, start)
    cell = cell_of(spec_text(start, base=DENSE.replace("epochs = 1", "epochs = 2")))
    whole = Trainer(cell, 0, tmp_path / "whole", CPU).fit(NullProgress())
    with pytest.raises(KeyboardInterrupt):  # in epoch 2 (2 steps each), after epoch 1's checkpoint
        Trainer(cell, 0, tmp_path / "cut", CPU).fit(InterruptAfter(3))
    start.write_bytes(b"gone")  # a resumed run has its own weights
    resumed = Trainer(cell, 0, tmp_path / "cut", CPU).fit(NullProgress())
    assert resumed["metrics"] == whole["metrics"] and resumed["curve"] == whole["curve"]
    assert resumed["provenance"]["model_checkpoint"] == whole["provenance"]["model_checkpoint"]


def test_prune_format_masks_are_folded(trained):
    file = read_state_file(trained.prune, "model.mlp.checkpoint")
    assert file.layout == "torch.nn.utils.prune masks folded"
    assert any(k.endswith("_mask") for k in torch.load(trained.prune, weights_only=True))
    model = fresh_model()
    load_state(model, file.state, strict=True, where="w", path="p")
    assert same(model, trained.state)
    assert read_state_file(trained.plain, "w").layout == "state dict"


@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")  # torch's own notice
@pytest.mark.parametrize("wrap,layout", [
    (lambda s: {"state_dict": {f"module.{k}": v for k, v in s.items()}, "epoch": 3},
     "under 'state_dict', 'module.' prefix removed"),
    (lambda s: {"module": s, "buffer_names": []}, "under 'module'"),
    (lambda s: {f"_orig_mod.{k}": v for k, v in s.items()}, "'_orig_mod.' prefix removed"),
    (lambda s: {k: v.to_sparse() if v.dim() == 2 else v for k, v in s.items()},
     "sparse tensors made dense"),
])
def test_wrapped_and_prefixed_files(trained, tmp_path, wrap, layout):
    path = tmp_path / "wrapped.pt"
    torch.save(wrap(trained.state), path)
    cell = cell_of(spec_text(path))
    model = fresh_model()
    record = load_checkpoint(model, cell.model_options, "model.mlp.checkpoint")
    assert record["layout"] == layout and same(model, trained.state)


def test_run_checkpoint_and_safetensors_files(trained, tmp_path):
    assert read_state_file(trained.checkpoint, "w").layout == "under 'model'"
    safetensors = pytest.importorskip("safetensors.torch")  # the speed extra installs it
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors.save({k: v.contiguous() for k, v in trained.state.items()}))
    file = read_state_file(path, "w")
    model = fresh_model()
    load_state(model, file.state, strict=True, where="w", path="p")
    assert file.layout == "safetensors" and same(model, trained.state)


def test_torchvision_and_timm_resnet50_state_dicts(tmp_path):
    """timm's resnet50 has torchvision's keys, so one file stands for both; torchvision's
    older files lack BN's num_batches_tracked."""
    info = DatasetInfo(10, (3, 64, 64), (0.5,) * 3, (0.25,) * 3)
    torch.manual_seed(1)
    state = {k: v for k, v in tv_resnet50(weights=None, num_classes=10).state_dict().items()
             if not k.endswith("num_batches_tracked")}
    path = tmp_path / "resnet50.pth"
    torch.save(state, path)
    torch.manual_seed(0)
    model = create_model("resnet50", info)
    load_state(model, read_state_file(path, "w").state, strict=True, where="w", path="p")
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items())


# ----- mismatches and errors ---------------------------------------------------------
def test_shape_mismatch_is_refused_and_partial_loading_is_an_option(trained):
    wider = spec_text(trained.model).replace("hidden = [16]", "hidden = [32]")
    trainer = Trainer(cell_of(wider), 0, Path("unused"), CPU)
    with pytest.raises(SpecError) as exc:
        trainer.build()
    text = str(exc.value)
    assert text.startswith(f"model.mlp.checkpoint = '{trained.model}' does not fit the model")
    assert "1.weight: file (16, 64), model (32, 64)" in text
    assert "set model.mlp.checkpoint_strict = false" in text

    four = (spec_text(trained.model, "checkpoint_strict = false")
            .replace("test_size = 64", "test_size = 64\nnum_classes = 4"))
    model = fresh_model(four)
    record = load_checkpoint(model, cell_of(four).model_options, "model.mlp.checkpoint")
    assert record["reshaped"] == ["4.weight", "4.bias"] and record["loaded"] == len(trained.state) - 2
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in trained.state.items() if not k.startswith("4."))


def test_unrelated_keys_are_listed(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(3)}, path)
    with pytest.raises(SpecError, match=r"8 keys missing \(1.weight, 1.bias, .*\(8 in all\)\), "
                                        r"1 unexpected \(encoder.weight\); no tensor of the file fits"):
        load_checkpoint(fresh_model(), cell_of(spec_text(path)).model_options, "model.mlp.checkpoint")


def test_a_file_changed_after_the_spec_was_read_fails_the_run(trained, tmp_path):
    path = tmp_path / "moving.pt"
    shutil.copyfile(trained.model, path)
    cell = cell_of(spec_text(path))
    shutil.copyfile(trained.prune, path)
    with pytest.raises(SpecError, match=r"changed after the spec was read \(sha256 [0-9a-f]{12}, "
                                        r"the cell's id names [0-9a-f]{12}\)"):
        Trainer(cell, 0, tmp_path / "run", CPU).build()


def _bad(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


@pytest.mark.parametrize("name,content,says", [
    ("missing.pt", None, r"cannot read it \(No such file or directory; relative paths are relative"),
    ("notes.txt", b"not a checkpoint at all\n", r"cannot be read with torch.load\(weights_only=True\)"),
    ("list.pt", [1, 2, 3], r"holds a list, not a state dict"),
    ("stats.pt", {"epoch": 3, "top1": 91.0}, r"holds a mapping with keys epoch, top1, not a state dict"),
    ("numbers.pt", {1: torch.ones(1)}, r"holds a mapping with keys 1, not a state dict"),
    ("empty.pt", {}, r"holds an empty mapping, not a state dict"),
    ("pickle.pt", {"model": SimpleNamespace(a=1)}, r"Unsupported global: GLOBAL types.SimpleNamespace"),
])
def test_unreadable_files_are_spec_errors(tmp_path, name, content, says):
    path = tmp_path / name if content is None else _bad(tmp_path, name, content)
    with pytest.raises(SpecError) as exc:
        parse_spec(spec_text(path), "two.toml")
    text = str(exc.value)
    assert text.startswith(f"two.toml: model.mlp.checkpoint = '{path}'"), text
    assert re.search(says, text), text
    assert "expected a state dict (torch.save or safetensors): the suite's model.pt" in text


def test_option_errors():
    with pytest.raises(SpecError, match=r"model.mlp.checkpoint_sha256 is the SHA-256 of the "
                                        r"checkpoint file, filled in when the spec is read"):
        parse_spec(spec_text(extra='checkpoint_sha256 = "abc"'))
    with pytest.raises(SpecError, match=r"model.mlp.checkpoint_strict = false has no effect without "
                                        r"model.mlp.checkpoint"):
        parse_spec(spec_text(extra="checkpoint_strict = false"))
    with pytest.raises(SpecError, match=r"model.mlp.checkpoint = 3 has the wrong type; expected a string"):
        parse_spec(spec_text(extra="checkpoint = 3"))

