"""Index changes stored as deltas of a base: replayed in order on load, a damaged delta ends
the replay at the last good one, a full save folds them, and dense bases are shared."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexes.binary import BinaryHashIndex
from indexes.dense import DenseIndex
from indexes.errors import IndexCorruptError
from indexes.layered import LayeredDenseIndex
from indexes.store import IndexStore, atomic_write, decode_changes, encode_changes
from models.base import FeatureSpec

BIN = FeatureSpec("testhash", "1", "binary", 64)
DENSE = FeatureSpec("testvec", "1", "dense", 32)


def data(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "binary":
        return rng.integers(0, 256, (n, 8), dtype=np.uint8)
    v = rng.normal(size=(n, 32)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make(kind: str):  # type: ignore[no-untyped-def]
    return BinaryHashIndex(BIN) if kind == "binary" else DenseIndex(DENSE, kind)


def saved_flat(tmp_path, rng: np.random.Generator, per_work: int = 2):  # type: ignore[no-untyped-def]
    """A store holding a Flat index of works 0-9 as its base (revision 1), and that index."""
    store = IndexStore(tmp_path)
    index = make("Flat")
    for w in range(10):
        index.add(w, data("Flat", rng, per_work))
    store.save("idx", index, revision=1)
    return store, index


def answers(index, q: np.ndarray) -> list:  # type: ignore[no-untyped-def]
    return [[(h.work_id, round(h.score, 5)) for h in hs] for hs in index.search(q, 6)]


def changed(kind: str, index, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """Apply a change set to `index` and return it: a new work, a replaced one, a removed
    one."""
    changes = [(330, data(kind, rng, 3)), (2, data(kind, rng, 1)), (5, None)]
    for work, vectors in changes:
        if vectors is None:
            index.remove([work])
        else:
            index.add(work, vectors)
    return changes


@pytest.mark.parametrize("kind", ["binary", "Flat"])
def test_appended_changes_are_replayed_on_load(kind: str, tmp_path):
    rng = np.random.default_rng(0)
    spec = BIN if kind == "binary" else DENSE
    store = IndexStore(tmp_path)
    index = make(kind)
    for w in range(300):
        index.add(w, data(kind, rng, 8))
    store.save("idx", index, revision=3)
    base_bytes = (tmp_path / "idx.1.faiss").stat().st_size
    assert store.append("idx", index, changed(kind, index, rng), revision=5) == 1
    index.remove([7])
    assert store.append("idx", index, [(7, None)], revision=6) == 2
    loaded = store.load("idx", spec)
    assert loaded is not None and loaded.revision == 6 and not loaded.recovered
    assert loaded.index.work_ids() == index.work_ids() == (set(range(300)) - {5, 7}) | {330}
    assert loaded.index.ntotal == index.ntotal
    q = data(kind, rng, 5)
    assert answers(loaded.index, q) == answers(index, q)
    side = json.loads((tmp_path / "idx.json").read_text())
    assert side["revision"] == 3 and side["head"]["revision"] == 6
    assert side["head"]["works"] == len(index.work_ids()) and len(side["deltas"]) == 2
    # a registration costs the size of its change, not of the index
    assert sum(d["bytes"] for d in side["deltas"]) < base_bytes
    assert store.delta_totals("idx") == (2, sum(d["bytes"] for d in side["deltas"]),
                                         base_bytes)


def test_a_damaged_delta_ends_the_replay_at_the_last_good_one(tmp_path, capsys):
    rng = np.random.default_rng(1)
    store, index = saved_flat(tmp_path, rng, per_work=1)
    index.add(11, data("Flat", rng, 1))
    store.append("idx", index, [(11, index.work_vectors(11, (0,)))], revision=2)
    index.add(12, data("Flat", rng, 1))
    store.append("idx", index, [(12, index.work_vectors(12, (0,)))], revision=3)
    second = tmp_path / "idx.1.2.delta"
    second.write_bytes(second.read_bytes()[:20])
    loaded = store.load("idx", DENSE)
    assert loaded is not None and loaded.recovered and loaded.revision == 2
    assert loaded.index.work_ids() == set(range(10)) | {11}
    assert "idx.1.2.delta is damaged" in capsys.readouterr().err
    # a delta written but never named by the sidecar (a crash before the commit) is ignored
    atomic_write(tmp_path / "idx.1.3.delta", encode_changes([(0, None)]))
    second.unlink()
    assert store.load("idx", DENSE).index.work_ids() == set(range(10)) | {11}  # type: ignore[union-attr]


def test_a_full_save_folds_the_deltas_into_a_new_base(tmp_path):
    rng = np.random.default_rng(2)
    store, _ = saved_flat(tmp_path, rng)
    loaded = store.load("idx", DENSE)
    assert loaded is not None
    layered = loaded.index
    changes = changed("Flat", layered, rng)
    store.append("idx", layered, changes, revision=2)
    store.save("idx", layered, revision=2)
    assert not list(tmp_path.glob("*.delta"))
    side = json.loads((tmp_path / "idx.json").read_text())
    assert side["generation"] == 2 and side["deltas"] == [] and side["revision"] == 2
    again = store.load("idx", DENSE)
    assert again is not None and again.revision == 2
    assert again.index.work_ids() == layered.work_ids()
    q = data("Flat", rng, 4)
    assert answers(again.index, q) == answers(layered, q)


def test_loads_of_one_dense_base_share_it_and_change_only_their_overlay(tmp_path):
    rng = np.random.default_rng(3)
    store, _ = saved_flat(tmp_path, rng)
    a, b = store.load("idx", DENSE), store.load("idx", DENSE)
    assert a is not None and b is not None
    assert isinstance(a.index, LayeredDenseIndex) and isinstance(b.index, LayeredDenseIndex)
    assert a.index.base is b.index.base
    a.index.remove([3])
    a.index.add(40, data("Flat", rng, 1))
    assert 3 in b.index.work_ids() and 40 not in b.index.work_ids()
    assert a.index.base.work_ids() == set(range(10))
    # a base file written anew is read (and checked) again, never served from memory
    (tmp_path / "idx.1.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError, match="no intact generation"):
        store.load("idx", DENSE)


def test_delta_bytes_are_an_explicit_format():
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    changes = [(4, vectors), (9, None), (2**40, np.ones((1, 8), dtype=np.uint8))]
    back = decode_changes(encode_changes(changes))
    assert [w for w, _ in back] == [4, 9, 2**40]
    assert back[1][1] is None and np.array_equal(back[0][1], vectors)  # type: ignore[arg-type]
    assert back[2][1] is not None and back[2][1].dtype == np.uint8
    for bad in (b"", b"not a delta", encode_changes(changes)[:40]):
        with pytest.raises(ValueError):
            decode_changes(bad)


def test_an_older_base_is_not_kept_once_nothing_uses_it(tmp_path):
    import gc
    import weakref

    rng = np.random.default_rng(5)
    store, _ = saved_flat(tmp_path, rng)
    first = store.load("idx", DENSE)
    assert first is not None
    old_base = weakref.ref(first.index.base)
    first.index.add(50, data("Flat", rng, 1))
    store.save("idx", first.index, revision=2)  # folded into generation 2
    second = store.load("idx", DENSE)
    assert second is not None and second.index.base is not old_base()
    del first
    gc.collect()
    assert old_base() is None  # only the latest base of an index is shared
    assert 50 in second.index.work_ids()
