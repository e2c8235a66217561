"""Shared access to the public mail corpora in ``../shared/corpora``.

Each ``<name>.tar.gz`` is extracted once into ``<project>/.cache/corpora/<name>/``
(git-ignored) and reused by later test runs, scripts and benchmarks. Corpus files
are never copied into the project tree itself.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tarfile
import tempfile

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPORA_SOURCE = PROJECT_ROOT.parent / "shared" / "corpora"
CACHE_DIR = PROJECT_ROOT / ".cache" / "corpora"
MISSING_MESSAGE = "../shared/corpora not present"


class CorpusMissing(FileNotFoundError):
    """The corpus tarball is not available on this machine."""


def corpus_tarball(name: str) -> pathlib.Path:
    return CORPORA_SOURCE / f"{name}.tar.gz"


def extract_corpus(name: str) -> pathlib.Path:
    """Extract ``<name>.tar.gz`` once into the cache and return its folder.

    Raises :class:`CorpusMissing` when the tarball is absent. Extraction goes to a
    temporary folder that is renamed into place, so concurrent runs never see a
    half-extracted corpus.
    """
    target = CACHE_DIR / name
    if target.is_dir():
        return target
    tarball = corpus_tarball(name)
    if not tarball.is_file():
        raise CorpusMissing(MISSING_MESSAGE)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}-", dir=CACHE_DIR))
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(staging, filter="data")
        extracted = staging / name
        if not extracted.is_dir():
            raise CorpusMissing(f"{tarball.name} has no top-level folder {name}/")
        try:
            os.rename(extracted, target)
        except OSError:
            if not target.is_dir():  # lost a race only if the winner succeeded
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def corpus_dir(name: str) -> pathlib.Path:
    """Folder of an extracted corpus; skips the calling test when it is absent."""
    try:
        return extract_corpus(name)
    except CorpusMissing as exc:
        import pytest

        pytest.skip(str(exc))
