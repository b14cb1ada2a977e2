"""The one training loop of ltlib, used by every stage and method.

:func:`fit` runs SGD over epochs for any *objective*: an object whose ``start_epoch(epoch)``
draws the epoch's index batches and returns how many steps it has, and whose
``loss(step, epoch)`` returns the scalar loss of one step. Methods differ only in their
objective (what they sample and how they transform features or weight samples), never in the
loop. :func:`train_stage_one` builds the standard objective from a :class:`RunConfig`.

The learning rate of each epoch comes from :mod:`ltlib.schedules`; the objective of a method
from :mod:`ltlib.methods.registry` (the loop names no method).

**Data parallelism.** Started by ``torchrun`` (see :mod:`ltlib.distributed`), every process runs this
same loop on its share of each global batch, through ``DistributedDataParallel`` (gradients
all-reduced); the epoch's loss is averaged over processes, evaluation is sharded and gathered, and
only rank 0 shows progress and writes checkpoints (each process resumes from rank 0's checkpoint,
sent to it by broadcast, so no shared file system is needed to resume).
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ltlib.config import RunConfig, StageTwoConfig
from ltlib.data import LongTailedData
from ltlib.distributed import all_reduce_sum, broadcast_object, is_main, local_device, rank_and_world, wrap_model
from ltlib.evaluate import encode_outcomes, evaluate, predict_test, top1
from ltlib.fast import EAGER, FastPath, accelerate, accelerate_objective, fast_path
from ltlib.methods import build_objective
from ltlib.methods.h2t import StageTwoObjective
from ltlib.models import SeamNet, build_model
from ltlib.schedules import config_learning_rate, evaluates_at

#: one INFO line per finished epoch; silent unless configured (the detached campaign logs it: ltlib.campaign)
EPOCH_LOG = logging.getLogger("ltlib.train")


def bars_disabled() -> bool:
    """``TQDM_DISABLE`` is set (CI, the detached campaign): no progress bar shows."""
    return os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")


def progress_bar(iterable, progress: bool = True, **options):
    """A tqdm bar (a widget in JupyterLab), off when ``progress`` is false or ``TQDM_DISABLE`` is set (CI)."""
    return tqdm(iterable, disable=not progress or bars_disabled(), **options)


#: set to 1 where a run must not fall back to the CPU (the device call): ``auto`` without CUDA then stops
REQUIRE_CUDA_ENV = "LTLIB_REQUIRE_CUDA"


class DeviceUnavailable(RuntimeError):
    """CUDA is required here (``$LTLIB_REQUIRE_CUDA=1``) but not available: nothing should train on the CPU."""


def resolve_device(name: str) -> torch.device:
    """``auto`` = CUDA when available (required when ``$LTLIB_REQUIRE_CUDA=1``: :class:`DeviceUnavailable`
    otherwise, e.g. when a CUDA MPS daemon left clients without a device); under data parallelism on GPUs,
    this process's GPU."""
    if name == "auto" and os.environ.get(REQUIRE_CUDA_ENV) == "1" and not torch.cuda.is_available():
        raise DeviceUnavailable(f"device 'auto' would train on the CPU, but {REQUIRE_CUDA_ENV}=1: CUDA is not "
                                "available to this process (driver, CUDA_VISIBLE_DEVICES or an MPS daemon)")
    if name == "auto":
        return local_device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' is not allowed here: no CUDA device is available; use 'cpu' or 'auto'")
    return local_device(torch.device(name))


@dataclass
class History:
    """Per-epoch records of one fit: mean training loss, learning rate, test top-1, seconds (the
    whole epoch) and train_seconds (the training steps alone, evaluation excluded). The test set is
    evaluated only at some epochs (:func:`ltlib.schedules.evaluates_at`): ``test_top1[i]`` belongs to
    0-based epoch ``eval_epochs[i]``. ``best_state`` holds the model's weights (on the CPU) after the
    evaluated epoch with the best test top-1. ``fast_paths`` says how the epochs were computed:
    ``[[first epoch, FastPath.label], ...]``, a new entry where a resumed run continued on another path."""

    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    test_top1: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    train_seconds: list = field(default_factory=list)
    eval_epochs: list = field(default_factory=list)
    fast_paths: list = field(default_factory=list)
    best_state: dict | None = None

    def best(self) -> tuple[float, int]:
        """(best test top-1 over the evaluated epochs, its 0-based epoch); the first such epoch on a tie."""
        epochs = self.eval_epochs or list(range(len(self.test_top1)))  # checkpoints older than eval_epochs
        index = max(range(len(self.test_top1)), key=self.test_top1.__getitem__)
        return self.test_top1[index], epochs[index]


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/inf loss; the message names where."""


def _non_finite(description: str, epoch: int, losses: torch.Tensor, lr: float, loss_name: str) -> NonFiniteLossError:
    values = losses.cpu()
    step = int((~torch.isfinite(values)).nonzero()[0])
    finite = [round(float(v), 4) for v in values[:step][-3:]]
    return NonFiniteLossError(f"{description}: non-finite loss {float(values[step])} ({loss_name}) at step {step} of "
                              f"epoch {epoch} (lr {lr}); last finite step losses: {finite}")


def fit(model: SeamNet, parameters, objective, epochs: int, lr_at, momentum: float, weight_decay: float,
        evaluate_epoch, description: str = "train", progress: bool = True, checkpointer=None,
        fast: FastPath = EAGER, evaluate_at=None) -> History:
    """SGD over ``epochs``; ``lr_at(epoch)`` gives the rate, ``evaluate_epoch()`` the test top-1, called
    after the epochs where ``evaluate_at(epoch)`` is true (default: every epoch; the last always).

    With a :class:`~ltlib.checkpoint.Checkpointer` the state is saved after epochs and a run
    that finds a checkpoint continues from it, giving the same result as an uninterrupted run.
    ``fast`` (:mod:`ltlib.fast`) puts each step's forward under autocast and fuses the SGD update (the
    objective's compiled step, if any, is set by :func:`ltlib.fast.accelerate_objective`).
    """
    parameters = list(parameters)
    device = next(model.parameters()).device
    optimizer = torch.optim.SGD(parameters, lr=lr_at(0), momentum=momentum, weight_decay=weight_decay,
                                **({"fused": True} if fast.fused_sgd else {}))
    history = History()
    first_epoch = 0
    state = broadcast_object(checkpointer.load() if checkpointer is not None and is_main() else None)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        objective.load_state_dict(state["objective"])
        torch.set_rng_state(state["torch_rng"])
        history = History(**{"fast_paths": [[0, "not recorded"]], **state["history"]})  # older checkpoints lack it
        first_epoch = state["epoch"]
    bar = progress_bar(range(first_epoch, epochs), progress and is_main(), desc=description, leave=False,
                       initial=first_epoch, total=epochs)
    for epoch in bar:
        started = time.perf_counter()
        if not history.fast_paths or history.fast_paths[-1][1] != fast.label:
            history.fast_paths.append([epoch, fast.label])
        for group in optimizer.param_groups:
            group["lr"] = lr_at(epoch)
        steps = objective.start_epoch(epoch)
        losses = torch.zeros(steps, device=device)  # no host sync inside the epoch
        for step in range(steps):
            with fast.autocast(device):
                loss = objective.loss(step, epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses[step] = loss.detach()
        mean_loss = float(all_reduce_sum(losses.mean())) / rank_and_world()[1]  # the one host sync of the epoch
        history.train_seconds.append(time.perf_counter() - started)
        if not math.isfinite(mean_loss):
            raise _non_finite(description, epoch, losses, lr_at(epoch), getattr(objective.loss_fn, "name", "loss"))
        history.loss.append(mean_loss)
        history.lr.append(lr_at(epoch))
        evaluated = evaluate_at is None or evaluate_at(epoch) or epoch == epochs - 1
        if evaluated:
            history.test_top1.append(evaluate_epoch())
            history.eval_epochs.append(epoch)
            if history.test_top1[-1] > max(history.test_top1[:-1], default=-1.0):  # the first best epoch is kept
                history.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        history.seconds.append(time.perf_counter() - started)
        bar.set_postfix(loss=f"{mean_loss:.3f}", top1=f"{history.test_top1[-1]:.2f}" if history.test_top1 else "-")
        if checkpointer is not None and checkpointer.due(epoch + 1, epochs) and is_main():
            checkpointer.save({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                               "objective": objective.state_dict(), "torch_rng": torch.get_rng_state(),
                               "history": vars(history)})
        if is_main():
            EPOCH_LOG.info("%s: epoch %d/%d, loss %.3f, top-1 %s, %.0f s", description, epoch + 1, epochs, mean_loss,
                           f"{history.test_top1[-1]:.2f}" if evaluated else "not evaluated",
                           history.seconds[-1])
    return history


@dataclass
class TrainOutput:
    model: SeamNet
    history: History
    metrics: dict


def seeded_generator(seed: int, device: torch.device) -> torch.Generator:
    torch.manual_seed(seed)  # model initialisation
    return torch.Generator(device=device).manual_seed(seed)  # sampling and augmentation


def final_metrics(model: SeamNet, data: LongTailedData, history: History) -> dict:
    """Final-epoch metrics (primary), best-epoch top-1 beside them (peers' test-set selection).
    ``train_seconds`` is the wall-clock time of every epoch, its training steps and test passes
    (``history.seconds`` summed), so that a run resumed across sessions counts all its segments."""
    outputs = predict_test(model, data)  # one (sharded) pass over the test set
    metrics = {"final": evaluate(model, None, data.test_labels, data.splits("counts"), outputs=outputs)}
    metrics["test_outcomes"] = encode_outcomes(outputs[0].argmax(1), data.test_labels.cpu())  # paired tests
    best, best_epoch = history.best()
    metrics.update(
        final_top1=metrics["final"]["top1"],
        best_top1=best,
        best_epoch=best_epoch,
        history={"loss": history.loss, "lr": history.lr, "test_top1": history.test_top1,
                 "eval_epochs": history.eval_epochs, "seconds": history.seconds,
                 "train_seconds": history.train_seconds, "fast_paths": history.fast_paths},
        train_seconds=sum(history.seconds),
        class_counts=list(data.class_counts),
        class_names=list(data.class_names),
        data_source=data.source,
        test_images=int(data.test_labels.numel()),
    )
    return metrics


def _fit_config(config, model: SeamNet, data: LongTailedData, objective, parameters, weight_decay: float,
                description: str, progress: bool, checkpointer, fast: FastPath = EAGER) -> TrainOutput:
    """Run :func:`fit` with ``config``'s schedule, evaluating on ``data``'s test set at the epochs
    :func:`ltlib.schedules.evaluates_at` names."""

    def lr_at(epoch):
        return config_learning_rate(config, epoch)

    def test_top1():
        logits, _ = predict_test(model, data, features=False)
        return top1(logits, data.test_labels.cpu())

    history = fit(model, parameters, objective, config.epochs, lr_at, config.momentum, weight_decay, test_top1,
                  description=description, progress=progress, checkpointer=checkpointer, fast=fast,
                  evaluate_at=lambda epoch: evaluates_at(config, epoch))
    metrics = final_metrics(model, data, history)
    metrics["fast_path"] = fast.describe()
    return TrainOutput(model, history, metrics)


def train_stage_one(config: RunConfig, data: LongTailedData, progress: bool = True, checkpointer=None,
                    fast: bool | FastPath | None = None) -> TrainOutput:
    """Train a fresh model on ``data`` as ``config`` says; returns the model, history and metrics.
    ``fast``: the fast path (:func:`ltlib.fast.fast_path`; default on for CUDA, off on the CPU)."""
    device = resolve_device(config.device)
    data = data.to(device)
    generator = seeded_generator(config.seed, device)
    model = build_model(config.model, data.num_classes, normed_classifier=config.loss == "ldam",
                        pretrained=config.pretrained, extra_block=config.extra_block).to(device)
    fast = fast_path(device, fast)
    objective = build_objective(config, data, model, generator)
    objective.network = wrap_model(accelerate(model, fast))
    accelerate_objective(objective, fast)
    model.train()
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]  # all but a frozen net's
    return _fit_config(config, model, data, objective, trainable, config.weight_decay,
                       f"{config.method}/{config.loss} {config.hash()}", progress, checkpointer, fast)


def train_stage_two(config: StageTwoConfig, data: LongTailedData, model: SeamNet, progress: bool = True,
                    checkpointer=None, fast: bool | FastPath | None = None) -> TrainOutput:
    """Decoupled classifier re-training (cRT-style, fine-tuned rather than re-initialised) with H2T fusion on a
    trained stage-I ``model``.

    Only the classifier learns (initialised from stage I's); every backbone parameter is frozen.
    With ``bn_train`` (H2T's official behaviour) the backbone runs in train mode, so its BatchNorm
    normalises with batch statistics and its running statistics keep updating on the
    class-balanced (and fusing) batches; without it the backbone is in eval mode and unchanged. A stage I with
    ``extra_block`` keeps its frozen ImageNet network in eval mode either way: ``bn_train`` reaches the block's
    BatchNorm only (MiSLAS's stage II: ``model.eval()``, the block in train mode under ``shift_bn``).
    """
    device = resolve_device(config.device)
    data = data.to(device)
    generator = seeded_generator(config.seed, device)
    model = model.to(device)
    for parameter in model.backbone_parameters():
        parameter.requires_grad_(False)
    model.train(config.bn_train)
    model.classifier.train()
    seam = model.prepool_seam if config.h2t_seam == "prepool" else model.check_seam(config.h2t_seam)
    fast = fast_path(device, fast)
    objective = accelerate_objective(StageTwoObjective(config, data, accelerate(model, fast), generator, seam), fast)
    objective.network = wrap_model(model)
    return _fit_config(config, model, data, objective, model.classifier.parameters(), config.effective_weight_decay,
                       f"stage II p={config.h2t_p} {config.hash()}", progress, checkpointer, fast)
