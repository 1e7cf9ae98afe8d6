"""Precision, TF32 and compile on the torch backend: what ``auto`` picks, what stays
fp32 under bf16, what a result records, resumes in bf16, and compile falling back."""

from __future__ import annotations

import warnings

import pytest
import torch
from progress_stops import InterruptAfter

from backends import create_backend
from backends import precision as numerics
from backends.base import NullProgress
from backends.deepspeed import DeepSpeedBackend, DeepSpeedOptions
from backends.torch_backend import TorchOptions
from backends.training import Trainer
from methods import masks as masks_module
from suite.errors import SpecError, SuiteError
from suite.grid import expand
from suite.spec import parse_spec

CPU = torch.device("cpu")


def spec_at(text: str, precision: str | None, **knobs):
    table = f'precision = "{precision}"\n' if precision else ""
    table += "".join(f"{k} = {str(v).lower()}\n" for k, v in knobs.items())
    return parse_spec(text + (f"\n[backend.torch]\n{table}" if table else ""))


def fit(cell, run_dir, precision="fp32", progress=None, **options):
    backend = create_backend("torch", TorchOptions(device="cpu", precision=precision, **options))
    return backend.fit(cell, 0, run_dir, progress or NullProgress())


@pytest.fixture
def native(monkeypatch):
    """Pretend the CPU has (True) or lacks (False) native bf16."""
    def set_native(value: bool) -> None:
        monkeypatch.setattr(numerics, "cpu_native_bf16", lambda: value)
    return set_native


def test_auto_picks_bf16_only_where_native(native):
    native(True)
    assert numerics.resolve("auto", CPU) == "bf16"
    native(False)
    assert numerics.resolve("auto", CPU) == "fp32"
    assert numerics.resolve("fp32", CPU) == "fp32"


def test_bf16_without_native_support_runs_with_a_warning(native):
    native(False)
    with pytest.warns(numerics.EmulatedBf16Warning, match="emulated and slower than fp32"):
        assert numerics.resolve("bf16", CPU) == "bf16"
    native(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert numerics.resolve("bf16", CPU) == "bf16"


def test_cuda_bf16_is_native_from_ampere(monkeypatch):
    cuda = torch.device("cuda", 0)
    for capability, expected in (((7, 5), False), ((8, 0), True), ((9, 0), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d, c=capability: c)
        assert numerics.native_bf16(cuda) is expected


def test_unknown_precision_names_the_key_and_the_allowed_values(tiny_spec_text):
    with pytest.raises(SpecError, match=r"backend.torch.precision = 'fp16' is not allowed; "
                                        r"expected one of 'fp32', 'bf16', 'auto'"):
        spec_at(tiny_spec_text, "fp16")


def test_bf16_autocasts_the_forward_and_keeps_the_rest_fp32(tiny_spec_text, tmp_path):
    spec = spec_at(tiny_spec_text.replace('method = ["dense"]', 'method = ["dpf"]')
                   + "[method.dpf]\nreprune_every = 1\ninitial_sparsity = 0.3\n", "bf16")
    trainer = Trainer(expand(spec)[0], 0, tmp_path, CPU)
    trainer.build()
    trainer.setup_method()
    seen = []
    trainer.model.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    x, y = next(iter(trainer.train_loader.epoch(0)))
    for step in range(3):
        trainer.train_step(x, y, step)
    assert seen and set(seen) == {torch.bfloat16}  # the forward ran in bf16
    # DPF's dense weights (pruned coordinates included), their gradients: fp32
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert any(bool((p != 0).all()) for p in trainer.method._params.values())
    assert all(p.grad.dtype == torch.float32 for p in trainer.model.parameters())
    momenta = [s["momentum_buffer"] for s in trainer.optimizer.state.values()]
    assert momenta and all(m.dtype == torch.float32 for m in momenta)
    assert trainer.method.masks and all(m.dtype == torch.bool for m in trainer.method.masks.values())
    assert trainer.evaluate()["top1"] >= 0  # evaluation runs outside autocast
    assert seen[-1] == torch.float32


@pytest.mark.parametrize("method, options", [
    ("dpf", "reprune_every = 1"), ("snip", ""), ("rigl", "update_every = 1"),
    ("dsr", "rewire_every = 1"), ("granet", "update_every = 1")])
def test_bf16_mask_scores_and_thresholds_are_fp32(tiny_spec_text, tmp_path, monkeypatch, method, options):
    """Every mask selection ranks its scores in one routine (methods.masks._select); under
    bf16 what reaches it (magnitudes, saliencies, gradients) and the threshold it derives
    are fp32, for methods that score weights, saliencies and dense gradients."""
    seen = []
    select = masks_module._select

    def recording(flats, k, magnitude):
        seen.extend(f.dtype for f in flats)
        picked = select(flats, k, magnitude)
        kept = [f[m].abs() if magnitude else f[m] for f, m in zip(flats, picked, strict=True)]
        threshold = min(t.min() for t in kept if t.numel())
        seen.append(threshold.dtype)
        return picked

    monkeypatch.setattr(masks_module, "_select", recording)
    spec = spec_at(tiny_spec_text.replace('method = ["dense"]', f'method = ["{method}"]')
                   + f"[method.{method}]\n{options}\n", "bf16")
    trainer = Trainer(expand(spec)[0], 0, tmp_path, CPU)
    trainer.build()
    trainer.setup_method()
    x, y = next(iter(trainer.train_loader.epoch(0)))
    for step in range(3):
        trainer.train_step(x, y, step)
    assert seen and set(seen) == {torch.float32}


def test_result_records_how_the_run_computed(tiny_spec_text, tmp_path, native):
    native(True)
    cell = expand(spec_at(tiny_spec_text, "auto"))[0]
    r = fit(cell, tmp_path / "r", precision="auto")
    prov = r["provenance"]
    assert (prov["precision"], prov["precision_requested"]) == ("bf16", "auto")
    assert prov["compile"] is False and prov["compile_requested"] is False
    assert prov["tf32"] is None  # a CUDA setting
    assert prov["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert prov["cpu_name"] and prov["gpu_name"] is None
    assert r["cell"]["precision"] == "auto" and r["cell_id"] == cell.id
    assert "precision=bf16 (auto) compile=off" in (tmp_path / "r" / "log.txt").read_text()


def test_bf16_run_resumes_to_the_same_numbers(tiny_spec_text, tmp_path):
    cell = expand(spec_at(tiny_spec_text, "bf16"))[0]
    whole = fit(cell, tmp_path / "whole", "bf16")
    with pytest.raises(KeyboardInterrupt):
        fit(cell, tmp_path / "cut", "bf16", progress=InterruptAfter(256 // 64 + 2))
    resumed = fit(cell, tmp_path / "cut", "bf16")
    assert resumed["metrics"] == whole["metrics"] and resumed["curve"] == whole["curve"]
    fp32 = fit(expand(parse_spec(tiny_spec_text))[0], tmp_path / "fp32")
    assert fp32["metrics"] != whole["metrics"]  # bf16 really changed the numerics


def test_an_auto_run_resumes_in_the_precision_it_started_with(tiny_spec_text, tmp_path, native):
    cell = expand(spec_at(tiny_spec_text, "auto"))[0]
    native(True)
    with pytest.raises(KeyboardInterrupt):
        fit(cell, tmp_path / "run", "auto", progress=InterruptAfter(256 // 64 + 2))
    native(False)  # resumed on a host without bf16: stays bf16 (emulated), warned
    with pytest.warns(numerics.EmulatedBf16Warning):
        r = fit(cell, tmp_path / "run", "auto")
    assert r["provenance"]["precision"] == "bf16"


def test_a_cell_planned_at_another_precision_is_refused(tiny_spec_text, tmp_path):
    cell = expand(spec_at(tiny_spec_text, "bf16"))[0]
    with pytest.raises(SuiteError, match=r"asks for precision = 'bf16' .* \[backend.torch\] has "
                                         r"precision = 'fp32'"):
        fit(cell, tmp_path / "r")
    pytest.importorskip("deepspeed")
    with pytest.raises(SuiteError, match=r"\[backend.deepspeed\] has precision = 'fp32'"):
        DeepSpeedBackend(DeepSpeedOptions()).fit(cell, 0, tmp_path / "ds", NullProgress())
    assert not (tmp_path / "ds").exists()


class FailingCompiled(torch.nn.Module):
    """What a torch.compile that fails at its first call looks like."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        self.model(x)  # buffers may move before the failure
        raise RuntimeError("inductor: no working C++ compiler\nmore detail")


def test_compile_failure_falls_back_once_with_the_eager_numbers(tiny_spec_text, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(numerics, "_COMPILE_FAILED", [])
    monkeypatch.setattr(torch, "compile", FailingCompiled)
    cell = expand(parse_spec(tiny_spec_text))[0]
    eager = fit(cell, tmp_path / "eager")
    with pytest.warns(numerics.CompileFallbackWarning, match="no working C.. compiler") as caught:
        first = fit(cell, tmp_path / "first", compile=True)
        second = fit(cell, tmp_path / "second", compile=True)
    assert len([w for w in caught if w.category is numerics.CompileFallbackWarning]) == 1
    for r in (first, second):
        assert r["metrics"] == eager["metrics"] and r["curve"] == eager["curve"]
        prov = r["provenance"]
        assert prov["compile"] is False and prov["compile_requested"] is True
        assert prov["compile_error"] == "RuntimeError: inductor: no working C++ compiler"


def test_compile_guard_uses_the_compiled_module_when_it_works(monkeypatch):
    monkeypatch.setattr(numerics, "_COMPILE_FAILED", [])
    monkeypatch.setattr(torch, "compile", lambda m: ("compiled", m))
    guard = numerics.CompileGuard(torch.nn.Linear(2, 2), requested=True)
    assert guard.enabled and guard.run(lambda module: module[0]) == "compiled"
    assert not numerics.CompileGuard(torch.nn.Linear(2, 2), requested=False).enabled


def test_tf32_is_a_cuda_setting():
    assert numerics.set_tf32(CPU, True) is None
    matmul = torch.backends.cuda.matmul
    if not hasattr(matmul, "fp32_precision"):
        pytest.skip("torch without the fp32_precision settings")
    before = (matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision)
    try:
        assert numerics.set_tf32(torch.device("cuda", 0), False) is False
        assert matmul.fp32_precision == "ieee" and torch.backends.cudnn.conv.fp32_precision == "ieee"
        assert numerics.set_tf32(torch.device("cuda", 0), True) is True
        assert matmul.fp32_precision == "tf32" and torch.backends.cudnn.conv.fp32_precision == "tf32"
    finally:
        matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = before
