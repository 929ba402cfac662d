"""Further reference images of a work (a character's other poses, a model sheet): added,
listed, indexed under the work, reported as its matches, withdrawn and reactivated with it,
and imported from a manifest."""

from __future__ import annotations

import json

from PIL import ImageOps

from tests.conftest import png_bytes, skimage_photo
from tests.screening.cli_helpers import screen


def test_a_reference_image_matches_as_its_work(cli, data_dir, tmp_path):
    camera = skimage_photo("camera")
    ref = tmp_path / "camera.png"
    camera.save(ref)
    query = tmp_path / "camera_copy.jpg"
    ImageOps.mirror(camera).resize((300, 300)).save(query, quality=70)
    _, before = screen(cli, data_dir, query)
    assert before[0]["decision"] == "clear"

    r = cli("--data-dir", data_dir, "works", "add-image", "W-astronaut", ref)
    assert r.code == 0, r.err
    added = json.loads(r.out)
    assert added["outcome"] == "created" and added["external_id"] == "W-astronaut#2"
    assert added["owner"] == "Acme Studios" and added["category"] == "photo"
    again = json.loads(cli("--data-dir", data_dir, "works", "add-image", "W-astronaut",
                           ref).out)
    assert again["outcome"] == "unchanged" and again["external_id"] == "W-astronaut#2"

    _, after = screen(cli, data_dir, query)
    (top, *_) = after[0]["matches"]
    assert after[0]["decision"] == "block"
    assert top["external_id"] == "W-astronaut" and top["reference"] == "W-astronaut#2"
    # one match a work, whichever of its images matched
    assert [m["external_id"] for m in after[0]["matches"]].count("W-astronaut") == 1

    listed = [json.loads(x) for x in cli("--data-dir", data_dir, "works", "list",
                                         "--json").out.splitlines()]
    assert len(listed) == 4 and all("#" not in w["external_id"] for w in listed)
    shown = json.loads(cli("--data-dir", data_dir, "works", "show", "W-astronaut").out)
    assert [x["external_id"] for x in shown["references"]] == ["W-astronaut#2"]
    history = [json.loads(x) for x in cli("--data-dir", data_dir, "works", "history",
                                          "W-astronaut").out.splitlines()]
    assert history[-1]["action"] == "reference" and "W-astronaut#2" in history[-1]["detail"]

    # withdrawn with its work, and back with it
    assert cli("--data-dir", data_dir, "works", "withdraw", "W-astronaut").code == 0
    _, gone = screen(cli, data_dir, query)
    assert gone[0]["decision"] == "clear"
    shown = json.loads(cli("--data-dir", data_dir, "works", "show", "W-astronaut").out)
    assert shown["references"][0]["status"] == "withdrawn"
    r = cli("--data-dir", data_dir, "works", "add-image", "W-astronaut", ref)
    assert r.code == 4 and "is withdrawn" in r.err
    work = tmp_path / "astronaut.png"
    skimage_photo("astronaut").save(work)
    r = cli("--data-dir", data_dir, "works", "add", work, "--external-id", "W-astronaut",
            "--owner", "Acme Studios", "--category", "photo")
    assert r.code == 0 and json.loads(r.out)["outcome"] == "reactivated", r.err
    _, back = screen(cli, data_dir, query)
    assert back[0]["matches"][0]["reference"] == "W-astronaut#2"


def test_references_from_a_manifest_and_their_bad_input(cli, data_dir, tmp_path, photos):
    camera, text = tmp_path / "camera.png", tmp_path / "note.txt"
    skimage_photo("camera").save(camera)
    text.write_text("not an image at all, just some words in a file")
    (tmp_path / "refs.csv").write_text(
        "path,external_id,title,owner,category,reference_of\n"
        "camera.png,,,,,W-coffee\n"
        "camera.png,,,,,W-nobody\n"
        "note.txt,,,,,W-coffee\n"
        "camera.png,X-1,,,,W-coffee\n")
    r = cli("--data-dir", data_dir, "works", "import", tmp_path / "refs.csv")
    assert r.code == 2
    assert "row 2: W-coffee: note: reference image W-coffee#2" in r.err
    assert "row 3: W-nobody: no work with external_id 'W-nobody'" in r.err
    assert "row 4: W-coffee: only image works take reference images" in r.err
    assert "row 5: W-coffee: a reference row takes its work's id and metadata" in r.err
    shown = json.loads(cli("--data-dir", data_dir, "works", "show", "W-coffee").out)
    assert [x["external_id"] for x in shown["references"]] == ["W-coffee#2"]
    # a reference of a reference, or of a text work, is refused with the reason
    r = cli("--data-dir", data_dir, "works", "add-image", "W-coffee#2", camera)
    assert r.code == 2 and "is itself a reference image" in r.err
    blank = tmp_path / "blank.png"
    blank.write_bytes(png_bytes(photos["coffee"].point(lambda _: 255)))
    r = cli("--data-dir", data_dir, "works", "add-image", "W-coffee", blank)
    assert r.code == 2 and "blank" in r.err
