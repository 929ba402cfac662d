"""Errors raised by indexes/ (re-exported by screening.errors)."""


class IndexError_(Exception):
    """Base of every error raised by indexes/. (Named so it never shadows the builtin.)"""


class IndexCompatibilityError(IndexError_):
    """A stored index was built with another extractor, version, dimension or metric."""


class IndexCorruptError(IndexError_):
    """A stored index file failed its checksum or could not be parsed, and no good copy exists."""


class CannotReplaceError(IndexError_, ValueError):
    """An index that cannot drop vectors (HNSW, IVF) was asked to add a work it holds."""


class IndexTrainingError(IndexError_, ValueError):
    """An index that needs training (IVF) has not been, or cannot be, trained."""


class IndexConfigError(IndexError_, ValueError):
    """An index was asked for with settings FAISS cannot build (a bad factory string)."""
