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
