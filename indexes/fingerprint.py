"""Winnowing fingerprint index for text: which registered works share k-grams with an output.

Each work is stored as the 64-bit hashes of its normalised tokens (needed anyway to extend a
shared k-gram into the full shared run); its winnowed k-gram fingerprints are kept in sorted
arrays searched with numpy's binary search, so a 1,000-word output is ~1,000 vectorised
look-ups whatever the registry size.

Updates are log-structured: a work added since the last compaction sits in a small sorted
delta (re-sorted lazily, at the next look-up, so a catch-up adding thousands of works sorts
once); a removed (or replaced) work's slot is marked dead and its postings are filtered at
query time; when the delta grows past a quarter of the main arrays (or dead postings do) the
two are merged. The boilerplate cap counts the postings stored, dead ones included until
the next compaction. Postings are (slot << 32 | token position); a slot is a work's current
content, so replacing a work never mixes old and new positions.

Byte format of serialize(): b"IPFP", then little-endian uint32 k, w, max_postings, uint64
number of works N, N int64 work ids, N int64 token counts, then all token hashes as uint64.
Fingerprints are recomputed on load (deterministic), which keeps the file at 8 bytes a token.

A short work (at most `all_kgrams_below` tokens: a poem, a lyric, a slogan) keeps every
k-gram, not a winnowed sample: copied with a word or two changed, it may have one shared run
of k tokens left, and winnowing would have kept that k-gram only by chance. It costs about
2.5 times the postings of those works, which are short by definition. Short works are also
looked up by their 3-grams (`short_seeds`, a hash map kept beside the sorted arrays): a
ten-word saying with one word changed in the middle shares no 5-gram with it. The shortest
works (fewer than `PAIR_BELOW` tokens) are looked up by their 2-grams too (`pair_seeds`): an
n-token work with three tokens changed keeps at least n - 11 of its 3-grams, none below 12
tokens, but at least n - 7 of its 2-grams, so one of 8 tokens keeps one.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

import numpy as np

from indexes.base import PersistentIndex
from models.base import FeatureSpec
from models.text_fingerprint import kgram_hashes, winnow

_MAGIC = b"IPFP"
_HEADER = struct.Struct("<4sIIIQ")
_POS_MASK = np.uint64(0xFFFFFFFF)
#: Works of at most this many tokens keep every k-gram (the text index's setting).
ALL_KGRAMS_BELOW = 256
#: The k-gram size of the short works' own look-up.
SHORT_K = 3
#: Works of fewer tokens than this are also looked up by their 2-grams (see above).
PAIR_BELOW = 13
#: A 2-gram found in more places than this seeds nothing ("of the" says nothing of a work).
PAIR_MAX_POSTINGS = 50


@dataclass(frozen=True)
class Seeds:
    """Shared k-grams between a query and registered works (parallel arrays)."""

    work_ids: np.ndarray  # int64
    work_pos: np.ndarray  # int64: token position of the k-gram in the work
    query_pos: np.ndarray  # int64: token position of the k-gram in the query

    def __len__(self) -> int:
        return len(self.work_ids)


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64)


class FingerprintIndex(PersistentIndex):
    """Token-hash sequences of text works with a winnowed k-gram look-up."""

    metric = "winnowing"

    def __init__(self, spec: FeatureSpec, k: int = 5, w: int = 4,
                 max_postings: int = 1000, all_kgrams_below: int = 0) -> None:
        if spec.kind != "tokens":
            raise ValueError(f"{spec.name}: a fingerprint index needs a tokens feature")
        if k < 2 or w < 1:
            raise ValueError(f"k must be >= 2 and w >= 1, got k={k}, w={w}")
        self.spec, self.k, self.w = spec, k, w
        #: A k-gram found in more places than this is boilerplate ("and it came to pass"):
        #: it seeds nothing, so one common phrase cannot flood a query with candidates.
        self.max_postings = max_postings
        self.all_kgrams_below = all_kgrams_below
        self._slot_of: dict[int, int] = {}
        self._slot_work = np.zeros(0, dtype=np.int64)  # slot -> work id, -1 when dead
        self._tokens: dict[int, np.ndarray] = {}
        self._fp_count: dict[int, int] = {}
        self._main_keys, self._main_vals = _empty()
        self._main_dead = 0
        self._delta_slots: list[int] = []
        self._delta_keys, self._delta_vals = _empty()
        self._delta_fps = 0
        self._delta_stale = False
        self._lock = threading.Lock()
        #: 3-gram hash -> [(slot, position)] of the short works' 3-grams (all of them).
        self._short: dict[int, list[tuple[int, int]]] = {}
        #: 2-gram hash -> [(slot, position)] of the works of fewer than PAIR_BELOW tokens.
        self._pairs: dict[int, list[tuple[int, int]]] = {}

    # -- building ---------------------------------------------------------------------------
    def fingerprints(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The winnowed k-gram hashes of a token sequence and their token positions."""
        kg = kgram_hashes(tokens, self.k)
        if len(tokens) <= self.all_kgrams_below:
            return kg, np.arange(len(kg), dtype=np.int64)
        pos = winnow(kg, self.w)
        return kg[pos], pos

    def _postings(self, slots: list[int]) -> tuple[np.ndarray, np.ndarray]:
        keys, vals = [], []
        for slot in slots:
            fk, fp = self.fingerprints(self._tokens[slot])
            keys.append(fk)
            vals.append((np.uint64(slot) << np.uint64(32)) | fp.astype(np.uint64))
        if not keys:
            return _empty()
        k, v = np.concatenate(keys), np.concatenate(vals)
        order = np.argsort(k, kind="stable")
        return k[order], v[order]

    def _new_slot(self, work_id: int, tokens: np.ndarray) -> int:
        slot = len(self._slot_work)
        if slot >= 1 << 31:
            raise ValueError("fingerprint index has too many slots; rebuild it")
        self._slot_work = np.append(self._slot_work, np.int64(work_id))
        self._slot_of[work_id] = slot
        self._tokens[slot] = tokens
        self._fp_count[slot] = len(self.fingerprints(tokens)[1])
        for table, k in self._lookups(tokens):
            for pos, key in enumerate(kgram_hashes(tokens, k).tolist()):
                table.setdefault(key, []).append((slot, pos))
        return slot

    def _lookups(self, tokens: np.ndarray) -> list[tuple[dict[int, list[tuple[int, int]]], int]]:
        """The short-work look-up tables (and their k) a work of these tokens belongs in."""
        out = []
        if len(tokens) <= self.all_kgrams_below:
            out.append((self._short, SHORT_K))
            if len(tokens) < PAIR_BELOW:
                out.append((self._pairs, 2))
        return out

    @staticmethod
    def _as_tokens(vectors: np.ndarray) -> np.ndarray:
        tokens = np.ascontiguousarray(vectors, dtype=np.uint64).ravel()
        if len(tokens) >= 1 << 32:
            raise ValueError("a text work may have at most 2**32 tokens")
        return tokens

    def add(self, work_id: int, vectors: np.ndarray) -> None:
        """Add (or replace) a work given its token hashes."""
        tokens = self._as_tokens(vectors)
        self.remove([work_id])
        slot = self._new_slot(work_id, tokens)
        self._delta_slots.append(slot)
        self._delta_fps += self._fp_count[slot]
        self._delta_stale = True
        if self._delta_fps > max(50_000, len(self._main_keys) // 4):
            self.compact()

    def add_new(self, work_ids: list[int], vectors: list[np.ndarray]) -> None:
        for w, v in zip(work_ids, vectors, strict=True):
            self.remove([w])
            self._delta_slots.append(self._new_slot(w, self._as_tokens(v)))
        self.compact()

    def remove(self, work_ids: list[int]) -> int:
        removed = 0
        for work in work_ids:
            slot = self._slot_of.pop(work, None)
            if slot is None:
                continue
            self._slot_work[slot] = -1
            tokens = self._tokens.pop(slot)
            for table, k in self._lookups(tokens):
                for key in set(kgram_hashes(tokens, k).tolist()):
                    kept = [x for x in table.get(key, []) if x[0] != slot]
                    if kept:
                        table[key] = kept
                    else:
                        table.pop(key, None)
            n = self._fp_count.pop(slot)
            removed += n
            if slot in self._delta_slots:
                self._delta_slots.remove(slot)
                self._delta_fps -= n
                self._delta_stale = True
            else:
                self._main_dead += n
        if self._main_dead > max(50_000, len(self._main_keys) // 4):
            self.compact()
        return removed

    def compact(self) -> None:
        """Merge the delta into the main arrays and drop dead postings."""
        live = sorted(self._tokens)
        self._main_keys, self._main_vals = self._postings(live)
        self._main_dead = 0
        self._delta_slots = []
        self._delta_keys, self._delta_vals = _empty()
        self._delta_fps = 0
        self._delta_stale = False

    # -- querying ---------------------------------------------------------------------------
    def _fresh_delta(self) -> tuple[np.ndarray, np.ndarray]:
        """The delta's sorted postings, rebuilt once after changes. Readers on several threads
        may ask at once: the lock makes one of them build, and the pair is read together."""
        with self._lock:
            if self._delta_stale:
                self._delta_keys, self._delta_vals = self._postings(self._delta_slots)
                self._delta_stale = False
            return self._delta_keys, self._delta_vals

    def tokens_of(self, work_id: int) -> np.ndarray:
        """The token hashes of a work (KeyError if absent)."""
        return self._tokens[self._slot_of[work_id]]

    def seeds(self, query_tokens: np.ndarray) -> Seeds:
        """Every (work, work position, query position) where a k-gram of the query equals a
        kept fingerprint of a live work."""
        delta = self._fresh_delta()
        kg = kgram_hashes(np.ascontiguousarray(query_tokens, dtype=np.uint64), self.k)
        segments = [(keys, vals, np.searchsorted(keys, kg, side="left"),
                     np.searchsorted(keys, kg, side="right"))
                    for keys, vals in ((self._main_keys, self._main_vals), delta)]
        # the boilerplate cap counts postings of both segments together
        total = sum(hi - lo for _, _, lo, hi in segments)
        common = total > self.max_postings
        qparts, vparts = [], []
        for _, vals, lo, hi in segments:
            counts = np.where(common, 0, hi - lo)
            n = int(counts.sum())
            if n == 0:
                continue
            qparts.append(np.repeat(np.arange(len(kg), dtype=np.int64), counts))
            # index of each posting: lo of its query k-gram plus its rank within the range
            rank = np.arange(n, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            vparts.append(vals[np.repeat(lo, counts) + rank])
        if not qparts:
            z = np.zeros(0, dtype=np.int64)
            return Seeds(z, z.copy(), z.copy())
        qpos, vals = np.concatenate(qparts), np.concatenate(vparts)
        works = self._slot_work[(vals >> np.uint64(32)).astype(np.int64)]
        live = works >= 0
        return Seeds(works[live], (vals & _POS_MASK).astype(np.int64)[live], qpos[live])

    def short_seeds(self, query_tokens: np.ndarray) -> Seeds:
        """Every (work, work position, query position) where a 3-gram of the query equals a
        3-gram of a live short work (at most `all_kgrams_below` tokens); a 3-gram found in
        more places than `max_postings` seeds nothing."""
        return self._look_up(self._short, SHORT_K, query_tokens)

    def pair_seeds(self, query_tokens: np.ndarray) -> Seeds:
        """As `short_seeds`, with 2-grams, for the works of fewer than `PAIR_BELOW` tokens; a
        2-gram found in more than `PAIR_MAX_POSTINGS` places seeds nothing."""
        return self._look_up(self._pairs, 2, query_tokens, PAIR_MAX_POSTINGS)

    def _look_up(self, table: dict[int, list[tuple[int, int]]], k: int,
                 query_tokens: np.ndarray, cap: int | None = None) -> Seeds:
        cap = self.max_postings if cap is None else cap
        works, wpos, qpos = [], [], []
        # a registry without works of this size: no k-gram of the output to hash
        kg = (kgram_hashes(np.ascontiguousarray(query_tokens, dtype=np.uint64), k) if table
              else np.zeros(0, dtype=np.uint64))
        for q, key in enumerate(kg.tolist()):
            hits = table.get(key)
            if not hits or len(hits) > cap:
                continue
            for slot, pos in hits:
                work = int(self._slot_work[slot])
                if work >= 0:
                    works.append(work)
                    wpos.append(pos)
                    qpos.append(q)
        return Seeds(np.asarray(works, dtype=np.int64), np.asarray(wpos, dtype=np.int64),
                     np.asarray(qpos, dtype=np.int64))

    # -- bookkeeping ------------------------------------------------------------------------
    def work_ids(self) -> set[int]:
        return set(self._slot_of)

    @property
    def ntotal(self) -> int:
        return sum(self._fp_count.values())

    def tokens_total(self) -> int:
        return sum(len(t) for t in self._tokens.values())

    def memory_bytes(self) -> int:
        """Bytes held in numpy arrays (tokens, postings, slot map)."""
        return (sum(t.nbytes for t in self._tokens.values()) + self._main_keys.nbytes
                + self._main_vals.nbytes + self._delta_keys.nbytes + self._delta_vals.nbytes
                + self._slot_work.nbytes)

    def build_params(self) -> dict:
        return {"k": self.k, "w": self.w, "max_postings": self.max_postings,
                "all_kgrams_below": self.all_kgrams_below}

    def serialize(self) -> bytes:
        works = sorted(self._slot_of)
        toks = [self._tokens[self._slot_of[w]] for w in works]
        head = _HEADER.pack(_MAGIC, self.k, self.w, self.max_postings, len(works))
        return b"".join([head, np.asarray(works, dtype="<i8").tobytes(),
                         np.asarray([len(t) for t in toks], dtype="<i8").tobytes(),
                         *(t.astype("<u8").tobytes() for t in toks)])

    @classmethod
    def deserialize(cls, spec: FeatureSpec, data: bytes, params: dict) -> FingerprintIndex:
        if len(data) < _HEADER.size:
            raise ValueError("fingerprint index data shorter than its header")
        magic, k, w, cap, n = _HEADER.unpack_from(data, 0)
        if magic != _MAGIC:
            raise ValueError("not a fingerprint index (bad magic)")
        off = _HEADER.size
        if len(data) < off + 16 * n:
            raise ValueError("fingerprint index data truncated in its work table")
        works = np.frombuffer(data, dtype="<i8", count=n, offset=off)
        lengths = np.frombuffer(data, dtype="<i8", count=n, offset=off + 8 * n)
        off += 16 * n
        if (lengths < 0).any() or len(data) != off + 8 * int(lengths.sum()):
            raise ValueError("fingerprint index data has an inconsistent length")
        # an index saved before short works kept every k-gram gets them now: fingerprints are
        # recomputed on load, and the file holds tokens only
        index = cls(spec, k, w, cap, int(params.get("all_kgrams_below", ALL_KGRAMS_BELOW)))
        tokens = np.frombuffer(data, dtype="<u8", offset=off).astype(np.uint64)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        index.add_new([int(x) for x in works],
                      [tokens[bounds[i]:bounds[i + 1]] for i in range(n)])
        return index
