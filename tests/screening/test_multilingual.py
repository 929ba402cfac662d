"""The multilingual sentence model (issue 26; the default): with the paraphrase layer on for
Chinese outputs (TEXT_CJK_PARAPHRASE) a Chinese rendering of a registered English chapter
(Genesis 1 in the Chinese Union Version, 1919, public domain) is found as a paraphrase of it,
an unrelated Chinese text is clear, and the results name the model, its own calibrator and
its own window index; an English output is calibrated by the model's English calibrator. As
shipped, the layer finds no work on its own in Chinese outputs."""

from __future__ import annotations

import pytest

from screening.errors import InvalidInputError
from screening.registry.repository import WorkMeta
from screening.service import Workspace
from screening.settings import Settings
from tests.screening.text_fixtures import kjv

GENESIS_1_1_8_CUV = (
    "起初，神创造天地。地是空虚混沌，渊面黑暗；神的灵运行在水面上。神说：“要有光”，就有了光。"
    "神看光是好的，就把光暗分开了。神称光为“昼”，称暗为“夜”。有晚上，有早晨，这是头一日。"
    "神说：“诸水之间要有空气，将水分为上下。”神就造出空气，将空气以下的水、空气以上的水分开了。"
    "事就这样成了。神称空气为“天”。有晚上，有早晨，是第二日。")
UNRELATED = ("列表的排序方法会就地排序，只使用小于比较。如果任何比较失败，整个排序操作都会失败，"
             "列表可能处于部分修改的状态。这个方法为了节省空间而原地修改序列，并不返回排好序的序列。")
WRAP = "我最近在读一本古书，其中有一段是这样写的：", "读完以后我想了很久。"


@pytest.fixture(scope="module")
def ws(tmp_path_factory, model_cache):
    settings = Settings(data_dir=tmp_path_factory.mktemp("use") / "data",
                        text_model="use-multilingual", text_cjk_paraphrase=True)
    w = Workspace(settings, create=True, progress=False)
    for wid, book, chapter in (("KJV-GEN-1", 1, 1), ("KJV-PSA-23", 19, 23),
                               ("KJV-EXO-20", 2, 20)):
        w.register_text(WorkMeta(wid, "text", wid, "Crown", "literary"), kjv(book, chapter),
                        sync=False)
    w.texts.sync()
    yield w
    w.close()


def test_a_chinese_translation_of_an_english_work_is_found(ws):
    r = next(iter(ws.screen_texts([("q", WRAP[0] + GENESIS_1_1_8_CUV + WRAP[1])]))).to_dict()
    assert r["decision"] in ("review", "block"), r
    top = r["matches"][0]
    assert top["external_id"] == "KJV-GEN-1"
    assert any(s["kind"] == "paraphrase" for s in top["spans"])
    v = r["versions"]
    assert v["calibration"].startswith("text-use-multilingual@")
    assert any(f.startswith("text-use-multilingual-v3@") for f in v["features"])


def test_an_english_rendering_is_calibrated_by_the_english_calibrator(ws):
    """Outputs that are not mostly CJK are scored by the calibrator fitted without the
    Chinese renderings; the same work's Chinese rendering above keeps the other one."""
    web = " ".join(kjv(2, 20, "web").split()[:160])
    r = next(iter(ws.screen_texts([("q", f"Here is something I wrote.\n\n{web}")]))).to_dict()
    assert r["versions"]["calibration"].startswith("text-use-multilingual-en@")
    assert r["decision"] in ("review", "block"), r
    assert r["matches"][0]["external_id"] == "KJV-EXO-20"
    off = next(iter(ws.screen_texts([("q", web)], paraphrase=False))).to_dict()
    assert off["versions"]["calibration"].startswith("text-use-multilingual-en@")
    assert off["versions"]["profile"] == "literal"


def test_a_sample_of_english_and_chinese_outputs_is_one_configuration(ws):
    """Each output names the calibrator that scored it, both name the same set, and an
    underwriting profile of the two is built, not refused as a mix of versions."""
    from screening.underwriting.plan import load_plan
    from screening.underwriting.profile import build_profile

    web = " ".join(kjv(2, 20, "web").split()[:160])
    en, zh = (r.to_dict() for r in ws.screen_texts(
        [("en", web), ("zh", WRAP[0] + GENESIS_1_1_8_CUV + WRAP[1])]))
    assert en["versions"]["calibration"] != zh["versions"]["calibration"]
    assert en["versions"]["calibration_set"] == zh["versions"]["calibration_set"] == sorted(
        [en["versions"]["calibration"], zh["versions"]["calibration"]])
    profile = build_profile([en, zh], load_plan())
    assert len(profile.versions) == 1


def test_unrelated_chinese_is_clear(ws):
    r = next(iter(ws.screen_texts([("q", WRAP[0] + UNRELATED + WRAP[1])]))).to_dict()
    assert r["decision"] == "clear", r


def test_a_bert_dir_with_the_multilingual_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="text_model_dir"):
        Settings(data_dir=tmp_path, text_model="use-multilingual", text_model_dir=tmp_path)


def test_a_bert_dir_alone_selects_minilm(tmp_path):
    """USE is the default model; naming a BERT-style model folder is asking for MiniLM's
    path, so it is taken without TEXT_MODEL."""
    assert Settings(data_dir=tmp_path).text_model == "use-multilingual"
    assert Settings(data_dir=tmp_path, text_model_dir=tmp_path).text_model == "minilm"


def test_the_window_factory_is_checked_for_the_model_chosen(tmp_path):
    """PQ256 fits USE's 512-d windows and not MiniLM's 384-d ones, also when a BERT-style
    folder alone selects MiniLM."""
    assert Settings(data_dir=tmp_path, text_window_factory="PQ256x4fs").text_model == \
        "use-multilingual"
    for chosen in ({"text_model": "minilm"}, {"text_model_dir": tmp_path}):
        with pytest.raises(ValueError, match="384-d vectors"):
            Settings(data_dir=tmp_path, text_window_factory="PQ256x4fs", **chosen)


def test_chinese_outputs_get_no_paraphrase_finding_by_default(ws, tmp_path):
    """As shipped (TEXT_CJK_PARAPHRASE off) a Chinese translation is not a paraphrase
    finding, a Chinese copy is still found with its chain of windows weighing in, English
    paraphrase still is found, and the outputs carry one configuration's versions."""
    from screening.underwriting.plan import load_plan
    from screening.underwriting.profile import build_profile

    off = Workspace(Settings(data_dir=tmp_path / "data"), create=True, progress=False)
    try:
        assert off.settings.text_model == "use-multilingual"
        assert not off.settings.text_cjk_paraphrase
        # Psalm 104 in the WEB is reworded enough to be a paraphrase finding
        web = " ".join(kjv(19, 104, "web").split()[:160])
        saying = "只许州官放火，不许百姓点灯"  # 12 characters: under the whole-work rule's 15
        for wid, text in (("KJV-GEN-1", kjv(1, 1)), ("KJV-PSA-104", kjv(19, 104)),
                          ("ZH-DOCS", UNRELATED), ("SAYING", saying)):
            off.register_text(WorkMeta(wid, "text", wid, "Crown", "literary"), text)
        en, zh, copied = (r.to_dict() for r in off.screen_texts(
            [("en", web), ("zh", WRAP[0] + GENESIS_1_1_8_CUV + WRAP[1]),
             ("copied", WRAP[0] + UNRELATED + WRAP[1])]))
        assert en["decision"] in ("review", "block")
        assert en["matches"][0]["external_id"] == "KJV-PSA-104"
        assert any(s["kind"] == "paraphrase" for s in en["matches"][0]["spans"])
        assert zh["decision"] == "clear"
        assert all(s["kind"] != "paraphrase" for m in zh["matches"] for s in m["spans"])
        assert copied["decision"] == "block"
        assert copied["matches"][0]["external_id"] == "ZH-DOCS"
        assert copied["matches"][0]["signals"]["para_windows"] > 0
        for r in (en, zh, copied):
            assert r["versions"]["profile"] == "paraphrase"
            assert r["versions"]["cjk_paraphrase"] is False
        assert len(build_profile([en, zh, copied], load_plan()).versions) == 1
        # a registered saying the output merely contains has no copied passage: no chain
        # lifts it (idiom explanations around it, from the short-works benchmark, where
        # chains counted for it scored it 0.999)
        said = ("畀给与。原指那种好搬弄是非的人，要把他扔出去喂豺狼虎豹。形容人民群众对坏人的愤恨。"
                "①看不见听不到的状态。指至道难见莫测。②迷糊，不知所以。如下：" + saying
                + "明严明；法度规矩，制度。大力严明制度、法规。")
        signals = off.texts.screener().candidate_signals(said)
        saying_id = off.registry.get("SAYING").id
        assert saying_id in signals and signals[saying_id]["para_windows"] == 0
        assert next(iter(off.screen_texts([("said", said)]))).decision == "clear"
        # a sample screened with the layer on for Chinese is another configuration
        on = next(iter(ws.screen_texts([("zh", WRAP[0] + GENESIS_1_1_8_CUV + WRAP[1])])))
        assert on.to_dict()["versions"]["cjk_paraphrase"] is True
        with pytest.raises(InvalidInputError, match="mixes screening versions"):
            build_profile([en, on.to_dict()], load_plan())
    finally:
        off.close()
