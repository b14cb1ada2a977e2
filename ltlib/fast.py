"""The fast path of the one training loop: bf16 autocast, channels_last, compiled stages or a compiled whole step.

Eager float32 is the reference; the fast path changes how the same step is computed, never what
(``tests/test_fast_path.py`` checks the compiled step against the eager one on the CPU, and bf16
within a stated tolerance). What it does, when on:

* **bf16 autocast** around each step's forward and loss (``torch.autocast``; no loss scaling is needed
  for bf16); backward and the optimiser run outside it, parameters stay float32;
* **channels_last** memory format for the model (Tensor Cores' preferred layout for convolutions);
* **compilation**, in one of two scopes:

  - ``stages``: each stage of the :class:`~ltlib.models.SeamNet` is compiled in place with
    ``torch.compile`` (``nn.Module.compile``; forward and, through AOT autograd, backward). A stage has one
    static input shape per batch size, so it compiles once for training and once for evaluation; what sits
    between stages (SMART's seam hook, mixup, CMO's paste, H2T's fusion) and the loss run eagerly;
  - ``step``: the objective's whole :meth:`~ltlib.methods.base.SupervisedObjective.compute` (crop/flip
    application, mixup or CutMix, the network with SMART's statistics update and Eq. 4-6, H2T's fusion, the
    loss) is one compiled function, backward included through AOT autograd; the step's random draws are
    made eagerly before it (:meth:`~ltlib.methods.base.SupervisedObjective.step_inputs`), so it holds no
    generator and no branch on a drawn value. The first step of a run is eager (it creates method state such
    as SMART's statistics); the stages are compiled too, for evaluation (inside the step they are traced
    inline). With ``mode="reduce-overhead"`` (``LTLIB_FAST=graphs``) the compiled forward and backward are
    replayed as CUDA graphs; tensors the step updates in place (SMART's statistics,
    :meth:`~ltlib.methods.base.SupervisedObjective.static_state`) are marked as static addresses for them;

* a **fused SGD** update on CUDA (``torch.optim.SGD(fused=True)``: one kernel for all parameters).

Switch (:func:`fast_path`): ``fast=True/False`` or ``$LTLIB_FAST``: ``1`` (= ``stages``), ``stages``,
``step``, ``graphs`` (= ``step`` with CUDA graphs), ``bf16`` (bf16 autocast and channels_last, eager: the CPU's
fast path where it computes bf16 natively, :func:`cpu_bf16_is_fast`), ``0``; by default on (``stages``) for CUDA
and off on the CPU. Which scope is fastest is measured on the GPU by ``bench/step_overhead.py --fast``. The fast
path a run used is written into its metrics (``metrics["fast_path"]``): bf16 changes the last digits of a result,
so it is provenance.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass

import torch

FAST_ENV = "LTLIB_FAST"
#: $LTLIB_FAST values: off, the default fast path, and the named scopes
FAST_OFF, FAST_ON = ("0", "off", "false"), ("1", "on", "true")
SCOPES = ("stages", "step")
FAST_VALUES = FAST_OFF + FAST_ON + SCOPES + ("graphs", "bf16", "")


@dataclass(frozen=True)
class FastPath:
    """How a run is computed: ``dtype`` of autocast (None = float32), ``compile`` backend (None = eager) and
    its ``scope`` (``stages`` or ``step``), compile ``mode`` (``reduce-overhead`` = CUDA graphs),
    ``channels_last``, ``fused_sgd``."""

    dtype: torch.dtype | None = None
    compile: str | None = None
    mode: str | None = None
    channels_last: bool = False
    fused_sgd: bool = False
    scope: str = "stages"

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise ValueError(f"scope={self.scope!r} is not allowed; use one of {', '.join(SCOPES)}")

    @property
    def enabled(self) -> bool:
        return self != FastPath()

    @property
    def label(self) -> str:
        """A short name: ``float32``, ``bfloat16+channels_last``, ``bfloat16 inductor stages`` ..."""
        text = str(self.dtype).replace("torch.", "") if self.dtype else "float32"
        text += "+channels_last" if self.channels_last else ""
        return text + (f" {self.compile} {self.scope}" if self.compile else "") + (f" {self.mode}" if self.mode else "")

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
    else on for CUDA (bf16, inductor on the stages, channels_last, fused SGD) and off on the CPU. ``True``
    and ``$LTLIB_FAST=1`` take the scope from ``$LTLIB_FAST`` when it names one."""
    if isinstance(fast, FastPath):
        return fast
    setting = os.environ.get(FAST_ENV, "").lower()
    if setting not in FAST_VALUES:
        raise ValueError(f"{FAST_ENV}={setting!r} is not allowed; use 1 (the default fast path), stages, step, "
                         "graphs (step with CUDA graphs) or 0")
    if fast is None:
        fast = device.type == "cuda" if setting == "" else setting not in FAST_OFF
    if not fast:
        return EAGER
    return named_fast_path(setting if setting in SCOPES + ("graphs", "bf16") else "stages", device)


def named_fast_path(name: str, device: torch.device) -> FastPath:
    """The fast path ``stages``, ``step`` or ``graphs`` on ``device`` (bf16, inductor; channels_last and fused SGD
    on CUDA), ``bf16`` (bf16 autocast and channels_last, eager), or eager for an off value of ``$LTLIB_FAST``."""
    if name in FAST_OFF:
        return EAGER
    cuda = device.type == "cuda"
    if name == "bf16":
        return FastPath(dtype=torch.bfloat16, channels_last=True, fused_sgd=cuda)
    return FastPath(dtype=torch.bfloat16, compile="inductor", mode="reduce-overhead" if name == "graphs" else None,
                    channels_last=cuda, fused_sgd=cuda, scope="step" if name in ("step", "graphs") else "stages")


def cpu_bf16_is_fast() -> bool:
    """Whether this CPU computes bf16 natively, where bf16 autocast with channels_last was measured faster than
    float32 on a ResNet-32 step (2 threads; README, "Reproducing at paper scale on the CPU"):

    * AMX tiles (Intel Sapphire Rapids and later): CE + mixup 153 vs 274 ms, SMART 308 vs 580 ms;
    * AVX-512 BF16 without AMX (an AMD EPYC, Zen 4): CE + mixup 303 vs 366 ms, SMART 526 vs 809 ms.

    Elsewhere bf16 is emulated and float32 stays: on an AMD EPYC with AVX2 only, CE + mixup 7,670 vs 512 ms,
    SMART 12,394 vs 1,082 ms (15x slower); AVX-512 without BF16 is not measured."""
    checks = (getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    return any(bool(check and check()) for check in checks)


#: compiled variants dynamo keeps per code object. The stages of a SeamNet share one code object (the wrapper
#: of ``nn.Module.compile``), so every stage in every mode (training, evaluation, H2T's no-grad backbone) is a
#: variant of it: ResNet-32's four stages need 8 for stage I alone, dynamo's default limit, beyond which it
#: silently runs the rest eagerly (seen on the CPU: stage II fell back). A campaign worker also compiles one
#: whole step per run's objective.
RECOMPILE_LIMIT = 256


def allow_recompiles(limit: int = RECOMPILE_LIMIT) -> None:
    """Raise dynamo's per-code-object limit of compiled variants to ``limit`` (never lower it)."""
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):  # the name changed between torch releases
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), limit))
    if hasattr(config, "accumulated_recompile_limit"):
        config.accumulated_recompile_limit = max(config.accumulated_recompile_limit, 4 * limit)


def accelerate(model, fast: FastPath):
    """Put ``model`` on the fast path in place (memory format, compiled stages); returns it. On the ``step``
    scope the stages are compiled without CUDA graphs: they serve evaluation, the step has its own graphs."""
    if fast.channels_last:
        model.to(memory_format=torch.channels_last)
    if fast.compile is not None:
        allow_recompiles()
        mode = fast.mode if fast.scope == "stages" else None
        for stage in model.stages.values():
            stage.compile(backend=fast.compile, mode=mode, dynamic=False)
    return model


class CompiledStep:
    """An objective's ``compute`` compiled as one function (the ``step`` scope). Its first call (the run's second
    step: the first, eager, creates method state) marks the tensors the step updates in place as static
    addresses (CUDA graphs keep them where they are); they are updated in place from then on."""

    def __init__(self, objective, fast: FastPath):
        self.objective = objective
        self.function = torch.compile(objective.compute, backend=fast.compile, mode=fast.mode, dynamic=False)
        self.marked = False

    def __call__(self, inputs: dict) -> torch.Tensor:
        if not self.marked:
            for tensor in self.objective.static_state():
                torch._dynamo.mark_static_address(tensor)
            self.marked = True
        return self.function(inputs)


def accelerate_objective(objective, fast: FastPath):
    """On the ``step`` scope, compile ``objective``'s whole step (used from its second step on); returns it."""
    if fast.compile is not None and fast.scope == "step":
        allow_recompiles()
        objective.compiled_compute = CompiledStep(objective, fast)
    return objective


def run_step(objective, optimizer, step: int, device, fast: FastPath) -> torch.Tensor:
    """One training step of ``objective`` on ``fast`` (autocast around the loss); returns the detached loss."""
    with fast.autocast(device):
        loss = objective.loss(step, 0)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def time_steps(objective, parameters, steps: int, warmup: int, device, fast: FastPath) -> dict:
    """Seconds per training step of ``objective`` after ``warmup`` steps (SGD with momentum over ``parameters``),
    the steps of its first epoch, every step's loss, and the error of a step that synchronised with the host
    (CUDA, timed under ``torch.cuda.set_sync_debug_mode("error")``; the step then runs again without the check).
    The one timing loop of the benchmarks (``bench/step_overhead.py``) and the campaign's estimates
    (:func:`ltlib.plans.measure_seconds_per_epoch`)."""
    import time

    optimizer = torch.optim.SGD(parameters, lr=0.01, momentum=0.9, **({"fused": True} if fast.fused_sgd else {}))
    steps_per_epoch = objective.start_epoch(0)
    cuda = device.type == "cuda"
    host_sync, losses = None, torch.zeros(warmup + steps, device=device)
    for step in range(warmup + steps):
        if step == warmup:
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.set_sync_debug_mode("error")
            started = time.perf_counter()
        try:
            losses[step] = run_step(objective, optimizer, step, device, fast)
        except RuntimeError as error:
            if not cuda or host_sync is not None or "synchroniz" not in str(error).lower():
                raise
            host_sync = f"step {step}: {str(error).splitlines()[0]}"
            torch.cuda.set_sync_debug_mode("default")
            losses[step] = run_step(objective, optimizer, step, device, fast)
    if cuda:
        torch.cuda.set_sync_debug_mode("default")
        torch.cuda.synchronize()
    return {"seconds_per_step": (time.perf_counter() - started) / steps, "steps_per_epoch": steps_per_epoch,
            "host_sync": host_sync, "losses": losses.tolist()}
