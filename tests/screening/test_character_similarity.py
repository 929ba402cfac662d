"""The same character drawn anew (issue 25), on real game art: Dink Smallwood sprites
(freedink-data, zlib licence; tests/fixtures/characters/README.md). Four characters of one game
are registered from one pose each; another pose of one of them must be decided `review` as a
`derivative` of it, and characters of the same game nobody registered must be `clear`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from screening.settings import Settings
from tests.screening.cli_helpers import screen

SPRITES = Path(__file__).parents[1] / "fixtures" / "characters"
REGISTERED = {"dink": "dink-walk", "pig": "pig-walk-3", "maiden-red": "maiden-red-walk-3",
              "oldman": "oldman-walk-3"}


def render(name: str, canvas: int) -> Image.Image:
    """A sprite as a generator outputs a character: scaled to 80% of a square canvas, on white."""
    sprite = Image.open(SPRITES / f"{name}.png").convert("RGBA")
    scale = canvas * 0.8 / max(sprite.size)
    sprite = sprite.resize((round(sprite.width * scale), round(sprite.height * scale)),
                           Image.Resampling.LANCZOS)
    out = Image.new("RGBA", (canvas, canvas), (255, 255, 255, 255))
    out.alpha_composite(sprite, ((canvas - sprite.width) // 2, (canvas - sprite.height) // 2))
    return out.convert("RGB")


def register(cli, tmp: Path, category: str) -> Path:
    rows = ["path,external_id,title,owner,category,jurisdiction,registration_no"]
    for who, sprite in REGISTERED.items():
        render(sprite, 256).save(tmp / f"{who}.png")
        rows.append(f"{who}.png,C-{who},{who},Dink Rights Ltd,{category},CN,R-{who}")
    (tmp / "manifest.csv").write_text("\n".join(rows) + "\n")
    data = tmp / "data"
    r = cli("--data-dir", data, "works", "import", tmp / "manifest.csv")
    assert r.code == 0, r.err
    return data


@pytest.fixture(scope="module")
def queries(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("character-queries")
    out = {}
    for name in ("pig-walk-9", "merchant-walk-9", "girl-walk-9"):
        render(name, 512).save(out.setdefault(name, root / f"{name}.png"))
    return out


def test_a_new_pose_is_a_derivative_and_other_characters_in_the_style_are_clear(
        cli, tmp_path, queries):
    data = register(cli, tmp_path, "character")
    r, results = screen(cli, data, *queries.values())
    assert r.code == 0, r.err
    by_name = {Path(x["input"]).stem: x for x in results}

    pose = by_name["pig-walk-9"]
    assert pose["decision"] == "review"
    top = pose["matches"][0]
    assert top["external_id"] == "C-pig"
    assert top["similarity_kind"] == "derivative" and top["decision"] == "review"
    review = Settings.model_fields["derivative_review_threshold"].default
    assert top["derivative_score"] >= review > top["score"]  # not a copy: a new drawing
    assert {"char_trunk", "char_colour"} <= set(top["signals"])

    for other in ("merchant-walk-9", "girl-walk-9"):
        assert by_name[other]["decision"] == "clear", by_name[other]
        assert all(m["similarity_kind"] == "copy" or m["decision"] == "clear"
                   for m in by_name[other]["matches"])

    # the registry's maintained indexes include the character features, with their version
    status = json.loads(cli("--data-dir", data, "index", "status").out)
    stored = {k: v for k, v in status["indexes"].items() if k.startswith("character_")}
    assert sorted(stored) == ["character_colour", "character_trunk"]
    assert all(v["feature"] for v in stored.values())  # the extractor's name and version
    assert all(v["works"] == 4 and v["count"] >= 4 for v in stored.values())  # trunk: + mirror


def test_photos_keep_copy_detection_only(cli, tmp_path, queries):
    data = register(cli, tmp_path, "photo")
    r, results = screen(cli, data, queries["pig-walk-9"])
    assert r.code == 0, r.err
    (result,) = results
    assert result["decision"] == "clear"
    assert all(m["similarity_kind"] == "copy" for m in result["matches"])


def test_the_derivative_threshold_is_a_setting(cli, tmp_path, queries, monkeypatch):
    data = register(cli, tmp_path, "character")
    monkeypatch.setenv("IPSCREEN_DERIVATIVE_REVIEW_THRESHOLD", "0.9999999")
    _, (strict,) = screen(cli, data, queries["pig-walk-9"])
    assert strict["decision"] == "clear"
    monkeypatch.setenv("IPSCREEN_DERIVATIVE_REVIEW_THRESHOLD", "0.5")
    monkeypatch.setenv("IPSCREEN_DERIVATIVE_BLOCK_THRESHOLD", "0.6")
    _, (loose,) = screen(cli, data, queries["pig-walk-9"])
    assert loose["decision"] == "block"
    assert loose["matches"][0]["similarity_kind"] == "derivative"
    monkeypatch.setenv("IPSCREEN_DERIVATIVE_BLOCK_THRESHOLD", "0.4")
    r = cli("--data-dir", data, "screen", "image", queries["pig-walk-9"], "--json")
    assert r.code != 0 and "derivative" in r.err and "Traceback" not in r.err


def test_a_work_with_reference_images_is_scored_by_their_centroid(cli, tmp_path, queries):
    """The character signals of a work with several images compare the output with the mean
    of its images' features (image and mirror apart), not with its closest image alone; a
    work of one image keeps its index score."""
    from PIL import ImageOps

    from models.character import CharacterExtractor

    data = register(cli, tmp_path, "character")
    ex = CharacterExtractor()
    query = Image.open(queries["pig-walk-9"]).convert("RGB")
    (q_trunk,), (q_colour,) = ex.extract([query])
    work = render("pig-walk-3", 256)
    ref = ImageOps.mirror(render("pig-walk-3", 320))  # another image of the same pig
    ref.save(tmp_path / "pig-ref.png")

    def stored(im: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        trunk, colour = ex.extract([im, ImageOps.mirror(im)])
        return trunk, colour[0]

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v)

    def pig(results: list[dict]) -> dict:
        (match,) = [m for m in results[0]["matches"] if m["external_id"] == "C-pig"]
        return match

    (t_work, c_work), (t_ref, c_ref) = stored(work), stored(ref)
    _, before = screen(cli, data, queries["pig-walk-9"])
    alone = pig(before)["signals"]
    assert alone["char_trunk"] == pytest.approx(float((t_work @ q_trunk).max()), abs=2e-3)
    assert alone["char_colour"] == pytest.approx(float(c_work @ q_colour), abs=2e-3)

    r = cli("--data-dir", data, "works", "add-image", "C-pig", tmp_path / "pig-ref.png")
    assert r.code == 0, r.err
    _, after = screen(cli, data, queries["pig-walk-9"])
    both = pig(after)["signals"]  # one match for the work, whichever image led
    trunk = max(float(unit(t_work[v] + t_ref[v]) @ q_trunk) for v in (0, 1))
    assert both["char_trunk"] == pytest.approx(trunk, abs=2e-3)
    assert both["char_colour"] == pytest.approx(float(unit(c_work + c_ref) @ q_colour),
                                                abs=2e-3)
    assert abs(both["char_trunk"] - alone["char_trunk"]) > 5e-3  # the reference counted


def test_a_works_character_signals_stay_with_it_whichever_image_leads_by_copy():
    """fold_references leaves the character signals on one image of a work; when another
    of its images is the work's match by its copy probability, the match still carries
    the work's derivative score."""
    from screening.image.character import with_derivative_of
    from screening.image.results import ImageMatch

    copy = ImageMatch(None, 0.95, [0, 0, 1, 1], {"sscd": 0.9})  # type: ignore[arg-type]
    lead = ImageMatch(None, 0.1, [0, 0, 1, 1],  # type: ignore[arg-type]
                      {"sscd": 0.3, "char_trunk": 0.8, "char_trunk_margin": 0.2}, None, 0.9)
    kept = with_derivative_of(copy, lead)
    assert kept is copy and kept.derivative_score == 0.9
    assert kept.signals == {"sscd": 0.9, "char_trunk": 0.8, "char_trunk_margin": 0.2}
    weaker = ImageMatch(None, 0.2, [0, 0, 1, 1], {}, None, 0.3)  # type: ignore[arg-type]
    assert with_derivative_of(kept, weaker).derivative_score == 0.9
