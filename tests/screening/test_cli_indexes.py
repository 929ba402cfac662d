"""The CLI's indexes: rebuild, recovery, catch-up of every maintained profile, FAISS
factories that cannot drop vectors or must be trained, and background sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from tests.conftest import png_bytes
from tests.screening.cli_helpers import screen


def test_rebuild_matches_incremental(cli, data_dir, queries):
    _, before = screen(cli, data_dir, queries)
    r = cli("--data-dir", data_dir, "index", "rebuild")
    assert r.code == 0 and json.loads(r.out)["phash"] == 4 * 8
    _, after = screen(cli, data_dir, queries)
    assert before == after


def test_damaged_index_recovers_and_catches_up(cli, data_dir, queries):
    idx = data_dir / "indexes"
    side = json.loads((idx / "phash.json").read_text())
    current = idx / side["file"]
    current.write_bytes(current.read_bytes()[:10])
    r, results = screen(cli, data_dir, queries / "astronaut_mirror.jpg", profile="hash")
    assert r.code == 0 and results[0]["matches"][0]["external_id"] == "W-astronaut"


def test_background_set_adds_normalised_signals(cli, data_dir, queries, tmp_path, photos,
                                                work_files):
    bg = tmp_path / "bg"
    bg.mkdir()
    photos["colorwheel"].save(bg / "a.png")
    photos["immunohistochemistry"].save(bg / "b.png")
    Image.new("RGB", (300, 300), (255, 255, 255)).save(bg / "blank.png")
    r = cli("--data-dir", data_dir, "background", "add", bg, "--profile", "accurate")
    assert r.code == 0 and "added 2 background images" in r.err
    assert "blank.png: skipped: blank" in r.err
    # the same image again would weigh twice in the mean of the nearest background images,
    # and a registered work's own file would push its copies' scores down: both skipped;
    # an unreadable one is reported and the rest still added
    photos["hubble_deep_field"].save(bg / "c.png")
    (bg / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    r = cli("--data-dir", data_dir, "background", "add", bg / "a.png", bg / "broken.png",
            work_files / "coffee.png", bg / "c.png")
    assert r.code == 1, r.err
    assert "a.png: skipped: already in the background set" in r.err
    assert "coffee.png: skipped: is the content of registered work W-coffee" in r.err
    assert "broken.png: not a recognised image format" in r.err
    assert "added 1 background images for profile accurate (2 skipped, 1 failed)" in r.err
    status = json.loads(cli("--data-dir", data_dir, "index", "status").out)
    assert status["indexes"]["background_sscd_224"]["count"] == 3
    _, results = screen(cli, data_dir, queries / "astronaut_mirror.jpg")
    top = results[0]["matches"][0]
    assert top["external_id"] == "W-astronaut" and "sscd_region_norm" in top["signals"]
    # a set added by mistake can be removed: scores are no longer normalised
    r = cli("--data-dir", data_dir, "background", "clear", "--profile", "accurate")
    assert r.code == 0 and "removed the background set of profile accurate (3 images)" in r.err
    status = json.loads(cli("--data-dir", data_dir, "index", "status").out)
    assert "background_sscd_224" not in status["indexes"]
    assert not list((data_dir / "indexes").glob("background_sscd_224*"))
    _, results = screen(cli, data_dir, queries / "astronaut_mirror.jpg")
    top = results[0]["matches"][0]
    assert top["external_id"] == "W-astronaut" and "sscd_region_norm" not in top["signals"]
    r = cli("--data-dir", data_dir, "background", "clear")
    assert r.code == 0 and "profile accurate had no background set" in r.err
    r = cli("--data-dir", data_dir, "background", "add", bg / "a.png")  # a fresh set again
    assert r.code == 0 and "added 1 background images" in r.err


@pytest.mark.parametrize("factory", ["HNSW32", "IVF2,Flat", "PQ64x4fs,RFlat",
                                     "IVF2,PQ64x4fs,RFlat"])
def test_indexes_that_cannot_drop_vectors_follow_replace_and_withdraw(
        cli, work_files, tmp_path, monkeypatch, photos, factory):
    """HNSW, IVF and refined PQ (alone or in inverted lists) keep tombstones for withdrawn
    works and are rebuilt (from cached features) when a work's content is replaced; before,
    a replace wedged every later catch-up on an HNSW index, and a withdraw aborted the
    process on an IVF one."""
    monkeypatch.setenv("IPSCREEN_DENSE_FACTORY", factory)
    monkeypatch.setenv("IPSCREEN_MAINTAINED_PROFILES", '["fast", "hash"]')
    d = tmp_path / "data"
    assert cli("--data-dir", d, "works", "import", work_files / "manifest.csv").code == 0
    assert cli("--data-dir", d, "index", "rebuild").code == 0  # IVF trains on the bulk set
    photos["rocket"].save(tmp_path / "rocket.png")
    r = cli("--data-dir", d, "works", "add", tmp_path / "rocket.png", "--external-id",
            "W-coffee", "--title", "Coffee", "--replace")
    assert r.code == 0, r.err
    assert cli("--data-dir", d, "works", "withdraw", "W-astronaut").code == 0
    ImageOps.mirror(photos["coffee"]).save(tmp_path / "old_coffee.png")
    photos["astronaut"].save(tmp_path / "astronaut.png")
    r, results = screen(cli, d, tmp_path / "rocket.png", tmp_path / "old_coffee.png",
                        tmp_path / "astronaut.png", profile="fast")
    assert r.code == 0, r.err
    by_name = {Path(x["input"]).name: x for x in results}
    assert by_name["rocket.png"]["matches"][0]["external_id"] == "W-coffee"
    assert by_name["rocket.png"]["decision"] == "block"
    for gone in ("old_coffee.png", "astronaut.png"):  # replaced content, withdrawn work
        assert by_name[gone]["decision"] == "clear", by_name[gone]


def test_a_registry_too_small_to_train_the_factory_is_searched_exactly(
        cli, work_files, tmp_path, monkeypatch, photos):
    """IVF1024 needs 1,024 descriptors to learn its lists; a handful of works used to make
    every import fail ("cannot train") and leave the works unsearchable. They are searched
    exactly instead, and the index says what it stands in for."""
    monkeypatch.setenv("IPSCREEN_DENSE_FACTORY", "IVF1024,Flat")
    monkeypatch.setenv("IPSCREEN_MAINTAINED_PROFILES", '["fast"]')
    d = tmp_path / "data"
    r = cli("--data-dir", d, "works", "import", work_files / "manifest.csv")
    assert r.code == 0, r.err
    assert "too few to train 'IVF1024,Flat'" in r.err and "searched exactly" in r.err
    assert "Traceback" not in r.err
    status = json.loads(cli("--data-dir", d, "index", "status").out)
    params = status["indexes"]["sscd_distilled_224"]["params"]
    assert params["factory"] == "Flat" and params["stand_in_for"] == "IVF1024,Flat"
    ImageOps.mirror(photos["coffee"]).save(tmp_path / "coffee.png")
    r, results = screen(cli, d, tmp_path / "coffee.png", profile="fast")
    assert r.code == 0, r.err
    assert results[0]["matches"][0]["external_id"] == "W-coffee"
    search = results[0]["versions"]["search"]["sscd_distilled_224"]
    assert search.startswith("Flat (exact, standing in for IVF1024,Flat")
    assert cli("--data-dir", d, "index", "rebuild").code == 0  # still too few: same again
    assert cli("--data-dir", d, "works", "withdraw", "W-coffee").code == 0
    r, results = screen(cli, d, tmp_path / "coffee.png", profile="fast")
    assert results[0]["decision"] == "clear"


def test_a_stand_in_gives_way_to_the_factory_once_the_registry_can_train_it(
        cli, tmp_path, monkeypatch, photos):
    """PQ's 4-bit quantisers need 16 descriptors: one work (9 with its flips) is searched
    exactly; the second doubles the registry's vectors and the keeper trains the PQ index."""
    monkeypatch.setenv("IPSCREEN_DENSE_FACTORY", "PQ64x4fs,RFlat")
    monkeypatch.setenv("IPSCREEN_MAINTAINED_PROFILES", '["fast"]')
    d = tmp_path / "data"
    photos["coffee"].save(tmp_path / "coffee.png")
    photos["rocket"].save(tmp_path / "rocket.png")
    r = cli("--data-dir", d, "works", "add", tmp_path / "coffee.png", "--external-id", "W-1")
    assert r.code == 0 and "too few to train 'PQ64x4fs,RFlat'" in r.err, r.err
    first = json.loads(cli("--data-dir", d, "index", "status").out)
    assert first["indexes"]["sscd_distilled_224"]["params"]["stand_in_for"] == "PQ64x4fs,RFlat"
    r = cli("--data-dir", d, "works", "add", tmp_path / "rocket.png", "--external-id", "W-2")
    assert r.code == 0, r.err
    params = json.loads(cli("--data-dir", d, "index", "status").out
                        )["indexes"]["sscd_distilled_224"]["params"]
    assert params["factory"] == "PQ64x4fs,RFlat" and "stand_in_for" not in params
    ImageOps.mirror(photos["rocket"]).save(tmp_path / "rocket_mirror.png")
    r, results = screen(cli, d, tmp_path / "rocket_mirror.png", tmp_path / "coffee.png",
                        profile="fast")
    assert r.code == 0, r.err
    assert [x["matches"][0]["external_id"] for x in results] == ["W-2", "W-1"]
    assert results[0]["versions"]["search"]["sscd_distilled_224"] == \
        "PQ64x4fs,RFlat k_factor=32"


def test_auto_searches_a_small_registry_exactly_and_a_large_one_with_refined_pq(
        cli, tmp_path, monkeypatch, photos):
    """The default factory, "auto": exact search until the index holds AUTO_EXACT_VECTORS
    vectors (16 here: one work is 9 with its flips), then refined PQ, with no training
    warnings along the way, and the same answers; a rebuild makes the same choice."""
    monkeypatch.delenv("IPSCREEN_DENSE_FACTORY", raising=False)
    monkeypatch.setenv("IPSCREEN_AUTO_EXACT_VECTORS", "16")
    monkeypatch.setenv("IPSCREEN_MAINTAINED_PROFILES", '["fast"]')
    d = tmp_path / "data"
    for name in ("coffee", "rocket"):
        photos[name].save(tmp_path / f"{name}.png")
    ImageOps.mirror(photos["rocket"]).save(tmp_path / "rocket_mirror.png")
    r = cli("--data-dir", d, "works", "add", tmp_path / "coffee.png", "--external-id", "W-1")
    assert r.code == 0 and "too few" not in r.err, r.err

    def params() -> dict:
        status = json.loads(cli("--data-dir", d, "index", "status").out)
        return status["indexes"]["sscd_distilled_224"]["params"]

    assert params()["factory"] == "Flat" and params()["stand_in_until"] == 16
    r, results = screen(cli, d, tmp_path / "coffee.png", profile="fast")
    assert results[0]["matches"][0]["external_id"] == "W-1"
    assert results[0]["versions"]["search"]["sscd_distilled_224"] == \
        "Flat (exact, standing in for PQ64x4fs,RFlat until the index holds 16 vectors)"
    r = cli("--data-dir", d, "works", "add", tmp_path / "rocket.png", "--external-id", "W-2")
    assert r.code == 0 and "too few" not in r.err, r.err
    assert params()["factory"] == "PQ64x4fs,RFlat" and "stand_in_for" not in params()
    r, results = screen(cli, d, tmp_path / "rocket_mirror.png", tmp_path / "coffee.png",
                        profile="fast")
    assert r.code == 0, r.err
    assert [x["matches"][0]["external_id"] for x in results] == ["W-2", "W-1"]
    assert cli("--data-dir", d, "index", "rebuild").code == 0
    assert params()["factory"] == "PQ64x4fs,RFlat"
    monkeypatch.setenv("IPSCREEN_AUTO_EXACT_VECTORS", "1000")  # a wider bound: exact again
    assert cli("--data-dir", d, "index", "rebuild").code == 0
    assert params()["factory"] == "Flat" and params()["stand_in_for"] == "PQ64x4fs,RFlat"


def test_catch_up_covers_every_maintained_profile(cli, work_files, tmp_path, queries, photos):
    """An import killed after its rows committed but before its indexes caught up: running
    it again said 'unchanged' and built nothing, and the next screen caught up the screened
    profile only, so the fast profile's index stayed missing."""
    from screening.registry.repository import WorkMeta
    from screening.service import Workspace
    from screening.settings import Settings

    d = tmp_path / "data"
    ws = Workspace(Settings(data_dir=d), create=True, progress=False)
    for name in ("astronaut", "coffee", "chelsea", "rocket"):  # committed, never indexed
        ws.register_image(WorkMeta(f"W-{name}", "image", name.title(), "Acme Studios",
                                   "photo", "CN", f"REG-{name}"),
                          (work_files / f"{name}.png").read_bytes(), sync=False)
    ws.close()
    status = json.loads(cli("--data-dir", d, "index", "status").out)
    assert status["maintained_profiles"] == ["accurate", "fast", "hash"]
    assert status["maintained"] and {m["state"] for m in status["maintained"].values()} == \
        {"missing"}
    r = cli("--data-dir", d, "works", "import", work_files / "manifest.csv")
    assert r.code == 0 and "4 unchanged" in r.err, r.err
    status = json.loads(cli("--data-dir", d, "index", "status").out)
    assert {m["state"] for m in status["maintained"].values()} == {"current"}
    assert set(status["maintained"]) <= set(status["indexes"])
    assert all(status["indexes"][n]["works"] == 4 for n in status["maintained"])

    # a registration no run indexed: screening with one profile catches up all of them
    ws = Workspace(Settings(data_dir=d), progress=False)
    ws.register_image(WorkMeta("W-hubble", "image", "Hubble", "NASA", "photo", "US"),
                      png_bytes(photos["hubble_deep_field"]), sync=False)
    ws.close()
    status = json.loads(cli("--data-dir", d, "index", "status").out)
    assert {m["state"] for m in status["maintained"].values()} == {"behind"}
    r, _ = screen(cli, d, queries / "unrelated.png", profile="hash")
    assert r.code == 0, r.err
    status = json.loads(cli("--data-dir", d, "index", "status").out)
    assert {m["state"] for m in status["maintained"].values()} == {"current"}
    assert all(status["indexes"][n]["works"] == 5 for n in status["maintained"])
