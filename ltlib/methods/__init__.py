"""Losses and long-tailed methods, each acting at a named seam of the training step.

Importing this package registers every stage-I method (``none``, ``smart``, ``cmo``) with
:mod:`ltlib.methods.registry`; H2T acts in stage II (:mod:`ltlib.methods.h2t`).
"""
from ltlib.methods import base, smart, cmo  # noqa: F401, I001  (registration, in this order)
from ltlib.methods.registry import build_objective, method_names, register_method

METHODS = method_names()

__all__ = ["METHODS", "build_objective", "method_names", "register_method"]
