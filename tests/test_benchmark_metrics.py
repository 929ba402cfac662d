"""The benchmark's own measures, on hand-made results whose answers are known."""

from __future__ import annotations

import pytest

from benchmarks.text_copy_detection import Query, recall_at_fpr, recall_at_precision


def q(case: str, work: str | None = None) -> Query:
    return Query(name=f"{case}-{work}", case=case, text="", work=work, span=None, words=0)


def r(score: float, work: str = "W") -> dict:
    return {"matches": [{"external_id": work, "score": score}]} if score > 0 else \
        {"matches": []}


def test_recall_at_fpr_allows_one_percent_of_passages_and_ignores_filler():
    # 200 unregistered passages: two score high, the rest low; filler scores highest of all
    negs = [(q("neg_kjv"), r(0.95)), (q("neg_web"), r(0.90))]
    negs += [(q("neg_kjv" if i % 2 else "neg_web"), r(0.10)) for i in range(198)]
    negs += [(q("neg_filler"), r(0.99))] * 50
    pos = [(q("paraphrase", "W"), r(s)) for s in (0.97, 0.92, 0.91, 0.5, 0.05)]
    pos.append((q("paraphrase", "W"), r(0.96, "OTHER")))  # wrong work: never a hit
    queries, results = zip(*(negs + pos), strict=True)
    rec, floor = recall_at_fpr(list(queries), list(results), "paraphrase")
    # 1% of 200 passages = 2 may be flagged: the threshold sits just above the third (0.10)
    assert floor == pytest.approx(0.10) and rec == pytest.approx(4 / 6)
    rec, floor = recall_at_fpr(list(queries), list(results), "paraphrase", max_fpr=0.005)
    assert floor == pytest.approx(0.90) and rec == pytest.approx(3 / 6)  # 0.97, 0.92, 0.91
    # recall at precision counts filler as negatives too, so it is stricter here
    assert recall_at_precision(list(queries), list(results), "paraphrase")[0] < 4 / 6


def test_descriptor_model_reproduces_the_groups_it_was_fitted_on():
    """The filler model keeps what random vectors lack: the descriptors' mean direction,
    their spectrum, and their clustering by image (views of one image closer to each other
    than to another image's), on unit vectors grouped by 'image'."""
    import numpy as np

    from benchmarks.synthetic import DescriptorModel

    rng = np.random.default_rng(0)
    d, images, views = 64, 400, 10
    basis = rng.standard_normal((d, d)) * np.linspace(2.0, 0.05, d)[:, None] / np.sqrt(d)
    centres = 1.0 + rng.standard_normal((images, d)) @ basis
    real = centres[:, None, :] + 0.4 * rng.standard_normal((images, views, d))
    real /= np.linalg.norm(real, axis=2, keepdims=True)
    fake = DescriptorModel(list(real)).sample(images * views, np.random.default_rng(1))
    assert fake.shape == (images * views, d) and fake.dtype == np.float32
    assert np.allclose(np.linalg.norm(fake, axis=1), 1.0, atol=1e-5)
    flat = real.reshape(-1, d)

    def spectrum(x: np.ndarray) -> np.ndarray:
        return np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1][:5]

    def similarities(x: np.ndarray) -> tuple[float, float]:
        g = x.reshape(images, views, d)
        return (float(np.mean([v @ v.T for v in g[:50]])),
                float(np.mean(g[:50, 0] @ g[50:100, 0].T)))

    mean = flat.mean(0)
    assert np.linalg.norm(fake.mean(0) - mean) < 0.1 * np.linalg.norm(mean)
    assert np.allclose(spectrum(fake), spectrum(flat), rtol=0.2)
    (w_fake, a_fake), (w_real, a_real) = similarities(fake), similarities(flat)
    assert abs(w_fake - w_real) < 0.03 and abs(a_fake - a_real) < 0.03
    assert w_fake > a_fake + 0.2  # rows of one synthetic image are alike
    # what the model is for: isotropic random vectors have neither
    iso = rng.standard_normal(flat.shape)
    iso /= np.linalg.norm(iso, axis=1, keepdims=True)
    assert not np.allclose(spectrum(iso), spectrum(flat), rtol=0.2)
    assert similarities(iso)[0] < w_real - 0.2


def test_score_breaks_recall_down_by_excerpt_length_at_one_threshold():
    def qq(case: str, words: int, work: str | None = "W") -> Query:
        return Query(name=f"{case}-{words}", case=case, text="x" * 10, work=work,
                     span=(0, 10) if work else None, words=words)

    # near-verbatim copies: the short ones score lower; one negative scores 0.6
    pos = [(qq("near_verbatim", 45), r(0.55)), (qq("near_verbatim", 50), r(0.9)),
           (qq("near_verbatim", 80), r(0.95)), (qq("near_verbatim", 150), r(0.99))]
    negs = [(qq("neg_kjv", 60, None), r(0.6))]
    negs += [(qq(c, 60, None), r(0.01)) for c in ("neg_kjv", "neg_web", "neg_filler")] * 33
    others = [(qq(c, 60), r(0.99)) for c in ("verbatim", "paraphrase")]
    queries, results = zip(*(pos + negs + others), strict=True)
    run = {"results": list(results), "words": 100, "seconds": 1.0, "p50_ms": 1.0,
           "p95_ms": 1.0}
    from benchmarks.text_copy_detection import score

    c = score(list(queries), run)["cases"]["near_verbatim"]
    # P0.99 forbids the negative at 0.6: the threshold is 0.9, so 45 words is missed
    assert c["threshold_at_p99"] == pytest.approx(0.9) and c["recall_at_p99"] == 0.75
    bl = c["recall_at_p99_by_length"]
    assert bl["39-59"] == {"queries": 2, "recall_at_p99": 0.5}
    assert bl["60-99"]["recall_at_p99"] == 1.0 and bl["100+"]["recall_at_p99"] == 1.0
    tops = score(list(queries), run)["top_negatives"]
    assert tops[0]["score"] == pytest.approx(0.6) and len(tops) == 8


def test_machine_description_names_the_cpu_and_its_vector_extensions(tmp_path):
    from benchmarks.machine import describe, line

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n"
                    "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni\n\n"
                    "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx\n")
    m = describe(info)
    assert m["cpu"] == "Test CPU 9000"
    # the first processor's flags; only extensions that matter for speed are kept
    assert m["simd"] == ["avx", "avx2", "fma", "avx512f", "avx512_vnni"]
    assert line(m).startswith("Test CPU 9000, ") and "(avx, avx2, fma, avx512f" in line(m)
    # results written before the machine was recorded say only how many cores
    assert line(None) == "2 CPU cores" and line({"cpus": 16}) == "16 CPU cores"


def test_model_speed_table_shows_each_profile_and_its_ceiling():
    from benchmarks.model_speed import render

    row = {"profile": "accurate", "model": "sscd", "whole_px": 224, "window_px": 160,
           "windows_per_image": 41.0, "ms_per_whole_view": 37.5, "ms_per_window": 20.1,
           "model_ms_per_image": 860.0, "model_only_ceiling_images_per_s": 1.2,
           "whole_image_only_ceiling_images_per_s": 26.6, "whole_passes_per_image": 22.9}
    md = render({"date": "2026-12-02", "repeats": 3, "profiles": [row], "device": "cpu",
                 "machine": {"cpu": "Test CPU", "cores": 2, "simd": ["avx2"]}})
    assert "Test CPU" in md and "Models ran on: cpu." in md
    assert ("| accurate | sscd (224 / 160 px) | 1 + 41.0 | 37.5 | 20.1 | 860.0 | 22.9 | 1.2 "
            "| 26.6 |") in md


def test_decided_counts_copies_flagged_with_their_own_work():
    from benchmarks.image_data import LabelledSet, Query
    from benchmarks.image_eval import Run, decided, flagged

    queries = [Query("a", "rotate", "W1"), Query("b", "rotate", "W2"),
               Query("c", "rotate", "W3"), Query("d", "scene", "W1"),
               Query("e", "original", ""), Query("f", "original", "")]
    m = lambda work, d: {"external_id": work, "decision": d}  # noqa: E731
    results = [{"decision": "review", "matches": [m("W1", "review")]},
               {"decision": "block", "matches": [m("W9", "block"), m("W2", "clear")]},
               {"decision": "clear", "matches": [m("W3", "clear")]},
               {"decision": "block", "matches": [m("W1", "block")]},
               {"decision": "review", "matches": [m("W5", "review")]},
               {"decision": "clear", "matches": []}]
    labelled = LabelledSet([], queries, None, [])  # type: ignore[arg-type]
    run = Run("accurate", False, results, 1.0, 0.0)
    # the second copy is flagged for another work: not decided for its own
    assert decided(labelled, run, "rotate") == pytest.approx(1 / 3)
    assert decided(labelled, run, "scene") == 1.0
    assert decided(labelled, run) == pytest.approx(2 / 4)
    assert flagged(labelled, run) == pytest.approx(1 / 2)


def test_publish_writes_the_report_and_its_table(tmp_path, monkeypatch, capsys):
    import json

    from benchmarks import publish

    monkeypatch.setattr(publish, "RESULTS", tmp_path / "results")
    md = publish.publish("demo", {"rows": [1, 2]}, lambda r: f"| rows | {len(r['rows'])} |\n")
    assert json.loads((tmp_path / "results" / "demo.json").read_text()) == {"rows": [1, 2]}
    assert (tmp_path / "results" / "demo.md").read_text() == md == "| rows | 2 |\n"
    assert "| rows | 2 |" in capsys.readouterr().out


def test_a_translation_numbered_otherwise_is_not_taken_as_aligned() -> None:
    """The Douay-Rheims numbers the Psalms as the Vulgate does (its Psalm 11 is the second
    half of the KJV's Psalm 10), so a verse range taken by the KJV's numbers is another
    passage; the WEB shares the KJV's numbers. text_data.aligned tells them apart from the
    words alone."""
    pytest.importorskip("pythonbible_dr")
    from benchmarks.text_data import aligned, chapters

    psalm11 = next(c for c in chapters() if c.key == "kjv-19-011")
    genesis1 = next(c for c in chapters() if c.key == "kjv-01-001")
    assert aligned("web", psalm11) and aligned("web", genesis1)
    assert not aligned("dr", psalm11)
    assert aligned("dr", genesis1)
