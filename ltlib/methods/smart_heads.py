"""SMART's head classes: which classes are augmented, and which head class ``k_h`` a tail sample borrows its
covariance from (:mod:`ltlib.methods.smart`, Eq. 4-6).

**Head and tail.** The paper names no head/tail split for SMART. Its one example (§3.2, Fig. 3) lists
the "top 10 semantically similar head classes" of CIFAR-100-LT's tail class 'train' (index 90): bus,
bicycle, bridge, motorcycle, road, pickup truck, camel, elephant, lawn mower, mountain; at IF 100 five
of them (indices 41-68) have 20-100 images, medium-shot. So there "head" cannot mean the many split;
it fits "any class with more images than the tail class" (and equally "not few-shot", which leaves
CIFAR-10-LT, with no class under 20 images, without tail classes). ltlib offers three rules:
``head_rule = 'many'`` (default, fixed before any run): head classes are the *many* split (> 100
training images), the split the paper reports by (§4.1), all others are tail (2 of CIFAR-10-LT's 10);
``'half'``: the ceil(C/2) largest classes are head; ``'relative'`` (§3.2's example): every class is
tail except the largest, and a class's head classes are those with more images than its own (on
CIFAR-10-LT class 1 borrows only from class 0, class 9 from the nine others). A tail sample's head
class ``k_h`` is drawn per sample and step (§3.3's "we randomly sample a head class k_h for a given tail
class k_t" also reads as one draw per class and step; per sample gives a class's images several head
classes in one step): ``online`` uniformly among its head classes; offline (a similarity source)
uniformly among the ``top_k = 5`` head classes most similar to its class (all of them when it has fewer
than ``top_k``). A pair is augmented only once ``k_h`` has statistics.

Every rule is one table per class (:func:`head_choice_table`): a tail sample's draw is a position in its class's
row of candidate head classes.
"""
from __future__ import annotations

import math

import torch

from ltlib.checks import require_one_of
from ltlib.semantics import SOURCES as SIMILARITY_SOURCES, class_similarity, most_similar, top_k_similar

HEAD_RULES = ("many", "half", "relative")
#: head class of a tail sample: online (any head class) or offline by a class-similarity source
HEAD_CHOICES = ("online",) + SIMILARITY_SOURCES


def head_class_mask(class_counts, rule: str = "many") -> torch.Tensor:
    """Boolean ``(K,)``: which classes are head under ``rule`` (never augmented). Under ``relative`` that
    is the classes no class outnumbers; every other class is tail, with its own head classes
    (:func:`relative_heads`)."""
    counts = torch.as_tensor(class_counts)
    if rule == "many":
        return counts > 100
    if rule == "half":
        mask = torch.zeros(len(counts), dtype=torch.bool)
        mask[torch.argsort(counts, descending=True, stable=True)[: math.ceil(len(counts) / 2)]] = True
        return mask
    if rule == "relative":
        return counts == counts.max()
    require_one_of("smart_head_rule", rule, HEAD_RULES)


def relative_heads(class_counts) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``relative`` rule's head classes of every class as ``(order (K,), sizes (K,))``: ``order`` lists the
    classes by decreasing image count (ties by index), so the classes with more images than class ``k`` are
    its first ``sizes[k]`` entries."""
    counts = torch.as_tensor(class_counts)
    order = torch.argsort(counts, descending=True, stable=True)
    return order, (counts[None, :] > counts[:, None]).sum(1)


#: the range of a ``relative`` draw, reduced modulo each class's number of head classes (a bias under 1e-5
#: for up to 8,142 classes)
RELATIVE_DRAW_RANGE = 2 ** 30


def draw_width(sizes: torch.Tensor, is_head: torch.Tensor) -> int:
    """What :func:`draw_head_picks` draws below: the one number of candidates every tail class has (each pick is
    then its own position, as before the ``relative`` rule existed), else :data:`RELATIVE_DRAW_RANGE`, reduced
    modulo each class's own number by :func:`head_classes_of`."""
    tail_sizes = sizes[~is_head]
    return int(tail_sizes[0]) if (tail_sizes == tail_sizes[0]).all() else RELATIVE_DRAW_RANGE


def draw_head_picks(count: int, choices: int, generator: torch.Generator, device, layout=None) -> torch.Tensor:
    """The random part of the head-class choice: ``(count,)`` positions uniform in ``0..choices-1``. With a
    ``layout`` (data parallelism) they are drawn for the whole global batch and each sample takes its
    position's."""
    shape = (count,) if layout is None else (layout.total,)
    pick = torch.randint(0, choices, shape, generator=generator, device=generator.device)
    if layout is not None:
        pick = pick[layout.positions.to(pick.device)]
    return pick.to(device)


def head_classes_of(tail_labels: torch.Tensor, table: torch.Tensor, sizes: torch.Tensor,
                    pick: torch.Tensor) -> torch.Tensor:
    """The head class of each sample for its ``pick``: ``table[y, pick mod sizes[y]]``, where row ``y`` of
    ``table`` (K, W) lists class ``y``'s ``sizes[y]`` candidate head classes (:func:`head_choice_table`); a
    ``table`` of one dimension (W,) is every class's row. A pick drawn below a row's size (every rule but
    ``relative``) is its own position."""
    position = pick % sizes[tail_labels].clamp(min=1)
    return table[position] if table.dim() == 1 else table[tail_labels, position]


def candidates_of(table: torch.Tensor, sizes: torch.Tensor, k: int) -> torch.Tensor:
    """Class ``k``'s candidate head classes, its row of ``table`` cut to ``sizes[k]`` (:func:`head_classes_of`)."""
    return (table if table.dim() == 1 else table[k])[: int(sizes[k])]


def head_choice_table(class_counts, head_rule: str,
                      candidates: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Every class's candidate head classes as ``(table, sizes (K,))`` (:func:`head_classes_of`): the offline
    ``candidates`` (:func:`offline_candidates`, a table (K, top_k)) when given; online one row (W,) for every
    class: the head classes of the rule, or under ``relative`` the classes by decreasing count, of which
    class ``k`` reads the ``sizes[k]`` with more images than its own (:func:`relative_heads`)."""
    if candidates is not None:
        return candidates
    if head_rule == "relative":
        return relative_heads(class_counts)
    heads = torch.nonzero(head_class_mask(class_counts, head_rule)).flatten()
    return heads, torch.full((len(class_counts),), heads.numel())


def offline_candidates(class_names, class_counts, head_choice: str, head_rule: str, top_k: int):
    """For an offline ``head_choice`` (a class-similarity source of :mod:`ltlib.semantics`), every class's
    ``top_k`` most similar head classes, most similar first, as ``(table (K, top_k), sizes (K,))``
    (:func:`head_choice_table`); ``None`` for ``online``. A class with fewer head classes than ``top_k``
    (e.g. 4 many-shot classes in the quick subset, or a class outnumbered by 3 under ``relative``) draws
    among all of them."""
    require_one_of("smart_head_choice", head_choice, HEAD_CHOICES)
    if head_choice == "online":
        return None
    similarity = class_similarity(list(class_names), head_choice)
    if head_rule == "relative":
        return relative_candidates(similarity, class_counts, top_k)
    heads = head_class_mask(class_counts, head_rule).nonzero().flatten().tolist()
    width = min(top_k, len(heads))
    return torch.as_tensor(top_k_similar(similarity, heads, width)), torch.full((len(class_counts),), width)


def relative_candidates(similarity, class_counts, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``relative``'s offline head choice: row ``k`` holds the ``min(top_k, m_k)`` classes most similar to ``k``
    among its ``m_k`` outnumbering classes (ties by the lower index), the rest of the row ``k``."""
    order, sizes = relative_heads(class_counts)
    table = torch.arange(len(sizes))[:, None].repeat(1, top_k)
    for k in range(len(sizes)):
        ranked = most_similar(similarity[k], candidates_of(order, sizes, k).tolist())[:top_k]
        table[k, : len(ranked)] = torch.as_tensor(ranked)
    return table, sizes.clamp(max=top_k)
