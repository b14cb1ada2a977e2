"""Periodic training checkpoints, so a killed run resumes where it stopped with identical results.

A checkpoint holds everything the next epoch depends on: model and optimiser states, the epoch
history, the objective's state (sampling and augmentation generators, mixup's host RNG, SMART's
class statistics, CMO's box RNG) and torch's global RNG. It is written atomically (temporary file
+ rename) after every ``every`` epochs, and removed once the run's result is saved.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

from ltlib.storage import atomic_write_bytes


class Checkpointer:
    def __init__(self, path: Path, every: int = 1):
        self.path, self.every = Path(path), every

    def load(self) -> dict | None:
        if not self.path.is_file():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception:  # a damaged checkpoint is ignored: the run restarts from scratch
            return None

    def due(self, completed_epochs: int, total: int) -> bool:
        return completed_epochs % self.every == 0 and completed_epochs < total

    def save(self, state: dict) -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.path, buffer.getvalue())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
