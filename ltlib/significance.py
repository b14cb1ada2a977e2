"""How much one seed's test accuracy can say: intervals over the test images and paired tests between runs.

* :func:`wilson_interval`: the 95 % Wilson score interval of an accuracy measured on ``n`` test images.
  It covers the sampling of the *test images* only; a second training seed moves a CIFAR-LT result by
  more (peers report a seed standard deviation of about 0.3 point for CE on CIFAR-100-LT), which no
  one-seed interval shows.
* :func:`mcnemar`: the exact McNemar test of two runs scored on the *same* test images, from the images
  exactly one of them gets right (``b``: only the first, ``c``: only the second); two-sided binomial
  p-value of ``min(b, c)`` under ``Binomial(b + c, 1/2)``. It says whether the difference is larger than
  the test set's sampling explains for these two trained models, not whether it survives a new seed.
* :func:`holm`: Holm's step-down correction, for reading many such tests together.
* :func:`direction_reading`: how one paired difference reads against the direction a paper claims.
"""
from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054
#: the level of the paired test below which two runs are told apart (a step from no change, a method from its baseline)
LEVEL = 0.05


def wilson_interval(correct: int, total: int, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval of ``correct / total``, in % (``(lo, hi)``)."""
    if total <= 0:
        raise ValueError(f"total must be > 0, got {total}")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be in 0..{total}, got {correct}")
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return 100 * (centre - half), 100 * (centre + half)


def binomial_two_sided(k: int, n: int) -> float:
    """``P(X <= min(k, n - k)) * 2`` for ``X ~ Binomial(n, 1/2)``, capped at 1 (exact, in log space)."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    return min(1.0, 2 * math.exp(top) * sum(math.exp(v - top) for v in logs))


def mcnemar(first_correct, second_correct) -> dict:
    """Exact McNemar test of two runs' per-image correctness on the same test images."""
    first, second = np.asarray(first_correct, dtype=bool), np.asarray(second_correct, dtype=bool)
    if first.shape != second.shape:
        raise ValueError(f"the runs were scored on different test sets ({first.size} vs {second.size} images)")
    only_first, only_second = int((first & ~second).sum()), int((~first & second).sum())
    return {"only_first": only_first, "only_second": only_second,
            "difference": 100 * (int(second.sum()) - int(first.sum())) / first.size,
            "p_value": binomial_two_sided(only_first, only_first + only_second)}


def holm(p_values, level: float = LEVEL) -> list[bool]:
    """Which of ``p_values`` stay below ``level`` under Holm's step-down correction (family-wise error at most
    ``level`` over all of them): the i-th smallest (from 0) needs ``p < level / (m - i)`` (strict, as :data:`LEVEL`
    is read everywhere), and the first that fails stops the rest. In the input's order."""
    p = np.asarray(p_values, dtype=float)
    keep = np.zeros(p.size, dtype=bool)
    for rank, index in enumerate(np.argsort(p, kind="stable")):
        if p[index] >= level / (p.size - rank):
            break
        keep[index] = True
    return keep.tolist()


def direction_reading(difference: float, p_value: float, expected: int) -> str:
    """How a paired difference (method minus baseline) reads against a claim whose direction is ``expected``
    (+1: the method's number is higher, -1: lower): the paper's direction or against it where ``p_value`` is below
    :data:`LEVEL`, else not told apart. A notebook prints it beside the numbers it reads."""
    if expected not in (1, -1):
        raise ValueError(f"expected must be +1 (higher) or -1 (lower), got {expected!r}")
    if not p_value < LEVEL:
        return f"not told apart on these test images (p = {p_value:.2g})"
    agrees = (difference > 0) == (expected > 0)
    return (f"{'the paper' if agrees else 'against the paper'}'s direction, beyond the test images' sampling "
            f"(p = {p_value:.2g})")
