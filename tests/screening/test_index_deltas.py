"""Registrations and withdrawals are stored as deltas of each index's base, folded into a new
base when the deltas pile up, and every later reader sees the same registry."""

from __future__ import annotations

import json

import pytest

import screening.index_keeper as keeper
from screening.registry.repository import WorkMeta
from screening.service import Workspace
from screening.settings import Settings
from tests.conftest import WORK_NAMES, png_bytes


def sidecars(ws: Workspace) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in ws.store.directory.glob("*.json")}


def test_changes_append_deltas_until_the_layers_are_folded(tmp_path, photos, monkeypatch):
    monkeypatch.setattr(keeper, "COMPACT_DELTAS", 3)
    settings = Settings(data_dir=tmp_path / "data", maintained_profiles=["fast", "hash"])  # type: ignore[arg-type]
    ws = Workspace(settings, create=True, progress=False)
    for name in WORK_NAMES[:3]:
        ws.register_image(WorkMeta(f"W-{name}", "image", name, "Acme", "photo", "CN"),
                          png_bytes(photos[name]))
    side = sidecars(ws)
    assert side and all(s["generation"] == 1 for s in side.values())
    # the first registration made each base; the next two are deltas of it
    assert all(len(s["deltas"]) == 2 and s["head"]["works"] == 3 for s in side.values())
    ws.withdraw("W-coffee")
    assert all(len(s["deltas"]) == 3 for s in sidecars(ws).values())
    ws.register_image(WorkMeta("W-rocket", "image", "rocket", "Acme", "photo", "CN"),
                      png_bytes(photos["rocket"]))
    side = sidecars(ws)  # COMPACT_DELTAS reached: folded into a new base
    assert all(s["generation"] == 2 and s["deltas"] == [] for s in side.values())
    assert all(s["count"] == s["head"]["count"] for s in side.values())
    assert not list(ws.store.directory.glob("*.delta"))
    ws.withdraw("W-chelsea")
    ws.close()

    # another reader of the same data dir: bases and deltas replayed, same answers
    other = Workspace(settings, create=False, progress=False)
    try:
        screener = other.image_screener("fast")
        found = {}
        for name in WORK_NAMES:
            found[name] = screener.screen_bytes(name, png_bytes(photos[name]), other.limits)
        assert found["astronaut"].matches[0].work.external_id == "W-astronaut"
        assert found["rocket"].matches[0].work.external_id == "W-rocket"
        for gone in ("coffee", "chelsea"):
            assert all(m.work.external_id != f"W-{gone}" for m in found[gone].matches)
        status = {s["head"]["works"] for s in sidecars(other).values()}
        assert status == {2}
    finally:
        other.close()


@pytest.mark.parametrize("factory", ["HNSW32"])
def test_a_replaced_work_waits_in_the_overlay_instead_of_a_rebuild(tmp_path, photos, factory,
                                                                   capsys, monkeypatch):
    settings = Settings(data_dir=tmp_path / "data", maintained_profiles=["fast"],  # type: ignore[arg-type]
                        dense_factory=factory)
    ws = Workspace(settings, create=True, progress=False)
    try:
        for name in WORK_NAMES:
            ws.register_image(WorkMeta(f"W-{name}", "image", name, "Acme", "photo", "CN"),
                              png_bytes(photos[name]))
        ws.rebuild_indexes()  # every work in the base
        capsys.readouterr()
        ws.register_image(WorkMeta("W-coffee", "image", "coffee", "Acme", "photo", "CN"),
                          png_bytes(photos["hubble_deep_field"]), replace=True)
        assert "rebuilding" not in capsys.readouterr().err
        assert all(len(s["deltas"]) == 1 for s in sidecars(ws).values())
        screener = ws.image_screener("fast")
        now = screener.screen_bytes("h", png_bytes(photos["hubble_deep_field"]), ws.limits)
        assert now.matches[0].work.external_id == "W-coffee" and now.decision == "block"
        old = screener.screen_bytes("c", png_bytes(photos["coffee"]), ws.limits)
        assert all(m.work.external_id != "W-coffee" for m in old.matches)
        # folding the layers puts the replaced work back: HNSW rebuilds from cached features
        monkeypatch.setattr(keeper, "COMPACT_DELTAS", 0)
        ws.withdraw("W-rocket")
        assert "rebuilding" in capsys.readouterr().err
        assert all(s["deltas"] == [] for s in sidecars(ws).values())
        again = ws.image_screener("fast").screen_bytes(
            "h", png_bytes(photos["hubble_deep_field"]), ws.limits)
        assert again.matches[0].work.external_id == "W-coffee"
    finally:
        ws.close()
