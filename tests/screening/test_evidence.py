"""Evidence files: image sheets with the matched region outlined where the screener said it
was, text pages with the copied spans marked on both sides, safe for any text."""

from __future__ import annotations

import re

from PIL import Image

from screening.evidence import _marked, edited_ranges, image_sheet, text_page
from screening.image.results import ImageMatch
from screening.registry.repository import WorkRecord
from screening.text.screening import Span, TextMatch


def record(**kw) -> WorkRecord:
    base = dict(id=1, external_id="W-1", kind="image", title="Ultraman", owner="Tsuburaya",
                category="character", jurisdiction="CN", registration_no="R-1",
                content_sha256="ab" * 32, content_bytes=10, status="active", revision=1,
                created_at="", updated_at="")
    return WorkRecord(**{**base, **kw})  # type: ignore[arg-type]


def test_image_sheet_outlines_the_region_in_the_screened_images_own_pixels():
    # the decoder's working copy is half the screened image's size; the region refers to
    # the screened image (1000 x 800), so the outline must land at half those coordinates
    working = Image.new("RGB", (500, 400), (40, 120, 40))
    m = ImageMatch(record(), 0.97, [200, 100, 600, 500], {})
    sheet = image_sheet(working, (1000, 800), m, Image.new("RGB", (300, 300), "blue"),
                        "gen-1.png", "block")
    scale = 480 / 800  # panel height / screened height; the panel starts at 16, 16
    x0, y0, x1 = 16 + 200 * scale, 16 + 100 * scale, 16 + 600 * scale
    red = (220, 0, 0)
    assert sheet.getpixel((int(x0) + 1, int((y0 + 16 + 500 * scale) / 2))) == red  # left edge
    assert sheet.getpixel((int((x0 + x1) / 2), int(y0) + 1)) == red  # top edge
    assert sheet.getpixel((int((x0 + x1) / 2), int(y0) + 40)) == (40, 120, 40)  # inside
    # the work sits to the right of the query panel
    assert sheet.getpixel((16 * 2 + 600 + 10, 100)) == (0, 0, 255)


def test_marked_text_escapes_numbers_and_clips_overlaps():
    text = "<script>alert(1)</script> copied words here & more"
    out = _marked(text, [(26, 44, "verbatim", 1, []), (30, 40, "paraphrase", 2, [])])
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp; more" in out
    assert re.findall(r"<mark class=\"(\w+)\"", out) == ["verbatim"]  # 2 lies inside 1
    marked = re.search(r"<sup>1</sup>(.*?)</mark>", out)
    assert marked and marked.group(1) == "copied words here "


def test_long_texts_are_shown_around_the_spans_only():
    text = "x" * 50_000 + "COPIED PASSAGE" + "y" * 50_000 + "ANOTHER" + "z" * 1_000
    a = 50_000
    b = a + 14 + 50_000
    out = _marked(text, [(a, a + 14, "verbatim", 1, []), (b, b + 7, "near_verbatim", 2, [])])
    assert len(out) < 5_000
    assert "49,700 characters before" in out and "49,400 characters" in out
    assert "700 characters after" in out
    assert "<sup>1</sup>COPIED PASSAGE</mark>" in out and "<sup>2</sup>ANOTHER</mark>" in out


def test_text_page_numbers_spans_alike_in_output_and_work():
    output = "Preface. 混合テキスト In the beginning God created the heaven. Tail."
    work = "In the beginning God created the heaven and the earth."
    phrase = "In the beginning God created the heaven"
    s, n = output.index(phrase), len(phrase)
    span = Span("near_verbatim", s, s + n, 0, n, 0.93)
    m = TextMatch(record(kind="text", external_id="KJV-1"), 0.99, {}, [span], 7, 38, 0.6,
                  0.7)
    page = text_page(output, m, work, "reply <1>.txt", "block")
    assert page.count("<sup>1</sup>In the beginning God created the heaven</mark>") == 2
    assert "混合テキスト" in page and "reply &lt;1&gt;.txt" in page
    assert "7 words, 38 characters" in page and "60.0%" in page and "70.0%" in page


def test_edited_words_are_found_on_both_sides_of_a_near_verbatim_copy():
    work = "And God said, Let there be light: and there was light."
    out = "and God said: let there be LIGHT, and then there was light!"
    ra, rb = edited_ranges(out, work)
    assert [out[a:b] for a, b in ra] == ["then"] and rb == []  # case and punctuation ignored
    ra, rb = edited_ranges("God made the firmament", "God divided the firmament")
    assert ra == [(4, 8)] and rb == [(4, 11)]
    # CJK compares per character
    assert edited_ranges("天地創造の物語", "天地開闢の物語") == ([(2, 4)], [(2, 4)])


def test_text_page_underlines_what_a_near_verbatim_copy_changed():
    work = "In the beginning God created the heaven and the earth."
    output = "Intro. In the beginning God made the heaven and the earth. Outro."
    s = output.index("In the")
    e = output.index(" Outro")
    span = Span("near_verbatim", s, e, 0, len(work), 0.9)
    m = TextMatch(record(kind="text", external_id="KJV-1"), 0.99, {}, [span], 5, 20, 0.7, 1.0)
    page = text_page(output, m, work, "reply.txt", "block")
    assert '<span class="edit">made</span>' in page
    assert '<span class="edit">created</span>' in page
    assert "1 changed place(s) underlined" in page
