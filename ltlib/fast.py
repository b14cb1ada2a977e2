"""The fast path of the one training loop: bf16 autocast, channels_last, compiled network stages.

Eager float32 is the reference; the fast path changes how the same step is computed, never what
(``tests/test_fast_path.py`` checks the compiled step against the eager one on the CPU, and bf16
within a stated tolerance). What it does, when on:

* **bf16 autocast** around each step's forward and loss (``torch.autocast``; no loss scaling is needed
  for bf16); backward and the optimiser run outside it, parameters stay float32;
* **channels_last** memory format for the model (Tensor Cores' preferred layout for convolutions);
* **compiled stages**: each stage of the :class:`~ltlib.models.SeamNet` is compiled in place with
  ``torch.compile`` (``nn.Module.compile``; forward and, through AOT autograd, backward). The stages,
  not the whole step: SMART's seam hook (class statistics, head choice), mixup's and CMO's host-side
  draws and H2T's fusion sit *between* stages and would break a whole-network graph into pieces and
  recompile it whenever a data-dependent size changes (the classes present in a batch); a stage has
  one static input shape per batch size, so it compiles once for training and once for evaluation
  (at the evaluation batch), and it can be captured as a CUDA graph (``mode="reduce-overhead"``);
* a **fused SGD** update on CUDA (``torch.optim.SGD(fused=True)``: one kernel for all parameters).

Switch (:func:`fast_path`): ``fast=True/False`` or ``$LTLIB_FAST`` (``1``/``0``, ``graphs`` = also CUDA
graphs); by default on for CUDA and off on the CPU. The fast path a run used is written into its
metrics (``metrics["fast_path"]``): bf16 changes the last digits of a result, so it is provenance.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass

import torch

FAST_ENV = "LTLIB_FAST"
FAST_VALUES = ("1", "0", "graphs", "on", "off", "true", "false", "")


@dataclass(frozen=True)
class FastPath:
    """How a run is computed: ``dtype`` of autocast (None = float32), ``compile`` backend of the stages (None
    = eager), compile ``mode`` (``reduce-overhead`` = CUDA graphs), ``channels_last``, ``fused_sgd``."""

    dtype: torch.dtype | None = None
    compile: str | None = None
    mode: str | None = None
    channels_last: bool = False
    fused_sgd: bool = False

    @property
    def enabled(self) -> bool:
        return self != FastPath()

    def describe(self) -> dict:
        values = asdict(self)
        values["dtype"] = str(self.dtype).replace("torch.", "") if self.dtype else "float32"
        return values

    def autocast(self, device: torch.device):
        """The context of a step's forward: bf16 autocast on ``device``, or nothing."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)


EAGER = FastPath()


def fast_path(device: torch.device, fast: bool | FastPath | None = None) -> FastPath:
    """The fast path for ``device``: ``fast`` (a :class:`FastPath`, True or False), else ``$LTLIB_FAST``,
    else on for CUDA (bf16, inductor, channels_last, fused SGD) and off on the CPU."""
    if isinstance(fast, FastPath):
        return fast
    setting = os.environ.get(FAST_ENV, "").lower()
    if setting not in FAST_VALUES:
        raise ValueError(f"{FAST_ENV}={setting!r} is not allowed; use 1, 0 or graphs (1 plus CUDA graphs)")
    if fast is None:
        fast = device.type == "cuda" if setting == "" else setting in ("1", "graphs", "on", "true")
    if not fast:
        return EAGER
    cuda = device.type == "cuda"
    return FastPath(dtype=torch.bfloat16, compile="inductor", mode="reduce-overhead" if setting == "graphs" else None,
                    channels_last=cuda, fused_sgd=cuda)


def accelerate(model, fast: FastPath):
    """Put ``model`` on the fast path in place (memory format, compiled stages); returns it."""
    if fast.channels_last:
        model.to(memory_format=torch.channels_last)
    if fast.compile is not None:
        for stage in model.stages.values():
            stage.compile(backend=fast.compile, mode=fast.mode, dynamic=False)
    return model
