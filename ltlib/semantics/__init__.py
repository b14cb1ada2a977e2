"""Class semantics: how similar two classes are, by WordNet or by word vectors.

:func:`class_similarity` gives a ``(K, K)`` matrix for class names from a source:

* ``wordnet`` (Lin similarity, SMART §3.2), ``wordnet-path``, ``wordnet-wup``;
* ``word2vec`` (the paper's Google-News vectors, online), ``glove`` and ``gloss-word2vec``
  (offline stand-ins; see :mod:`ltlib.semantics.vectors`).

Matrices are cached as ``.npy`` under ``$LTLIB_CACHE/semantics/``. :func:`top_k_similar` turns a
matrix into each class's k most similar head classes (SMART's offline head choice).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ltlib.checks import one_of
from ltlib.storage import atomic_write_bytes, cache_folder

from ltlib.semantics.synsets import CIFAR10_CLASSES, CIFAR100_CLASSES, PAPER_TRAIN_NEIGHBOURS, SYNSETS, synset_name
from ltlib.semantics.vectors import VECTOR_SOURCES, cosine_similarity_matrix, load_vectors
from ltlib.semantics.wordnet import DEFAULT_IC, ensure_wordnet, wordnet_similarity_matrix

SOURCES = ("wordnet", "wordnet-path", "wordnet-wup") + VECTOR_SOURCES

__all__ = ["SOURCES", "CIFAR10_CLASSES", "CIFAR100_CLASSES", "PAPER_TRAIN_NEIGHBOURS", "cache_path", "class_similarity",
           "most_similar", "top_k_similar", "ensure_wordnet", "synset_name"]


def cache_path(class_names, source: str, ic_file: str = DEFAULT_IC) -> Path:
    """Where :func:`class_similarity` keeps the matrix of ``class_names`` from ``source``; a WordNet source's key
    holds each class's synset, so a changed synset table computes the matrix afresh."""
    root = cache_folder("semantics")
    names = [SYNSETS.get(name, name) for name in class_names] if source.startswith("wordnet") else list(class_names)
    key = hashlib.sha256("|".join([source, ic_file, *names]).encode()).hexdigest()[:12]
    return root / f"{source}-{key}.npy"


def class_similarity(class_names, source: str = "wordnet", ic_file: str = DEFAULT_IC, cache: bool = True) -> np.ndarray:
    """``(K, K)`` similarity between ``class_names`` from ``source`` (see the module docstring)."""
    one_of("similarity source", source, SOURCES)
    class_names = list(class_names)
    path = cache_path(class_names, source, ic_file)
    if cache and path.is_file():
        return np.load(path)
    if source.startswith("wordnet"):
        measure = {"wordnet": "lin", "wordnet-path": "path", "wordnet-wup": "wup"}[source]
        matrix = wordnet_similarity_matrix(class_names, measure, ic_file)
    else:
        matrix = cosine_similarity_matrix(class_names, load_vectors(source))
    if cache:
        import io

        buffer = io.BytesIO()
        np.save(buffer, matrix)
        atomic_write_bytes(path, buffer.getvalue())
    return matrix


def most_similar(similarity_row, candidates) -> np.ndarray:
    """``candidates`` (class indices) ordered by ``similarity_row``, most similar first, ties broken by the lower
    class index: the one ranking of :func:`top_k_similar` and SMART's per-class candidate tables."""
    candidates = np.asarray(sorted(set(int(c) for c in candidates)), dtype=np.int64)
    return candidates[np.lexsort((candidates, -np.asarray(similarity_row, dtype=float)[candidates]))]


def top_k_similar(similarity, head_classes, k: int = 5) -> np.ndarray:
    """``(K, k)``: for every class, the ``k`` head classes most similar to it, most similar first.

    A class is never its own neighbour; only classes in ``head_classes`` are returned (ties
    broken by the lower class index). ``k`` larger than the number of head classes is an error.
    A head class has one candidate fewer (itself is excluded): when ``k`` equals the number of
    head classes its row repeats its list from the start to fill ``k`` slots (SMART only reads
    the rows of tail classes).
    """
    similarity = np.asarray(similarity, dtype=float)
    heads = np.asarray(sorted(set(int(c) for c in head_classes)))
    if k < 1 or k > len(heads):
        raise ValueError(f"k={k} is not allowed; must be in 1..{len(heads)} (head classes available)")
    result = np.empty((len(similarity), k), dtype=np.int64)
    for cls in range(len(similarity)):
        ranked = most_similar(similarity[cls], heads[heads != cls])
        result[cls] = np.resize(ranked, k) if len(ranked) else cls
    return result
