"""2-D views of features: t-SNE and decision regions (H2T Fig. 5, 7-11).

t-SNE has no decision boundary of its own. We embed the test features once (sklearn's
Barnes-Hut t-SNE, fixed seed) and, for a classifier, colour the plane by a k-nearest-neighbour
classifier fitted on the embedded points labelled with **that classifier's predictions**. Runs
that share a backbone (DR and DR+H2T, every p of the p sweep) share the embedding, so the regions
differ only where their classifiers' decisions differ.
"""
from __future__ import annotations

import numpy as np


def tsne(features, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """``(N, 2)`` t-SNE embedding of ``features`` ``(N, D)`` (deterministic for a seed)."""
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float32)
    perplexity = min(perplexity, max(2.0, (len(features) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def region_classifier(embedding, predictions, neighbours: int = 15):
    """A kNN classifier on the 2-D ``embedding`` that reproduces a model's ``predictions``."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=min(neighbours, len(embedding))).fit(embedding, predictions)
