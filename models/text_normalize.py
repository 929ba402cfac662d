"""Text normalisation that remembers where every token came from.

Copy detection compares normalised tokens, but evidence must point at the original text: a
court or a reviewer reads the characters the model actually produced. So normalisation never
builds a new string; it yields tokens with the [start, end) character offsets of their source
in the original text, and `normalize_token(text[start:end]) == token` holds for every token.

Rules: Unicode NFKC, case-folding, apostrophes inside words dropped ("LORD's" -> "lords"),
every other punctuation mark and all whitespace separate tokens. Latin-script (and any other
spaced) text is compared on words; Chinese, Japanese and Korean characters, written without
spaces, are one token each. Mixed text works: each character is classified on its own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

#: Word characters, combining marks (which \w misses; without them a decomposed "é" would
#: split) and apostrophes followed by a word character.
_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f"
          "\u0900-\u0dff\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f")
_APOSTROPHES = "'\u2019\u02bc`"
TOKEN_RE = re.compile(rf"(?:[^\W_]|[{_MARKS}]|[{_APOSTROPHES}](?=[^\W_]))+")
_DROP = str.maketrans("", "", _APOSTROPHES)
#: Han ideographs, kana, Hangul: scripts written without spaces between words.
_CJK_RE = re.compile(
    "[\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3040-\u30ff\u3131-\u318e\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff"
    "\uff66-\uff9f\U00020000-\U0003134f\u1100-\u11ff]")
#: Characters that end a sentence; a blank line ends one too.
_SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f\u203c\u2047-\u2049]|\n\s*\n")


def normalize_token(raw: str) -> str:
    """The normalised form of one token's source text."""
    if raw.isascii():
        return raw.lower().translate(_DROP)
    return unicodedata.normalize("NFKC", raw).casefold().translate(_DROP)


def is_cjk(ch: str) -> bool:
    return _CJK_RE.match(ch) is not None


@dataclass(frozen=True)
class NormalizedText:
    """Tokens of a text and where each came from."""

    text: str
    tokens: list[str]
    starts: np.ndarray  # int64 character offsets into `text`
    ends: np.ndarray
    cjk: np.ndarray  # bool: token is one CJK character

    def __len__(self) -> int:
        return len(self.tokens)

    def char_span(self, first: int, last: int) -> tuple[int, int]:
        """Character offsets [start, end) covering tokens first..last-1 of the original."""
        return int(self.starts[first]), int(self.ends[last - 1])

    def words(self) -> int:
        """Tokens that are words (not single CJK characters)."""
        return int((~self.cjk).sum())

    def mostly_cjk(self) -> bool:
        """Whether more than half the tokens are CJK characters (a Chinese, Japanese or
        Korean text, perhaps with a few Latin words)."""
        return bool(len(self.cjk)) and float(self.cjk.mean()) > 0.5

    def sentence_ends(self) -> np.ndarray:
        """Token indices after which a sentence ends (the last token always does)."""
        n = len(self.tokens)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        ends = [i for i in range(n - 1)
                if _SENTENCE_END.search(self.text, int(self.ends[i]), int(self.starts[i + 1]))]
        ends.append(n - 1)
        return np.asarray(ends, dtype=np.int64)


def normalize(text: str) -> NormalizedText:
    """Tokenise and normalise `text`, keeping each token's original offsets."""
    tokens: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cjk: list[bool] = []
    for m in TOKEN_RE.finditer(text):
        raw = m.group()
        if raw.isascii() or not _CJK_RE.search(raw):
            tok = normalize_token(raw)
            if tok:
                tokens.append(tok)
                starts.append(m.start())
                ends.append(m.end())
                cjk.append(False)
            continue
        # split a mixed run: each CJK character alone, the rest as words
        base, i = m.start(), 0
        while i < len(raw):
            if is_cjk(raw[i]):
                j = i + 1
                while j < len(raw) and unicodedata.category(raw[j])[0] == "M":
                    j += 1
                piece, is_c = raw[i:j], True
            else:
                j = i + 1
                while j < len(raw) and not is_cjk(raw[j]):
                    j += 1
                piece, is_c = raw[i:j], False
            tok = normalize_token(piece)
            if tok and tok.strip(_APOSTROPHES):
                tokens.append(tok)
                starts.append(base + i)
                ends.append(base + j)
                cjk.append(is_c)
            i = j
    return NormalizedText(text, tokens, np.asarray(starts, dtype=np.int64),
                          np.asarray(ends, dtype=np.int64), np.asarray(cjk, dtype=bool))
