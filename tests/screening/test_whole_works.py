"""A short work reproduced whole or nearly whole (issue 26): Li Bai's 静夜思 (20 characters)
and four lines of Blake (public domain) decide block when reproduced whole and review with a
few characters or words changed, whatever their copy probability; a stock phrase registered
as a work never flags the text that says it; the decision never falls as more of a work is
reproduced."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screening.decision import DECISIONS
from screening.registry.repository import WorkMeta
from screening.service import Workspace
from screening.settings import Settings
from screening.underwriting.plan import load_plan
from screening.underwriting.risk import output_risk
from tests.screening.text_fixtures import filler

POEM = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
BLAKE = ("To see a World in a Grain of Sand, And a Heaven in a Wild Flower, Hold Infinity "
         "in the palm of your hand, And Eternity in an hour.")
SAYING = "冰冻三尺，非一日之寒"  # a saying (10 characters): below the 15 of a short work
PROVERB = "If you want to go fast, go alone. If you want to go far, go together."
CANDLE = "Must I hold a candle to my shames?"  # eight words (The Merchant of Venice)
RIVER = "The strength of the river is in the stones."  # nine words, six of them common
ZH_FILLER = "我很喜欢读古诗，下面这首是我最近背下来的，写得很美：", "这首诗写的是思乡之情。"


def wrap_zh(text: str) -> str:
    return ZH_FILLER[0] + text + ZH_FILLER[1]


def wrap_en(text: str) -> str:
    return f"{filler(40)} As the lines go: {text} {filler(30, start=500)}"


@pytest.fixture(scope="module")
def ws(tmp_path_factory, model_cache):
    w = Workspace(Settings(data_dir=tmp_path_factory.mktemp("whole") / "data"), create=True,
                  progress=False)
    for wid, text, category in (("POEM", POEM, "poem"), ("BLAKE", BLAKE, "poem"),
                                ("SAYING", SAYING, "text"), ("PROVERB", PROVERB, "text"),
                                ("CANDLE", CANDLE, "poem"), ("RIVER", RIVER, "text")):
        w.register_text(WorkMeta(wid, "text", wid, "Estate", category), text, sync=False)
    w.texts.sync()
    yield w
    w.close()


def screen(ws, text: str) -> dict:
    return next(iter(ws.screen_texts([("q", text)]))).to_dict()


def test_a_whole_short_poem_blocks_and_two_characters_changed_go_to_review(ws):
    whole = screen(ws, wrap_zh(POEM))
    (m, *_) = whole["matches"]
    assert whole["decision"] == "block" and m["external_id"] == "POEM"
    assert m["reproduction"] == "whole" and m["work_reproduced_fraction"] == 1.0
    assert m["decision"] == "block" and whole["risk_score"] == 1.0
    span = m["spans"][0]
    assert wrap_zh(POEM)[span["output_start"]:span["output_end"]].startswith("床前明月光")

    changed = screen(ws, wrap_zh(POEM.replace("霜", "雪").replace("故乡", "家乡")))
    (m, *_) = changed["matches"]
    assert changed["decision"] in ("review", "block") and m["external_id"] == "POEM"
    assert m["reproduction"] == "near_whole" and m["work_reproduced_fraction"] == 0.9

    half = screen(ws, wrap_zh(POEM[:12]))  # a couplet quoted: not the rule's business
    assert all(x.get("reproduction") is None for x in half["matches"])


def test_a_whole_english_verse_blocks_whatever_its_copy_probability(ws):
    r = screen(ws, wrap_en(BLAKE))
    (m, *_) = r["matches"]
    assert m["external_id"] == "BLAKE" and m["reproduction"] == "whole"
    assert r["decision"] == "block"
    one = screen(ws, wrap_en(BLAKE.replace("Wild Flower", "Wild Rose")))
    assert one["decision"] in ("review", "block")
    assert one["matches"][0]["reproduction"] == "near_whole"


def test_three_words_changed_of_eight_go_to_review_and_common_words_alone_do_not(ws):
    # hold, candle and shames changed: no 3-gram of the work is left, one 2-gram is
    r = screen(ws, wrap_en("Must I lend a lantern to my sorrows?"))
    (m, *_) = r["matches"]
    assert m["external_id"] == "CANDLE" and m["reproduction"] == "near_whole", r
    assert r["decision"] == "review"
    # the 2-gram left ("to my") said three times before the copy: each place is looked at
    r = screen(ws, wrap_en("I wrote to my mother, to my father and to my sister. Must I lend "
                           "a lantern to my sorrows?"))
    assert r["matches"][0]["external_id"] == "CANDLE" and r["decision"] == "review", r
    # "the ... of the ... is ... in the": six of the nine words in order, five edits away
    r = screen(ws, wrap_en("The length of the tuple is the number of expressions in the list."))
    assert r["decision"] == "clear", r


def test_a_stock_phrase_never_flags_and_a_listed_one_neither(ws, tmp_path):
    r = screen(ws, wrap_zh(f"老师常说{SAYING}，学习要靠平时积累。"))
    assert r["decision"] == "clear", r
    # a proverb of eight distinct words is a work unless the operator lists it
    said = wrap_en(PROVERB)
    assert screen(ws, said)["decision"] == "block"
    stock = tmp_path / "stock.txt"
    stock.write_text("# sayings\n\nIf you want to go fast, go alone\nif you want to go far, go "
                     "together\n", encoding="utf-8")
    listed = Workspace(ws.settings.model_copy(update={"text_stock_phrases_file": stock}),
                       progress=False)
    try:
        r = next(iter(listed.screen_texts([("q", said)]))).to_dict()
        assert all(m.get("reproduction") is None for m in r["matches"])
        assert r["versions"]["whole_work"]["stock_phrases"] == 2
    finally:
        listed.close()


def test_a_bad_stock_phrases_file_is_a_clear_error(cli, ws, tmp_path, monkeypatch):
    bad = tmp_path / "stock.txt"
    bad.write_bytes(b"caf\xe9 au lait\n")
    q = tmp_path / "q.txt"
    q.write_text(wrap_en(BLAKE), encoding="utf-8")
    for path in (bad, tmp_path / "missing.txt"):
        monkeypatch.setenv("IPSCREEN_TEXT_STOCK_PHRASES_FILE", str(path))
        r = cli("--data-dir", ws.settings.data_dir, "screen", "text", q, "--json")
        assert r.code != 0 and "stock phrases file" in r.err, r.err
        assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 19), max_size=8))
def test_more_of_the_work_reproduced_never_lowers_the_decision(ws, changed):
    """Changing characters of the poem (positions drawn) never raises the decision, and
    restoring them never lowers it: severity is monotone in the share reproduced."""
    chars = [i for i, c in enumerate(POEM) if "\u4e00" <= c <= "\u9fff"]
    text = list(POEM)
    levels = []
    for i in dict.fromkeys(changed):
        text[chars[i]] = "水"
        levels.append(DECISIONS.index(screen(ws, wrap_zh("".join(text)))["decision"]))
    assert levels == sorted(levels, reverse=True)


def test_underwriting_counts_a_whole_short_work_as_high_risk(ws):
    result = screen(ws, wrap_en(BLAKE))
    risk = output_risk(result, load_plan(None))
    assert risk.level == "high" and risk.evidence["reproduction"] == "whole"


def test_the_cli_reports_the_rule(cli, ws, tmp_path):
    q = tmp_path / "answer.txt"
    q.write_text(wrap_zh(POEM), encoding="utf-8")
    r = cli("--data-dir", ws.settings.data_dir, "screen", "text", q, "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out.splitlines()[0])
    assert out["decision"] == "block" and out["matches"][0]["reproduction"] == "whole"
    assert out["versions"]["whole_work"] == {"min_words": 8, "min_cjk": 15, "near_whole": 0.8,
                                             "near_whole_edits": 3, "stock_phrases": 0}
