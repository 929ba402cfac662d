"""The CLI contract, end to end on real photos, real models and a real data dir."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from tests.conftest import png_bytes


@pytest.fixture(scope="module")
def queries(tmp_path_factory, photos) -> Path:
    q = tmp_path_factory.mktemp("queries")
    ImageOps.mirror(photos["astronaut"]).resize((256, 256)).save(q / "astronaut_mirror.jpg",
                                                                 quality=60)
    scene = photos["hubble_deep_field"].resize((640, 560)).copy()
    scene.paste(photos["coffee"].resize((330, 220)), (280, 300))
    scene.save(q / "coffee_in_scene.png")
    small = photos["hubble_deep_field"].resize((640, 560)).copy()
    small.paste(photos["coffee"].resize((240, 160)), (300, 320))
    small.save(q / "coffee_small_in_scene.png")
    photos["immunohistochemistry"].save(q / "unrelated.png")
    return q


@pytest.fixture
def data_dir(tmp_path, work_files, cli) -> Path:
    d = tmp_path / "data"
    r = cli("--data-dir", d, "works", "import", work_files / "manifest.csv")
    assert r.code == 0, r.err
    return d


def screen(cli, data_dir, *paths, profile=None):
    args = ["--data-dir", data_dir, "screen", "image", *paths, "--json"]
    if profile:
        args += ["--profile", profile]
    r = cli(*args)
    return r, [json.loads(line) for line in r.out.splitlines()]


def test_import_reports_counts_and_is_idempotent(cli, work_files, tmp_path):
    d = tmp_path / "data"
    r = cli("--data-dir", d, "works", "import", work_files / "manifest.csv")
    assert r.code == 0 and "4 created" in r.err and "note" not in r.err
    assert "4/4" in r.err  # the progress bar knows the manifest's size
    r = cli("--data-dir", d, "works", "import", work_files / "manifest.csv")
    assert r.code == 0 and "4 unchanged" in r.err
    listed = cli("--data-dir", d, "works", "list", "--json")
    rows = [json.loads(x) for x in listed.out.splitlines()]
    assert {w["external_id"] for w in rows} == {"W-astronaut", "W-coffee", "W-chelsea",
                                                "W-rocket"}
    assert rows[0]["owner"] == "Acme Studios" and rows[0]["jurisdiction"] == "CN"


def test_screen_finds_copies_and_clears_unrelated(cli, data_dir, queries):
    r, results = screen(cli, data_dir, queries)
    assert r.code == 0, r.err
    by_name = {Path(x["input"]).name: x for x in results}
    mirror = by_name["astronaut_mirror.jpg"]
    assert mirror["decision"] == "block"
    top = mirror["matches"][0]
    assert top["external_id"] == "W-astronaut" and top["owner"] == "Acme Studios"
    assert set(top) >= {"external_id", "title", "owner", "category", "score", "region",
                        "signals"}
    assert 0.0 <= top["score"] <= 1.0 and mirror["risk_score"] == top["score"]
    scene = by_name["coffee_in_scene.png"]
    assert scene["decision"] in ("review", "block")
    assert scene["matches"][0]["external_id"] == "W-coffee"
    x0, y0, x1, y1 = scene["matches"][0]["region"]
    # the reported region overlaps where the work was pasted (280..610, 300..520)
    assert x0 < 610 and x1 > 280 and y0 < 520 and y1 > 300 and (x1 - x0) < 640
    # window refinement framed it closer than any grid window could: a box shaped like
    # the work, covering most of where it was pasted
    signals = scene["matches"][0]["signals"]
    assert signals["sscd_refined"] > signals["sscd_region"] and signals["refine_gain"] > 0
    inter = max(0, min(x1, 610) - max(x0, 280)) * max(0, min(y1, 520) - max(y0, 300))
    assert inter / ((x1 - x0) * (y1 - y0) + 330 * 220 - inter) >= 0.5
    assert by_name["unrelated.png"]["decision"] == "clear"


def test_hash_profile(cli, data_dir, queries):
    r, results = screen(cli, data_dir, queries / "astronaut_mirror.jpg", profile="hash")
    assert r.code == 0 and results[0]["matches"][0]["external_id"] == "W-astronaut"
    assert set(results[0]["matches"][0]["signals"]) == {"phash", "pdq", "hash"}


def test_cascade_profile_looks_twice_only_where_fast_is_unsure(cli, data_dir, queries):
    r, results = screen(cli, data_dir, queries, profile="cascade")
    assert r.code == 0, r.err
    by_name = {Path(x["input"]).name: x for x in results}
    # a plain mirrored copy: the fast stage is sure, and answers
    mirror = by_name["astronaut_mirror.jpg"]
    assert mirror["decision"] == "block"
    assert mirror["matches"][0]["external_id"] == "W-astronaut"
    assert mirror["matches"][0]["score"] >= 0.99
    assert "first_stage" not in mirror["matches"][0]["signals"]
    # a smaller paste into a scene: doubtful to the fast stage, so screened again in full
    scene = by_name["coffee_small_in_scene.png"]
    assert scene["decision"] in ("review", "block"), scene
    top = scene["matches"][0]
    assert top["external_id"] == "W-coffee"
    assert 0.05 <= top["signals"]["first_stage"] < 0.99 and "sscd_region" in top["signals"]
    assert top["score"] > top["signals"]["first_stage"]  # accurate is surer of it
    assert {"phash", "pdq"} <= set(top["signals"])  # hashed once, by both stages' signals
    x0, y0, x1, y1 = top["region"]
    assert x0 < 540 and x1 > 300 and y0 < 480 and y1 > 320 and (x1 - x0) < 640
    unrelated = by_name["unrelated.png"]
    assert unrelated["decision"] == "clear"
    versions = unrelated["versions"]
    assert versions["profile"] == "cascade" and versions["first_stage"]["profile"] == "fast"
    assert versions["first_stage"]["gate"] == 0.05 and versions["first_stage"]["sure"] == 0.99
    assert versions["calibration"].startswith("image-accurate")
    assert any(f.startswith("sscd_distilled") for f in versions["features"])


def test_withdraw_removes_work_from_matching(cli, data_dir, queries):
    r = cli("--data-dir", data_dir, "works", "withdraw", "W-astronaut")
    assert r.code == 0 and json.loads(r.out)["status"] == "withdrawn"
    _, results = screen(cli, data_dir, queries / "astronaut_mirror.jpg")
    assert all(m["external_id"] != "W-astronaut" for m in results[0]["matches"])
    assert results[0]["decision"] == "clear"
    status = json.loads(cli("--data-dir", data_dir, "index", "status").out)
    assert all(i["works"] == 3 for i in status["indexes"].values())


def test_bad_inputs_give_error_objects_and_nonzero_exit(cli, data_dir, queries, tmp_path,
                                                        photos):
    (tmp_path / "empty.png").write_bytes(b"")
    data = png_bytes(photos["coffee"])
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 20)
    from tests.models.test_imaging import _huge_png
    (tmp_path / "bomb.png").write_bytes(_huge_png(10_000, 10_000))
    r, results = screen(cli, data_dir, tmp_path / "empty.png", tmp_path / "truncated.png",
                        tmp_path / "corrupt.jpg", tmp_path / "bomb.png",
                        tmp_path / "missing.png", queries / "unrelated.png")
    assert r.code == 1
    errors = {Path(x["input"]).name: x.get("error") for x in results}
    assert "empty file" in errors["empty.png"]
    assert "truncated" in errors["truncated.png"]
    assert errors["corrupt.jpg"]
    assert "decompression bomb" in errors["bomb.png"]
    assert "no such file" in errors["missing.png"]
    assert errors["unrelated.png"] is None  # the good input was still screened
    assert "5 of 6 inputs" in r.err


def test_bad_manifest_rows_are_reported_and_good_rows_import(cli, work_files, tmp_path):
    shutil.copy(work_files / "coffee.png", tmp_path / "coffee.png")
    (tmp_path / "broken.png").write_bytes(b"nope")
    (tmp_path / "m.csv").write_text(
        "path,external_id,title,owner,category\n"
        "coffee.png,W-1,Coffee,Acme,photo\n"
        "missing.png,W-2,Missing,Acme,photo\n"
        "broken.png,W-3,Broken,Acme,photo\n"
        ",W-4,No path,Acme,photo\n"
        "coffee.png,W-1,Dup,Acme,photo\n"
        "coffee.png,W-5,Too,many,fields,here\n"
        "coffee.png,W-6,Coffee again,Acme,photo\n")
    d = tmp_path / "data"
    r = cli("--data-dir", d, "works", "import", tmp_path / "m.csv")
    assert r.code == 2
    assert "row 8: W-6: note: the same content is also registered as W-1;" in r.err
    assert "row 3: W-2:" in r.err and "no such file" in r.err
    assert r.err.count("missing.png") == 1  # the file is named once, not twice
    assert "row 4: W-3:" in r.err and "not a recognised image" in r.err
    assert "row 5: -: empty path" in r.err
    assert "already used on row 2" in r.err
    assert "row 7" in r.err and "more fields" in r.err
    listed = cli("--data-dir", d, "works", "list")
    assert listed.out.count("\n") == 2 and "W-1" in listed.out and "W-6" in listed.out


@pytest.mark.parametrize("content,message", [
    (b"", "no header"),
    (b"path,external_id\nx.png,W\n", "lacks column(s) title, owner, category"),
    ("path,external_id,title,owner,category\nx,W,caf\xe9,o,c\n".encode("latin-1"), "not UTF-8"),
])
def test_malformed_manifest(cli, tmp_path, content, message):
    (tmp_path / "m.csv").write_bytes(content)
    r = cli("--data-dir", tmp_path / "data", "works", "import", tmp_path / "m.csv")
    assert r.code == 2 and message in r.err and "Traceback" not in r.err


def test_conflicting_content_needs_replace(cli, data_dir, work_files, tmp_path):
    def blobs() -> list[Path]:
        return sorted(p for p in (data_dir / "blobs").rglob("*") if p.is_file())

    kept = blobs()
    new = tmp_path / "rocket_flipped.png"
    ImageOps.flip(Image.open(work_files / "rocket.png")).save(new)
    r = cli("--data-dir", data_dir, "works", "add", new, "--external-id", "W-coffee",
            "--title", "Coffee")
    assert r.code == 4 and "--replace" in r.err
    assert blobs() == kept  # a refused upload leaves nothing in the blob store
    r = cli("--data-dir", data_dir, "works", "add", work_files / "rocket.png",
            "--external-id", "W-coffee", "--title", "Coffee", "--replace")
    assert r.code == 0 and json.loads(r.out)["outcome"] == "replaced"


def test_add_refuses_a_corrupt_work_and_keeps_the_registry(cli, data_dir, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    r = cli("--data-dir", data_dir, "works", "add", tmp_path / "bad.png", "--external-id", "X")
    assert r.code == 2 and "bad.png: not a recognised image format" in r.err
    assert "X\t" not in cli("--data-dir", data_dir, "works", "list").out


def test_unknown_data_dir(cli, tmp_path, queries):
    r = cli("--data-dir", tmp_path / "nowhere", "screen", "image", queries / "unrelated.png")
    assert r.code == 5 and "does not exist" in r.err
    (tmp_path / "afile").write_text("x")
    r = cli("--data-dir", tmp_path / "afile", "works", "list")
    assert r.code == 5 and "not a directory" in r.err


def test_a_damaged_or_newer_registry_is_a_clear_error_and_is_left_as_it_was(cli, data_dir,
                                                                             tmp_path):
    import sqlite3

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "registry.sqlite3").write_bytes(b"not a database at all\n")
    r = cli("--data-dir", bad, "works", "list")
    assert r.code == 5 and "file is not a database" in r.err and "Traceback" not in r.err
    assert (bad / "registry.sqlite3").read_bytes() == b"not a database at all\n"
    # a registry written by a newer ipscreen (a schema revision this one does not know)
    db = data_dir / "registry.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    conn.close()
    r = cli("--data-dir", data_dir, "works", "list")
    assert r.code == 5 and "schema revision '9999_future'" in r.err and "newer" in r.err
    assert "Traceback" not in r.err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("9999_future",)]
        assert conn.execute("SELECT count(*) FROM works").fetchone()[0] == 4
    conn.close()


def test_unknown_profile_and_withdraw(cli, data_dir, queries):
    r = cli("--data-dir", data_dir, "screen", "image", queries, "--profile", "turbo")
    assert r.code == 2 and "unknown profile" in r.err
    r = cli("--data-dir", data_dir, "works", "withdraw", "W-nope")
    assert r.code == 3 and "no work" in r.err


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


def test_real_process_entry_point(data_dir, queries):
    """The installed console script, as users run it."""
    exe = Path(sys.executable).parent / "ipscreen"
    out = subprocess.run([str(exe), "--data-dir", str(data_dir), "screen", "image",
                          str(queries / "astronaut_mirror.jpg"), "--json"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["matches"][0]["external_id"] == "W-astronaut"


def test_screen_empty_folder(cli, data_dir, tmp_path):
    (tmp_path / "nothing").mkdir()
    r = cli("--data-dir", data_dir, "screen", "image", tmp_path / "nothing")
    assert r.code == 1 and "no image files" in r.err


def test_huge_dimensions_work_registration_refused(cli, data_dir, tmp_path):
    from tests.models.test_imaging import _huge_png

    (tmp_path / "bomb.png").write_bytes(_huge_png(10_000, 10_000))
    r = cli("--data-dir", data_dir, "works", "add", tmp_path / "bomb.png", "--external-id", "B")
    assert r.code == 2 and "decompression bomb" in r.err




def test_a_work_registered_twice_keeps_its_score(cli, data_dir, queries, work_files):
    """sscd_margin sets a work against the query's next-best work; the same image under a
    second id (two registrations of one logo) was that next-best, so a copy of either had a
    margin of 0 and a pasted-into-scene copy lost most of its score."""
    _, before = screen(cli, data_dir, queries / "coffee_in_scene.png")
    alone = before[0]["matches"][0]
    assert alone["external_id"] == "W-coffee" and alone["signals"]["sscd_margin"] > 0.1
    r = cli("--data-dir", data_dir, "works", "add", work_files / "coffee.png",
            "--external-id", "W-coffee-again", "--title", "Coffee again")
    assert r.code == 0, r.err
    assert "note: the same content is also registered as W-coffee;" in r.err
    _, after = screen(cli, data_dir, queries / "coffee_in_scene.png")
    twins = after[0]["matches"][:2]
    assert {m["external_id"] for m in twins} == {"W-coffee", "W-coffee-again"}
    for m in twins:
        assert m["signals"]["sscd_margin"] == pytest.approx(alone["signals"]["sscd_margin"],
                                                            abs=1e-4)
        assert m["score"] == pytest.approx(alone["score"], abs=1e-4)


def test_derived_margin_sets_a_work_against_other_content_only():
    from screening.image_screening import _derive, _Signals

    def signals() -> dict:
        return {wid: _Signals({"sscd_whole": sim}, None) for wid, sim in
                ((1, 0.8), (2, 0.8), (3, 0.3))}

    plain = signals()
    _derive(plain)
    assert [round(plain[w].values["sscd_margin"], 6) for w in (1, 2, 3)] == [0.0, 0.0, -0.5]
    grouped = signals()
    asked: list[list[int]] = []

    def groups(ids: list[int]) -> dict[int, int]:
        asked.append(ids)
        return {1: 1, 2: 1, 3: 3}

    _derive(grouped, groups)
    assert [round(grouped[w].values["sscd_margin"], 6) for w in (1, 2, 3)] == [0.5, 0.5, -0.5]
    assert asked == [[1, 2, 3]]  # best first


def test_a_16_bit_greyscale_copy_matches_its_work(cli, data_dir, tmp_path, photos):
    """16-bit greyscale PNGs used to decode as a white field (PIL clips them at 255), so a
    copy of a registered work saved that way screened clear."""
    import numpy as np
    from PIL import Image

    grey = np.asarray(photos["astronaut"].convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(tmp_path / "astronaut16.png")
    with Image.open(tmp_path / "astronaut16.png") as saved:
        assert saved.mode.startswith("I;16")
    r, results = screen(cli, data_dir, tmp_path / "astronaut16.png")
    assert r.code == 0, r.err
    assert results[0]["decision"] == "block"
    assert results[0]["matches"][0]["external_id"] == "W-astronaut"


def test_blank_images_are_clear_and_unregistrable(cli, data_dir, tmp_path):
    from PIL import Image

    Image.new("RGB", (400, 300), (255, 255, 255)).save(tmp_path / "white.png")
    r, results = screen(cli, data_dir, tmp_path / "white.png")
    assert r.code == 0 and results[0]["decision"] == "clear" and results[0]["matches"] == []
    r = cli("--data-dir", data_dir, "works", "add", tmp_path / "white.png", "--external-id", "B")
    assert r.code == 2 and "blank" in r.err


def test_data_dir_from_environment(cli, work_files, tmp_path, monkeypatch):
    monkeypatch.setenv("IPSCREEN_DATA_DIR", str(tmp_path / "envdata"))
    r = cli("works", "add", work_files / "coffee.png", "--external-id", "ENV-1")
    assert r.code == 0 and (tmp_path / "envdata" / "registry.sqlite3").exists()
    assert "ENV-1" in cli("works", "list").out


@pytest.mark.parametrize(("name", "value", "says"), [
    ("IPSCREEN_BLOCK_THRESHOLD", "7", "block_threshold"),
    ("IPSCREEN_TEXT_PROBE_TOKENS", "4", "text_probe_tokens must be 0"),
    ("IPSCREEN_TEXT_PROBE_TOKENS", "999", "text_probe_tokens"),
    ("IPSCREEN_DENSE_FACTORY", "garbage", "could not parse index string garbage"),
    ("IPSCREEN_TEXT_WINDOW_FACTORY", "IVF10,PQ7", "multiple of the number of subquantizers"),
])
def test_absurd_settings_are_clear_errors(cli, tmp_path, monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    r = cli("--data-dir", tmp_path, "works", "list")
    assert r.code == 1 and "invalid setting" in r.err and "Traceback" not in r.err
    assert says in r.err


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


@pytest.mark.parametrize(("args", "message"), [
    (["works", "add"], "Missing argument 'FILE'"),
    (["works", "list", "--status", "bogus"], "status must be active or withdrawn"),
    (["works", "update", "W-astronaut"], "give at least one of --title"),
    (["works", "frobnicate"], "No such command"),
])
def test_usage_errors_are_messages_not_tracebacks(cli, tmp_path, args, message):
    # typer vendors its own click: its usage errors used to escape main() as tracebacks
    r = cli("--data-dir", tmp_path / "data", *args)
    assert r.code == 2 and message.lower() in r.err.lower(), r.err


def test_metadata_correction_update_show_and_reimport(cli, data_dir, work_files, tmp_path):
    before = json.loads(cli("--data-dir", data_dir, "index", "status").out)
    r = cli("--data-dir", data_dir, "works", "update", "W-rocket", "--owner", "Rocket Lab",
            "--registration-no", "REG-2")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["outcome"] == "updated" and out["changed"] == ["owner", "registration_no"]
    shown = json.loads(cli("--data-dir", data_dir, "works", "show", "W-rocket").out)
    assert (shown["owner"], shown["registration_no"], shown["title"]) == \
        ("Rocket Lab", "REG-2", "Rocket")
    listed = cli("--data-dir", data_dir, "works", "list", "--owner", "Rocket Lab").out
    assert listed.count("\n") == 1 and listed.startswith("W-rocket\t")
    # no index work for a metadata change: the registry revision and indexes are as before
    assert json.loads(cli("--data-dir", data_dir, "index", "status").out) == before
    r = cli("--data-dir", data_dir, "works", "update", "W-404", "--owner", "x")
    assert r.code == 3 and "no work with external_id 'W-404'" in r.err
    # re-importing the original manifest: a no-op that says the metadata differs ...
    r = cli("--data-dir", data_dir, "works", "import", work_files / "manifest.csv")
    assert r.code == 0 and "4 unchanged" in r.err
    assert "W-rocket: note: same content, registered with another owner, registration_no" \
        in r.err and "W-coffee: note" not in r.err
    # ... and with --replace, the manifest's description wins again
    r = cli("--data-dir", data_dir, "works", "import", "--replace",
            work_files / "manifest.csv")
    assert r.code == 0 and "3 unchanged, 1 updated" in r.err, r.err
    shown = json.loads(cli("--data-dir", data_dir, "works", "show", "W-rocket").out)
    assert shown["owner"] == "Acme Studios"
    history = [json.loads(x) for x in
               cli("--data-dir", data_dir, "works", "history", "W-rocket").out.splitlines()]
    assert [h["action"] for h in history] == ["created", "updated", "updated"]
    assert "owner: 'Rocket Lab' -> 'Acme Studios'" in history[-1]["detail"]
    assert json.loads(cli("--data-dir", data_dir, "index", "status").out) == before


def test_screen_writes_evidence_sheets_for_matches_only(cli, data_dir, queries, tmp_path):
    from PIL import Image

    ev = tmp_path / "evidence"
    r, results = screen(cli, data_dir, queries, "--evidence", ev)
    assert r.code == 0, r.err
    by_name = {Path(x["input"]).name: x for x in results}
    assert by_name["unrelated.png"]["evidence"] == []
    sheets = by_name["coffee_in_scene.png"]["evidence"]
    assert sheets and all(Path(p).parent == ev for p in sheets)
    assert "W-coffee" in Path(sheets[0]).name
    with Image.open(sheets[0]) as im:
        assert im.format == "PNG" and im.height > 480
    assert sorted(p.name for p in ev.iterdir()) == sorted(
        Path(p).name for x in results for p in x["evidence"])  # nothing else, no temp files
    # a folder that cannot be written is refused before screening starts
    (tmp_path / "a-file").write_text("x")
    r = cli("--data-dir", data_dir, "screen", "image", queries, "--evidence",
            tmp_path / "a-file" / "sub")
    assert r.code == 2 and "cannot write evidence to" in r.err and r.out == ""


def test_withdraw_many_reports_unknown_ids_and_withdraws_the_rest(cli, data_dir, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("W-coffee\n\nW-chelsea\n")
    r = cli("--data-dir", data_dir, "works", "withdraw", "W-astronaut", "W-nope",
            "--from-file", ids, "--reason", "licence ended")
    assert r.code == 3 and "W-nope: no work with external_id 'W-nope'" in r.err
    assert "1 of 4 works could not be withdrawn" in r.err
    assert [json.loads(x)["external_id"] for x in r.out.splitlines()] == \
        ["W-astronaut", "W-coffee", "W-chelsea"]
    status = json.loads(cli("--data-dir", data_dir, "index", "status").out)
    assert all(i["works"] == 1 for i in status["indexes"].values())
    history = cli("--data-dir", data_dir, "works", "history", "W-coffee").out
    assert json.loads(history.splitlines()[-1])["detail"] == "licence ended"
    r = cli("--data-dir", data_dir, "works", "withdraw")
    assert r.code == 2 and "name at least one work" in r.err


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


def test_keys_create_list_revoke_and_their_bad_input(cli, tmp_path):
    d = tmp_path / "data"
    r = cli("--data-dir", d, "keys", "create", "--name", "ci", "--tenant", "acme",
            "--scope", "screen", "--scope", "register", "--rate", "60")
    assert r.code == 0, r.err
    made = json.loads(r.out)
    assert made["key"].startswith(f"ips_{made['prefix']}_") and made["scopes"] == [
        "register", "screen"] and made["rate_per_minute"] == 60
    listed = cli("--data-dir", d, "keys", "list").out
    assert made["prefix"] in listed and made["key"] not in listed  # only its hash is kept
    assert made["expires_at"] is None and made["expired"] is False
    trial = json.loads(cli("--data-dir", d, "keys", "create", "--name", "trial", "--tenant",
                           "acme", "--scope", "screen", "--expires-in-days", "30").out)
    from datetime import datetime, timedelta
    left = datetime.fromisoformat(trial["expires_at"]) - datetime.fromisoformat(
        trial["created_at"])
    assert abs(left - timedelta(days=30)) < timedelta(seconds=5)
    assert cli("--data-dir", d, "keys", "revoke", trial["prefix"]).code == 0
    revoked = json.loads(cli("--data-dir", d, "keys", "revoke", made["prefix"]).out)
    assert revoked["revoked"] is True
    bad = [(["--name", "ci", "--tenant", "acme", "--scope", "root"], "scopes must be"),
           (["--name", " ", "--tenant", "acme", "--scope", "screen"], "a key needs a name"),
           (["--name", "ci", "--tenant", "", "--scope", "screen"], "a key needs a tenant"),
           (["--name", "ci", "--tenant", "acme", "--scope", "screen", "--rate", "0"],
            "between 1 and 1,000,000"),
           (["--name", "ci", "--tenant", "a" * 201, "--scope", "screen"],
            "tenant is longer than 200 characters"),
           (["--name", "ci", "--tenant", "acme", "--scope", "screen", "--expires-in-days",
             "0"], "expires_in_days must be above 0 and at most 3,650"),
           (["--name", "ci", "--tenant", "acme", "--scope", "screen", "--expires-in-days",
             "nan"], "got nan"),
           # a byte that is not UTF-8 in an argument reaches Python as a lone surrogate
           (["--name", "ci\udcff", "--tenant", "acme", "--scope", "screen"],
            "name contains an unpaired UTF-16 surrogate (U+DCFF) at character 2")]
    for args, says in bad:
        r = cli("--data-dir", d, "keys", "create", *args)
        assert r.code == 2 and says in r.err and "Traceback" not in r.err, (args, r.err)
    assert len(cli("--data-dir", d, "keys", "list").out.splitlines()) == 2
    r = cli("--data-dir", d, "keys", "revoke", "nope")
    assert r.code == 3 and "no API key with prefix 'nope'" in r.err


@pytest.mark.parametrize("args", [["works", "show", "W-\udcff"],
                                  ["works", "history", "W-\udcff"],
                                  ["works", "withdraw", "W-\udcff"],
                                  ["works", "withdraw", "W-coffee", "--reason", "\udce9t\udce9"],
                                  ["works", "list", "--owner", "Acme \udcff"],
                                  ["keys", "revoke", "\udcff"]])
def test_arguments_that_are_not_utf8_are_refused_with_their_name(cli, data_dir, args):
    """Before, each of these died in the database driver with a UnicodeEncodeError
    traceback (exit 1); the works are untouched."""
    r = cli("--data-dir", data_dir, *args)
    assert r.code == 2 and "unpaired UTF-16 surrogate" in r.err and "not UTF-8" in r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    listed = [json.loads(x) for x in cli("--data-dir", data_dir, "works", "list", "--json")
              .out.splitlines()]
    assert {w["status"] for w in listed} == {"active"}


def test_audit_lists_the_services_decisions_with_filters(cli, tmp_path):
    from screening.access import AccessStore
    from screening.registry.database import open_engine

    d = tmp_path / "data"
    made = json.loads(cli("--data-dir", d, "keys", "create", "--name", "ci", "--tenant",
                          "acme", "--scope", "screen").out)
    store = AccessStore(open_engine(f"sqlite:///{d / 'registry.sqlite3'}"))
    info = store.verify(made["key"])
    named = [{"matches": [], "licensed": []},
             {"matches": [{"external_id": "W-1", "score": 0.97},
                          {"external_id": 'W-"1"', "score": 0.2}], "licensed": []},
             {"matches": [{"external_id": "W-10", "score": 0.6}], "licensed": ["W-1"]}]
    for i, decision in enumerate(["clear", "block", "review"]):
        store.audit(f"req-{i}", info, "screen/text", f"{i:064x}", decision, i / 3,
                    {"index_revision": i}, matches=named[i])
    r = cli("--data-dir", d, "audit")
    rows = [json.loads(x) for x in r.out.splitlines()]
    assert r.code == 0 and [e["decision"] for e in rows] == ["clear", "block", "review"]
    assert rows[1]["versions"] == {"index_revision": 1} and rows[1]["key"] == made["prefix"]
    one = cli("--data-dir", d, "audit", "--input-sha256", f"{1:064X}").out.splitlines()
    assert [json.loads(x)["request_id"] for x in one] == ["req-1"]
    latest = [json.loads(x)["request_id"] for x in
              cli("--data-dir", d, "audit", "--limit", "2").out.splitlines()]
    assert latest == ["req-1", "req-2"]
    assert cli("--data-dir", d, "audit", "--tenant", "globex").out == ""
    # every decision about one work: matched (req-1) or set aside by a licence (req-2),
    # and not works whose ids merely contain it (W-10, W-"1")
    about = [json.loads(x) for x in
             cli("--data-dir", d, "audit", "--external-id", "W-1").out.splitlines()]
    assert [e["request_id"] for e in about] == ["req-1", "req-2"]
    assert about[0]["matches"][0] == {"external_id": "W-1", "score": 0.97}
    assert [json.loads(x)["request_id"] for x in cli(
        "--data-dir", d, "audit", "--external-id", 'W-"1"').out.splitlines()] == ["req-1"]
    assert cli("--data-dir", d, "audit", "--external-id", "W-1%").out == ""
    r = cli("--data-dir", d, "audit", "--limit", "0")
    assert r.code == 2 and "limit must be between 1 and 1,000,000" in r.err


def test_a_folder_reports_names_it_cannot_screen_instead_of_skipping_them(cli, data_dir,
                                                                          queries, tmp_path):
    """A dangling link or a pipe named *.png in an output folder used to be skipped without
    a word, so an output could go unscreened; each is now an error result (exit 1), and a
    link back up the tree does not loop."""
    import os

    out = tmp_path / "outputs"
    (out / "sub").mkdir(parents=True)
    shutil.copy(queries / "astronaut_mirror.jpg", out / "a.jpg")
    (out / "gone.png").symlink_to(tmp_path / "deleted.png")
    os.mkfifo(out / "sub" / "pipe.png")
    (out / "sub" / "up").symlink_to(out)
    (out / "notes.md").write_text("not an image, not screened")
    r, rows = screen(cli, data_dir, out, profile="hash")
    assert r.code == 1 and [row["input"] for row in rows] == [
        str(out / "a.jpg"), str(out / "gone.png"), str(out / "sub" / "pipe.png")]
    assert rows[0]["decision"] == "block"
    assert "no such file" in rows[1]["error"] and "not a regular file" in rows[2]["error"]
    assert "2 of 3 inputs could not be screened" in r.err


def test_a_refused_write_is_one_line_and_keeps_the_registry(data_dir, work_files, tmp_path):
    """A full disk (here a real file-size limit, RLIMIT_FSIZE, so the kernel refuses the
    write with EFBIG as it would with ENOSPC) gave an OSError or SQLite "database or disk
    is full" traceback; now it is one line, exit 5, and nothing half-written is left."""
    import shlex

    big = tmp_path / "big.png"
    ImageOps.mirror(ImageOps.grayscale(Image.open(work_files / "astronaut.png"))
                    ).resize((900, 900)).save(big)
    db = data_dir / "registry.sqlite3"
    limit = db.stat().st_size + 96 * 1024
    assert big.stat().st_size > limit

    before = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*") if p.is_file()
                    and "-wal" not in p.name and "-shm" not in p.name)
    # the shell sets the limit (a preexec_fn is unsafe: this test process has threads); a
    # SIGXFSZ ignored before exec stays ignored, so the write fails with EFBIG
    cmd = (f"trap '' XFSZ; ulimit -f {limit // 1024}; exec {shlex.quote(sys.executable)} "
           f"-m screening.cli --data-dir {shlex.quote(str(data_dir))} works add "
           f"{shlex.quote(str(big))} --external-id W-big")
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300)
    assert r.returncode == 5, r.stderr
    assert r.stderr.startswith("error: storage refused a write: File too large")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    after = sorted(p.relative_to(data_dir) for p in data_dir.rglob("*") if p.is_file()
                   and "-wal" not in p.name and "-shm" not in p.name)
    assert after == before  # no temp file, no orphan blob
    listed = subprocess.run([sys.executable, "-m", "screening.cli", "--data-dir",
                             str(data_dir), "works", "list"], capture_output=True, text=True,
                            timeout=300)
    assert listed.returncode == 0 and "W-big" not in listed.stdout
    assert len(listed.stdout.splitlines()) == 4


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
