"""The CLI contract for images, end to end on real photos, real models and a real data dir:
import, screening with every profile, evidence, and inputs it cannot screen."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import png_bytes
from tests.screening.cli_helpers import screen


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
    for rotated in ("chelsea_rot9.png", "chelsea_rot-18.png"):
        assert by_name[rotated]["decision"] in ("review", "block"), by_name[rotated]
        assert by_name[rotated]["matches"][0]["external_id"] == "W-chelsea"


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


def test_unknown_profile_and_withdraw(cli, data_dir, queries):
    r = cli("--data-dir", data_dir, "screen", "image", queries, "--profile", "turbo")
    assert r.code == 2 and "unknown profile" in r.err
    r = cli("--data-dir", data_dir, "works", "withdraw", "W-nope")
    assert r.code == 3 and "no work" in r.err


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
    from screening.image.signals import Signals as _Signals
    from screening.image.signals import derive_signals as _derive

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

    grey = np.asarray(photos["astronaut"].convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(tmp_path / "astronaut16.png")
    with Image.open(tmp_path / "astronaut16.png") as saved:
        assert saved.mode.startswith("I;16")
    r, results = screen(cli, data_dir, tmp_path / "astronaut16.png")
    assert r.code == 0, r.err
    assert results[0]["decision"] == "block"
    assert results[0]["matches"][0]["external_id"] == "W-astronaut"


def test_blank_images_are_clear_and_unregistrable(cli, data_dir, tmp_path):

    Image.new("RGB", (400, 300), (255, 255, 255)).save(tmp_path / "white.png")
    r, results = screen(cli, data_dir, tmp_path / "white.png")
    assert r.code == 0 and results[0]["decision"] == "clear" and results[0]["matches"] == []
    r = cli("--data-dir", data_dir, "works", "add", tmp_path / "white.png", "--external-id", "B")
    assert r.code == 2 and "blank" in r.err


def test_screen_writes_evidence_sheets_for_matches_only(cli, data_dir, queries, tmp_path):

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
