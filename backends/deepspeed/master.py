"""Where masks must act under DeepSpeed: on what the optimizer updates.

Methods see module parameters and a torch-like optimizer (``param_groups``,
``state[p]["momentum_buffer"]``, or AdamW's ``exp_avg`` and ``exp_avg_sq``: "momentum"
below means the recipe's per-weight state, :func:`backends.optim.weight_state_keys`).
Under DeepSpeed the tensors the optimizer updates are not always those:

- ZeRO stage 0 in fp32 (:class:`DirectMaster`): the optimizer is the recipe's torch
  optimizer itself and updates the module parameters, so a method's masks reach the
  master weights and the momentum as on one device; nothing to add.
- ZeRO stage 1 or 2, any precision (:class:`PartitionedMaster`): each rank holds the
  fp32 master copy and the momentum of one slice of the flattened parameters; after a
  step DeepSpeed copies the master into the module parameters and gathers them. Hard
  masks are applied to the local master slice (and to its momentum where the method
  masks gradients) after every step and whenever the masks change: pruned entries stay
  zero and their momentum is cleared, as on one device. At a mask change the master
  also takes over weights the method zeroed itself (drop-and-grow methods zero what they
  drop, even where they regrow it at once). Feedback masks (DPF) never
  touch the master, which stays dense. Methods reading or clearing momentum get it
  gathered to full size (:class:`PartitionedOptimizerView`), and their in-place edits
  are written back to the local slice.

Checkpoints hold the full fp32 weights and the torch optimizer's state format (SGD's or
AdamW's) in both cases, the torch backend's format.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from backends.optim import initial_state, weight_state_keys
from suite.errors import SuiteError
from suite.recipes import TrainRecipe

MOMENTUM = "momentum_buffer"


def mask_checksum(masks: Mapping[str, torch.Tensor]) -> int:
    """A CRC-32 of the mask names and their packed bits (order-independent of the dict)."""
    crc = 0
    for name in sorted(masks):
        crc = zlib.crc32(name.encode(), crc)
        bits = masks[name].detach().to("cpu", torch.bool).reshape(-1).numpy()
        crc = zlib.crc32(np.packbits(bits).tobytes(), crc)
    return crc


class DirectMaster:
    """ZeRO stage 0, fp32: the module parameters are the master weights."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.view = optimizer

    def mask_master(self, masks: Mapping[str, torch.Tensor], params: Mapping[str, nn.Parameter],
                    masks_gradients: bool) -> None:
        """Nothing to do: the method's own masking reached the optimizer's tensors."""

    def after_step(self) -> None:
        pass

    def step_done(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def model_state(self, module: nn.Module) -> dict[str, torch.Tensor]:
        return module.state_dict()

    def load_model_state(self, state: Mapping[str, torch.Tensor], module: nn.Module) -> None:
        """The module's ``load_state_dict`` already set the master weights."""

    def to_fp32(self, module: nn.Module) -> None:
        pass


class PartitionedMaster:
    """ZeRO stage 1/2: fp32 master slices and their momentum, linked by ``p._hp_mapping``."""

    def __init__(self, zero_optimizer: Any, module: nn.Module, recipe: TrainRecipe) -> None:
        self.zero = zero_optimizer
        self.module = module
        self.params = list(module.parameters())
        missing = [n for n, p in module.named_parameters() if not hasattr(p, "get_full_hp_param")]
        if missing or not hasattr(zero_optimizer, "_lazy_init_hp_params_optimizer_state"):
            raise SuiteError(f"{type(zero_optimizer).__name__} does not link parameters to fp32 master "
                             f"slices (e.g. {missing[:3]}); use [backend.deepspeed] zero_stage = 1 or 2")
        self.keys = weight_state_keys(recipe)
        self.momentum = bool(self.keys)
        self.stepped = False  # momentum exists for methods once a step was taken (as in torch)
        if self.momentum:
            # Create the state now (zeros: the optimizer's first step then gives the same
            # state as creating it) so that its slices exist for masks and resumes.
            basic = zero_optimizer.optimizer
            for group in basic.param_groups:
                for flat in group["params"]:
                    for key, value in initial_state(recipe, flat).items():
                        basic.state[flat].setdefault(key, value.to(flat.device))
            zero_optimizer._lazy_init_hp_params_optimizer_state()
        self.view = PartitionedOptimizerView(self)
        self.hard_masks: dict[nn.Parameter, tuple[torch.Tensor, torch.Tensor | None]] = {}

    # ----- masks ---------------------------------------------------------------------
    def mask_master(self, masks: Mapping[str, torch.Tensor], params: Mapping[str, nn.Parameter],
                    masks_gradients: bool) -> None:
        """Keep the pruned entries of the local master slice at zero from now on.

        ``masks_gradients``: the method zeroes the pruned weights' gradients before a step
        (its declaration, ``Method.zeroes_pruned_gradients``). ZeRO has reduced the
        gradients into the slices by then, so instead the step runs on them unmasked and
        afterwards the master is masked and, where the gradient would have been zero, the
        momentum cleared: for a weight that is zero and stays zero this gives the same
        weight and momentum as masking the gradient (so with default hard masks the
        momentum of pruned entries is cleared; sparse momentum, whose gradients stay
        dense, keeps it)."""
        self.hard_masks = {params[n]: (m, m if masks_gradients else None) for n, m in masks.items()}
        with torch.no_grad():
            for p in self.hard_masks:
                frag = p._hp_mapping
                if frag is None:
                    continue
                # A method may also zero weights itself (drop-and-grow zeroes what it
                # drops, even where it regrows at once): the master follows the module.
                if frag.lp_fragment.dtype == frag.hp_fragment.dtype:
                    frag.update_hp()
                else:
                    frag.hp_fragment.mul_(frag.lp_fragment.reshape(-1) != 0)
        self.after_step()

    @torch.no_grad()
    def after_step(self) -> None:
        for p, (weight_mask, momentum_mask) in self.hard_masks.items():
            frag = p._hp_mapping
            if frag is None:
                continue  # no slice of p on this rank
            addr = frag.lp_fragment_address
            frag.hp_fragment.mul_(weight_mask.reshape(-1).narrow(0, addr.start, addr.numel))
            if momentum_mask is None:
                continue  # dense gradients: the momentum is kept
            for key in self.keys:
                frag.get_hp_fragment(key).mul_(momentum_mask.reshape(-1).narrow(0, addr.start, addr.numel))

    def step_done(self) -> None:
        """An optimizer step was taken: momentum exists from now on; mask the master."""
        self.stepped = True
        self.after_step()

    def flush(self) -> None:
        self.view.flush()

    # ----- full tensors (collectives: every rank calls them in the same order) --------
    def full_param(self, p: nn.Parameter) -> torch.Tensor:
        return p.get_full_hp_param()

    def full_momentum(self, p: nn.Parameter, key: str = MOMENTUM) -> torch.Tensor:
        return p.get_full_hp_param(optim_state_key=key)

    def set_momentum(self, p: nn.Parameter, value: torch.Tensor, key: str = MOMENTUM) -> None:
        """Write this rank's slice of a full momentum tensor (local)."""
        p.set_full_hp_param(value.to(torch.float32), optim_state_key=key)

    def step_count(self) -> torch.Tensor | None:
        """AdamW's step count (the same for every slice), None for SGD."""
        basic = self.zero.optimizer
        flat = basic.param_groups[0]["params"][0]
        step = basic.state[flat].get("step")
        return None if step is None else step.detach().clone().cpu()

    def set_step_count(self, step: torch.Tensor) -> None:
        basic = self.zero.optimizer
        for group in basic.param_groups:
            for flat in group["params"]:
                if "step" in basic.state[flat]:
                    basic.state[flat]["step"] = step.detach().clone().to(basic.state[flat]["step"].device)

    def model_state(self, module: nn.Module) -> dict[str, torch.Tensor]:
        """The module's state dict with the fp32 master values of its parameters."""
        state = module.state_dict()
        for name, p in module.named_parameters():
            state[name] = self.full_param(p).to(p.device)
        return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}

    @torch.no_grad()
    def load_model_state(self, state: Mapping[str, torch.Tensor], module: nn.Module) -> None:
        """Set the local master slices from full fp32 weights (after ``load_state_dict``)."""
        for name, p in module.named_parameters():
            p.set_full_hp_param(state[name].to(device=p.device, dtype=torch.float32))

    @torch.no_grad()
    def to_fp32(self, module: nn.Module) -> None:
        """Replace the module's (possibly low-precision) parameters by the full fp32 master
        values; the engine must not step afterwards."""
        for p in self.params:
            p.data = self.full_param(p).to(p.device)
        for b in module.buffers():
            if b.is_floating_point():
                b.data = b.data.float()


class _GatheredState(Mapping):
    """``optimizer.state`` of the view: ``state[p]`` maps each momentum key to the full tensor."""

    def __init__(self, master: PartitionedMaster) -> None:
        self.master = master
        self.cache: dict[nn.Parameter, dict[str, torch.Tensor]] = {}

    def _available(self) -> bool:
        return self.master.momentum and self.master.stepped

    def __getitem__(self, p: nn.Parameter) -> dict[str, torch.Tensor]:
        if not self._available():
            return {}
        if p not in self.cache:
            self.cache[p] = {k: self.master.full_momentum(p, k).to(p.device) for k in self.master.keys}
        return self.cache[p]

    def __contains__(self, p: object) -> bool:
        return self._available() and any(p is q for q in self.master.params)

    def __iter__(self) -> Iterator[nn.Parameter]:
        return iter(self.master.params if self._available() else [])

    def __len__(self) -> int:
        return len(self.master.params) if self._available() else 0


class PartitionedOptimizerView:
    """What methods get as ``optimizer`` under ZeRO 1/2: the engine's ``param_groups``, and
    momentum gathered to full size on access; :meth:`flush` writes edits back."""

    def __init__(self, master: PartitionedMaster) -> None:
        self.master = master
        self.state = _GatheredState(master)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.master.zero.param_groups

    def flush(self) -> None:
        """Write the momentum a method may have edited back to the local slices (local)."""
        for p, entry in self.state.cache.items():
            for key, value in entry.items():
                self.master.set_momentum(p, value, key)
        self.state.cache.clear()

    def state_dict(self) -> dict[str, Any]:
        """A torch optimizer state dict of the full momentum (a collective)."""
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        params, keys, step = self.master.params, self.master.keys, self.master.step_count()
        state = ({i: {k: self.master.full_momentum(p, k).cpu() for k in keys} for i, p in enumerate(params)}
                 if self.master.momentum and self.master.stepped else {})
        if step is not None:
            state = {i: {"step": step.clone(), **entry} for i, entry in state.items()}
        return {"state": state, "param_groups": [{**group, "params": list(range(len(params)))}]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the momentum of a torch optimizer state dict (learning rates are set per
        step)."""
        self.state.cache.clear()
        entries = state.get("state", {})
        if not entries or not self.master.momentum:
            return
        for i, p in enumerate(self.master.params):
            for key in self.master.keys:
                if i in entries and key in entries[i]:
                    self.master.set_momentum(p, entries[i][key].to(p.device), key)
        steps = [e["step"] for e in entries.values() if "step" in e]
        if steps:
            self.master.set_step_count(torch.as_tensor(steps[0]))
        self.master.stepped = True
