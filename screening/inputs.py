"""Which files a command screens: the paths it is given, with folders walked for the
suffixes of a kind."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from screening.registry.manifest import TEXT_SUFFIXES

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


def _expand(paths: Iterable[Path], suffixes: set[str]) -> Iterator[Path]:
    """Files as given; folders walked recursively for files with these suffixes, in sorted
    order (links to folders are not followed, so a link loop ends). A path that does not
    exist, and a name in a folder with such a suffix that is not a readable file (a
    dangling link, a pipe), is yielded as is, so screening reports it as an error result
    instead of skipping an output unseen."""
    for p in paths:
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                if child.suffix.lower() in suffixes and not child.is_dir():
                    yield child
        else:
            yield p


def expand_text_paths(paths: Iterable[Path]) -> Iterator[Path]:
    return _expand(paths, TEXT_SUFFIXES)


def expand_image_paths(paths: Iterable[Path]) -> Iterator[Path]:
    return _expand(paths, IMAGE_SUFFIXES)
