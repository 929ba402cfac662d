"""Real public texts for the text tests: KJV and WEB chapters, Python's own docs as filler."""

from __future__ import annotations

from screening.evaluation.bible import chapter as bible_chapter


def kjv(book: int, chapter: int, version: str = "kjv") -> str:
    return bible_chapter(book, chapter, version)


def filler(words: int, start: int = 0) -> str:
    import pydoc_data.topics as topics

    text = " ".join(topics.topics[k] for k in sorted(topics.topics))
    return " ".join(text.split()[start:start + words])


#: Works registered by the text tests: (external_id, book, chapter, title).
CHAPTERS = [("KJV-GEN-1", 1, 1, "Genesis 1"), ("KJV-EXO-20", 2, 20, "Exodus 20"),
            ("KJV-PSA-23", 19, 23, "Psalm 23"), ("KJV-PSA-104", 19, 104, "Psalm 104"),
            ("KJV-MAT-5", 40, 5, "Matthew 5"), ("KJV-JHN-1", 43, 1, "John 1")]
