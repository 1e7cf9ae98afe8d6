"""Benchmarks of the pruning methods (pytest-benchmark; not part of the default run).

    pytest tests/benchmarks/test_methods_bench.py -m benchmark --benchmark-only

- ``test_train_step``: one training step (forward, backward, the method's hooks,
  optimizer step) of ResNet-20 at batch 128 on CPU, for every registered method, in
  rounds of 16 steps so that DPF's mask recomputation (every 16 steps) is included at
  its real frequency. Compare each method's mean against ``dense``; DPF's target
  overhead is at most 2%.
- ``test_dpf_overhead_interleaved``: DPF and dense steps alternated on two identical
  models, so that load from elsewhere hits both alike; the overhead is in extra_info.
- ``test_dpf_own_work_per_step``: only DPF's own per-step work (feedback hooks, plus the
  mask recomputation amortized over 16 steps), to divide by the dense step time.
- ``test_method_cost_amortized``: for every registered method, what it adds to a dense
  step over a whole 300-epoch run: its ordinary steps alternated with dense ones (mask
  updates held back), plus the time of one mask update times the number of updates it
  makes in the run, spread over the run's steps. The parts land in extra_info.
- ``test_global_magnitude_threshold``: one global magnitude mask over ResNet-50's 25.6M
  conv and linear weights (``methods.masks.magnitude_masks``), against ``torch.kthvalue``
  on the concatenated magnitudes as the reference point.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch
import torch.nn.functional as F

from backends.cycle import method_step
from methods import METHODS, create_method
from methods.base import MethodContext
from methods.masks import kept_count, magnitude_masks
from methods.updater import MaskUpdater
from suite.data.info import DatasetInfo
from suite.models import MODELS, create_model
from suite.recipes import PRESETS, TrainRecipe

CIFAR = DatasetInfo(10, (3, 32, 32), (0.49, 0.48, 0.45), (0.25, 0.24, 0.26), augment="crop_flip")
STEPS_PER_EPOCH = 391
RECIPE = TrainRecipe(**PRESETS["resnet_cifar"])
TOTAL_STEPS = STEPS_PER_EPOCH * RECIPE.epochs
STEPS_PER_ROUND = 16


def resnet20() -> torch.nn.Module:
    if "resnet20" not in MODELS:
        pytest.skip("model 'resnet20' is not registered (suite/models/resnet_cifar.py not there yet)")
    return create_model("resnet20", CIFAR)


class StepRunner:
    """ResNet-20, a fixed batch of 128, SGD and one method, stepped through the backend's
    cycle from the middle of a 300-epoch run (of its last round, for a method of several
    trainings), with the method's masks in place."""

    def __init__(self, name: str) -> None:
        torch.manual_seed(0)
        self.model = resnet20()
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(128, 3, 32, 32, generator=gen)
        self.y = torch.randint(0, 10, (128,), generator=gen)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9,
                                         nesterov=True, weight_decay=1e-4)
        ctx = MethodContext(0.9, TOTAL_STEPS, STEPS_PER_EPOCH, 0, RECIPE)
        self.method = create_method(name, None, ctx)
        self.method.bind(self.model)
        self.method.setup(self.model, (self.x, self.y), F.cross_entropy)
        self.step = START
        rounds = type(self.method).rounds(self.method.options, ctx.sparsity)
        if rounds > 1:  # a method of several trainings: the last one's steps
            self.method.next_round(rounds, self.model)
        elif isinstance(self.method, MaskUpdater) and not self.method.masks and update_steps(self.method):
            self.method.update(self.step, self.optimizer)
        self.model.train()
        for _ in range(2):  # warm-up: allocator, optimizer state
            self()
        self.step = START

    def __call__(self) -> None:
        model, opt = self.model, self.optimizer

        def forward_backward() -> torch.Tensor:
            loss = F.cross_entropy(model(self.x), self.y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            return loss

        method_step(self.method, model, opt, self.step, [forward_backward], lambda last: opt.step())
        self.step += 1


#: Mid-training, in step with DPF's period (so each round of 16 holds one recomputation).
START = (TOTAL_STEPS // 2) // STEPS_PER_ROUND * STEPS_PER_ROUND


@pytest.mark.benchmark(group="resnet20-train-step-b128-cpu")
@pytest.mark.parametrize("name", METHODS.names())
def test_train_step(benchmark, name):
    run = StepRunner(name)
    benchmark.extra_info.update(method=name, steps_per_round=STEPS_PER_ROUND,
                                mask_mode=type(run.method).mask_mode.name)
    benchmark.pedantic(run, rounds=3, iterations=STEPS_PER_ROUND, warmup_rounds=0)


@pytest.mark.benchmark(group="resnet20-dpf-overhead")
def test_dpf_overhead_interleaved(benchmark):
    """DPF and dense steps alternate, so a busy machine slows both alike; the overhead
    (median DPF step / median dense step - 1) lands in extra_info."""
    dense, dpf = StepRunner("dense"), StepRunner("dpf")
    times: dict[str, list[float]] = {"dense": [], "dpf": []}

    def pair() -> None:
        for key, run in (("dense", dense), ("dpf", dpf)):
            start = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - start)

    benchmark.pedantic(pair, rounds=2, iterations=STEPS_PER_ROUND, warmup_rounds=0)
    dense_s, dpf_s = statistics.median(times["dense"]), statistics.median(times["dpf"])
    benchmark.extra_info.update(dense_step_s=dense_s, dpf_step_s=dpf_s,
                                dpf_overhead=dpf_s / dense_s - 1,
                                dpf_overhead_mean=sum(times["dpf"]) / sum(times["dense"]) - 1)


@pytest.mark.benchmark(group="resnet20-dpf-overhead")
def test_dpf_own_work_per_step(benchmark):
    """Only what DPF adds to a dense step: the feedback hooks (w * m for the forward,
    dense w restored for the update) every step, and the mask recomputation every 16th.
    Divided by ``test_train_step[dense]`` this is DPF's overhead, free of the step's noise."""
    run = StepRunner("dpf")
    m, model, opt = run.method, run.model, run.optimizer

    def own_work() -> None:
        m.before_forward(model)
        m.before_optimizer_step(model, opt)
        run.step += 1
        m.after_optimizer_step(run.step, model, opt)

    benchmark.pedantic(own_work, rounds=10, iterations=STEPS_PER_ROUND, warmup_rounds=1)


def update_steps(method) -> list[int]:
    """The steps at which ``method`` changes its masks over the whole run (after each step
    and at each epoch's end), found by running its hooks with :meth:`update` recording
    instead of updating."""
    if not isinstance(method, MaskUpdater):
        return []
    seen: list[int] = []
    method.update = lambda step, optimizer: seen.append(step)
    try:
        for step in range(1, TOTAL_STEPS + 1):
            if method.due(step):
                method.update(step, None)
        for epoch in range(RECIPE.epochs):
            method.on_epoch_end(epoch, None, None)
    finally:
        del method.update
    return seen


@pytest.mark.benchmark(group="resnet20-method-cost-amortized")
@pytest.mark.parametrize("name", METHODS.names())
def test_method_cost_amortized(benchmark, name):
    """Overhead against dense over a 300-epoch run: ``step_overhead`` (ordinary steps,
    alternated with dense ones, medians; for ``dense`` itself, the noise of the
    comparison) plus ``update_share`` (``update_s`` x ``updates`` / steps, divided by the
    dense step) is ``amortized_overhead``. The benchmark's own time is one update's."""
    dense, run = StepRunner("dense"), StepRunner(name)
    steps = update_steps(run.method)
    times: dict[str, list[float]] = {"dense": [], "method": []}  # dense against dense: the noise
    real_update = getattr(run.method, "update", None)
    if steps:
        run.method.update = lambda step, optimizer: None  # ordinary steps only
    try:
        for _ in range(STEPS_PER_ROUND):
            for key, runner in (("dense", dense), ("method", run)):
                start = time.perf_counter()
                runner()
                times[key].append(time.perf_counter() - start)
    finally:
        if steps:
            del run.method.update
    dense_s, method_s = statistics.median(times["dense"]), statistics.median(times["method"])
    if steps:  # the update nearest mid-run, as the run would make it
        at = min(steps, key=lambda s: abs(s - START))
        benchmark.pedantic(real_update, args=(at, run.optimizer), rounds=3, warmup_rounds=0)
        update_s = benchmark.stats.stats.median
    else:
        benchmark.pedantic(lambda: None, rounds=1)
        update_s = 0.0
    update_share = update_s * len(steps) / TOTAL_STEPS / dense_s
    benchmark.extra_info.update(
        method=name, dense_step_s=dense_s, method_step_s=method_s,
        step_overhead=method_s / dense_s - 1, updates=len(steps), update_s=update_s,
        update_share=update_share, amortized_overhead=method_s / dense_s - 1 + update_share,
        total_steps=TOTAL_STEPS,
        rounds=type(run.method).rounds(run.method.options, run.method.ctx.sparsity))


@pytest.fixture(scope="module")
def resnet50_weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    if "resnet50" in MODELS:
        model = create_model("resnet50", DatasetInfo(1000, (3, 224, 224), (0.5,) * 3, (0.25,) * 3))
    else:
        torchvision = pytest.importorskip("torchvision")
        model = torchvision.models.resnet50()
    from methods.base import default_prunable

    weights = {n: p.detach() for n, p in default_prunable(model).items()}
    assert 25_000_000 < sum(w.numel() for w in weights.values()) < 26_000_000
    return weights


@pytest.mark.benchmark(group="global-magnitude-threshold-25.6M")
@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.99])
def test_global_magnitude_threshold(benchmark, resnet50_weights, sparsity):
    masks = benchmark.pedantic(magnitude_masks, args=(resnet50_weights, sparsity),
                               rounds=7, warmup_rounds=1)
    total = sum(w.numel() for w in resnet50_weights.values())
    assert sum(int(m.sum()) for m in masks.values()) == kept_count(total, sparsity)


@pytest.mark.benchmark(group="global-magnitude-threshold-25.6M")
def test_kthvalue_reference(benchmark, resnet50_weights):
    flat = torch.cat([w.reshape(-1) for w in resnet50_weights.values()]).abs()
    k = flat.numel() - kept_count(flat.numel(), 0.9)  # the largest pruned magnitude
    benchmark.pedantic(torch.kthvalue, args=(flat, k), rounds=3, warmup_rounds=1)
