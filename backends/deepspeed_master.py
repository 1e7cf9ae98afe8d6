"""Where masks must act under DeepSpeed: on what the optimizer updates.

Methods see module parameters and a torch-like optimizer (``param_groups``,
``state[p]["momentum_buffer"]``). Under DeepSpeed the tensors the optimizer updates are
not always those:

- ZeRO stage 0 in fp32 (:class:`DirectMaster`): the optimizer is the torch SGD itself
  and updates the module parameters, so a method's masks reach the master weights and
  the momentum as on one device; nothing to add.
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

Checkpoints hold the full fp32 weights and a torch-SGD-format optimizer state in both
cases, the torch backend's format.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

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
                    gradient_masks: Mapping[str, torch.Tensor]) -> None:
        """Nothing to do: the method's own masking reached the optimizer's tensors."""

    def after_step(self) -> None:
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

    def __init__(self, zero_optimizer: Any, module: nn.Module, momentum: bool) -> None:
        from suite.errors import SuiteError

        self.zero = zero_optimizer
        self.module = module
        self.params = list(module.parameters())
        missing = [n for n, p in module.named_parameters() if not hasattr(p, "get_full_hp_param")]
        if missing or not hasattr(zero_optimizer, "_lazy_init_hp_params_optimizer_state"):
            raise SuiteError(f"{type(zero_optimizer).__name__} does not link parameters to fp32 master "
                             f"slices (e.g. {missing[:3]}); use [backend.deepspeed] zero_stage = 1 or 2")
        self.momentum = momentum
        self.stepped = False  # momentum exists for methods once a step was taken (as in torch)
        if momentum:
            # Create the momentum buffers now (zeros: SGD's first step then gives the same
            # buffer as creating it) so that their slices exist for masks and resumes.
            basic = zero_optimizer.optimizer
            for group in basic.param_groups:
                for flat in group["params"]:
                    basic.state[flat].setdefault(MOMENTUM, torch.zeros_like(flat))
            zero_optimizer._lazy_init_hp_params_optimizer_state()
        self.view = PartitionedOptimizerView(self)
        self.hard_masks: dict[nn.Parameter, tuple[torch.Tensor, torch.Tensor]] = {}

    # ----- masks ---------------------------------------------------------------------
    def mask_master(self, masks: Mapping[str, torch.Tensor], params: Mapping[str, nn.Parameter],
                    gradient_masks: Mapping[str, torch.Tensor]) -> None:
        """Keep the pruned entries of the local master slice at zero from now on.

        ``gradient_masks`` says where the method zeroes gradients before a step (its
        ``before_optimizer_step`` applied to ones). ZeRO has reduced the gradients into
        the slices by then, so instead the step runs on them unmasked and afterwards the
        master is masked and the momentum cleared where the gradient would have been
        zero: for a weight that is zero and stays zero this gives the same weight and
        momentum as masking the gradient (so with default hard masks the momentum of
        pruned entries is cleared; sparse momentum, whose gradients stay dense, keeps it)."""
        self.hard_masks = {params[n]: (m, m | gradient_masks[n]) for n, m in masks.items()}
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
            if self.momentum:
                frag.get_hp_fragment(MOMENTUM).mul_(
                    momentum_mask.reshape(-1).narrow(0, addr.start, addr.numel))

    def flush(self) -> None:
        self.view.flush()

    # ----- full tensors (collectives: every rank calls them in the same order) --------
    def full_param(self, p: nn.Parameter) -> torch.Tensor:
        return p.get_full_hp_param()

    def full_momentum(self, p: nn.Parameter) -> torch.Tensor:
        return p.get_full_hp_param(optim_state_key=MOMENTUM)

    def set_momentum(self, p: nn.Parameter, value: torch.Tensor) -> None:
        """Write this rank's slice of a full momentum tensor (local)."""
        p.set_full_hp_param(value.to(torch.float32), optim_state_key=MOMENTUM)

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
    """``optimizer.state`` of the view: ``state[p]`` is ``{"momentum_buffer": full}``."""

    def __init__(self, master: PartitionedMaster) -> None:
        self.master = master
        self.cache: dict[nn.Parameter, dict[str, torch.Tensor]] = {}

    def _available(self) -> bool:
        return self.master.momentum and self.master.stepped

    def __getitem__(self, p: nn.Parameter) -> dict[str, torch.Tensor]:
        if not self._available():
            return {}
        if p not in self.cache:
            self.cache[p] = {MOMENTUM: self.master.full_momentum(p).to(p.device)}
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
            if MOMENTUM in entry:
                self.master.set_momentum(p, entry[MOMENTUM])
        self.state.cache.clear()

    def state_dict(self) -> dict[str, Any]:
        """A torch SGD state dict of the full momentum (a collective)."""
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        params = self.master.params
        state = ({i: {MOMENTUM: self.master.full_momentum(p).cpu()} for i, p in enumerate(params)}
                 if self.master.momentum and self.master.stepped else {})
        return {"state": state, "param_groups": [{**group, "params": list(range(len(params)))}]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the momentum of a torch SGD state dict (learning rates are set per step)."""
        self.state.cache.clear()
        entries = state.get("state", {})
        if not entries or not self.master.momentum:
            return
        for i, p in enumerate(self.master.params):
            if i in entries and MOMENTUM in entries[i]:
                self.master.set_momentum(p, entries[i][MOMENTUM].to(p.device))
        self.master.stepped = True
