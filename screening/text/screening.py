"""Screening generated text against registered text works: three layers, one score per work.

1. Verbatim: the output's k-grams are looked up in the winnowing index; shared k-grams are
   extended into maximal runs of equal normalised tokens (text_align).
2. Near-verbatim: runs of one work in the same order with small gaps become one passage,
   aligned with rapidfuzz and extended through edits.
3. Paraphrase: sentence windows of the output are embedded with MiniLM and searched in the
   window index; windows aligned in order with one work's windows make a paraphrase finding.

Each candidate work's signals become a calibrated copy probability (a logistic model fitted by
benchmarks/fit_text_calibration.py on KJV/WEB passages disjoint from the benchmark's), and the
evidence a reviewer or court reads is attached: spans with character offsets into the original
output and work, the longest copied run, and how much of each text is covered.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from indexes.dense import DenseIndex
from indexes.fingerprint import FingerprintIndex, Seeds
from models.base import SentenceEmbedder
from models.text_fingerprint import token_hashes
from models.text_normalize import NormalizedText, normalize
from screening.calibration import LogisticCalibrator
from screening.decision import Decision, Thresholds, decide, dense_search, screening_versions, worst
from screening.registry.blobs import BlobStore
from screening.registry.repository import WorkRecord, WorksRegistry
from screening.text.align import AlignParams, Passage, exact_runs, passages
from screening.text.indexes import WINDOW_INDEX
from screening.text.input import registered_text
from screening.text.paraphrase import (
    ParaphraseParams,
    WindowChain,
    around,
    best_chains,
    tiling,
    window_texts,
    windows_with_heads,
)
from screening.text.reproduction import (
    WHOLE,
    Reproduction,
    ReproductionRule,
    from_passages,
    reproduction,
)
from screening.text.results import MERGE_GAP, Finding, Span, TextMatch, TextResult, merge_findings

__all__ = ["Span", "TextMatch", "TextResult", "TextScreener", "text_signals"]

def _diagonals(seeds: Seeds, work_id: int) -> list[int]:
    sel = seeds.work_ids == work_id
    return (seeds.query_pos[sel] - seeds.work_pos[sel]).tolist()


def _pair_candidates(pairs: Seeds, examined: set[int]) -> list[int]:
    """The shortest works (fewer than PAIR_BELOW tokens) sharing a 2-gram with the output that
    neither look-up before examined, the most shared 2-grams first: with three of its eight
    words changed, a saying may keep one 2-gram and no 3-gram. The reproduction rule decides
    on them; nothing else can (they share no k-gram)."""
    if len(pairs) == 0:
        return []
    works, counts = np.unique(pairs.work_ids, return_counts=True)
    ranked = sorted((-c, w) for w, c in zip(works.tolist(), counts.tolist(), strict=True)
                    if w not in examined)
    return [w for _, w in ranked[:MAX_CANDIDATES]]


#: Ordering weight of a match the reproduction rule decided (a whole work first).
_RULE_RISK = {None: 0.0, "near_whole": 0.5, "whole": 1.0}

#: Candidate works examined per output, by number of shared k-grams (the rest share less
#: text than the weakest candidate examined).
MAX_CANDIDATES = 50


@dataclass
class _Candidate:
    passages: list[Passage] = field(default_factory=list)
    chain: WindowChain | None = None
    reproduced: Reproduction | None = None

    def reproduced_kind(self, rule: ReproductionRule) -> str | None:
        """'whole' / 'near_whole' if the output reproduces the work so (eligible or not)."""
        return self.reproduced.kind(rule) if self.reproduced is not None else None


def text_signals(ps: list[Passage], chain: WindowChain | None, min_windows: int
                 ) -> dict[str, float]:
    """The calibrator's inputs for one (output, work) pair, each scaled to about [0, 1]."""
    longest = max((p.longest_run for p in ps), default=0)
    matched = sum(p.matched for p in ps)
    # one contiguous aligned passage: a copied excerpt is one, while passages that merely
    # share formulae ("and the rest of the acts of ... are written in the book of ...") are
    # several short ones whose sum can be as large
    biggest = max(ps, key=lambda p: p.matched, default=None)
    near = max((p.similarity for p in ps if p.kind == "near_verbatim"), default=0.0)
    if chain is None or len(chain.q) < min_windows:
        chain, n = None, 0
    else:
        n = len(chain.q)
    return {
        "run": min(longest, 200) / 50.0,
        "matched": min(matched, 400) / 100.0,
        "passage": min(biggest.matched, 400) / 100.0 if biggest else 0.0,
        "near_similarity": near,
        "para_windows": min(n, 10) / 10.0,
        "para_mean": chain.mean if chain else 0.0,
        "para_max": max(chain.sims) if chain else 0.0,
        "para_margin": max(0.0, chain.margin) if chain else 0.0,
    }


class TextScreener:
    """Screens texts against loaded, current text indexes."""

    def __init__(self, fingerprints: FingerprintIndex, window_index: DenseIndex | None,
                 embedder: SentenceEmbedder | None, registry: WorksRegistry, blobs: BlobStore,
                 calibrator: LogisticCalibrator, thresholds: Thresholds,
                 align: AlignParams | None = None, paraphrase: ParaphraseParams | None = None,
                 max_matches: int = 5, max_text_bytes: int = 10 * 1024 * 1024,
                 index_revision: int = 0, reproduction_rule: ReproductionRule | None = None,
                 cjk_calibrator: LogisticCalibrator | None = None,
                 cjk_paraphrase: bool = True) -> None:
        self.fingerprints = fingerprints
        self.window_index = window_index
        self.embedder = embedder
        self.registry = registry
        self.blobs = blobs
        self.calibrator = calibrator
        #: Mostly-CJK outputs are calibrated by this one where given (the multilingual
        #: model's calibrator fitted with Chinese rows; `calibrator` without them)
        self.cjk_calibrator = cjk_calibrator
        #: whether the paraphrase layer finds works on its own in mostly-CJK outputs
        #: (TEXT_CJK_PARAPHRASE; off, it only weighs in on works a copied passage was found of)
        self.cjk_paraphrase = cjk_paraphrase
        self.thresholds = thresholds
        self.align = align or AlignParams()
        self.para = paraphrase or ParaphraseParams()
        self.rule = reproduction_rule or ReproductionRule()
        self._eligible: OrderedDict[str, bool] = OrderedDict()
        self.max_matches = max_matches
        self.max_text_bytes = max_text_bytes
        self._work_texts: OrderedDict[str, NormalizedText] = OrderedDict()
        specs = [fingerprints.spec] + ([window_index.spec] if window_index is not None else [])
        # (paraphrase layer on, off) per calibrator: a call that turns the paraphrase layer
        # off is screened with the literal versions (the service's one screener serves
        # both, and such results said "paraphrase" with the text model among their features
        # although the layer never ran)
        cals = [c for c in (calibrator, cjk_calibrator) if c is not None]
        self._versions = {
            cal.name: (screening_versions(
                "text", "paraphrase" if self.paraphrase_enabled else "literal", specs, cal,
                index_revision, thresholds,
                dense_search([(WINDOW_INDEX, window_index)] if self.paraphrase_enabled
                             else [])),
                screening_versions("text", "literal", [fingerprints.spec], cal,
                                   index_revision, thresholds, dense_search([])))
            for cal in cals}
        # both calibrators are one configuration: a sample of English and Chinese outputs
        # screened together is not a mix of versions (underwriting.profile.check_versions)
        both = sorted(f"{c.name}@{c.version}" for c in cals)
        for pair in self._versions.values():
            for v in pair:
                v["whole_work"] = self.rule.describe()
                if len(both) > 1:
                    v["calibration_set"] = both
            if self.paraphrase_enabled:
                # part of the configuration: a mostly-CJK output, whose chains only support
                # copied works, carries the same versions as the rest of its sample
                pair[0]["cjk_paraphrase"] = cjk_paraphrase
        #: what the default calibrator's results with the paraphrase layer on carry
        self.versions = self._versions[calibrator.name][0]

    @property
    def paraphrase_enabled(self) -> bool:
        return self.window_index is not None and self.embedder is not None

    def _work_text(self, work: WorkRecord) -> NormalizedText:
        norm = self._work_texts.get(work.content_sha256)
        if norm is None:
            norm = registered_text(self.blobs, work, self.max_text_bytes)
            self._work_texts[work.content_sha256] = norm
            if len(self._work_texts) > 256:
                self._work_texts.popitem(last=False)
        else:
            self._work_texts.move_to_end(work.content_sha256)
        return norm

    # -- layers -----------------------------------------------------------------------------
    def _verbatim(self, norm: NormalizedText, qh: np.ndarray) -> dict[int, _Candidate]:
        seeds = self.fingerprints.seeds(qh)
        short = self.fingerprints.short_seeds(qh)
        pairs = self.fingerprints.pair_seeds(qh)
        out: dict[int, _Candidate] = {}
        if len(seeds) == 0 and len(short) == 0 and len(pairs) == 0:
            return out
        works, counts = np.unique(seeds.work_ids, return_counts=True)
        order = works[np.argsort(-counts, kind="stable")].tolist()
        examined = order[:MAX_CANDIDATES]
        examined += self._short_candidates(short, set(examined))
        for work_id in examined + _pair_candidates(pairs, set(examined)):
            wt = self.fingerprints.tokens_of(work_id)
            runs = exact_runs(seeds, work_id, qh, wt, self.fingerprints.k)
            ps = passages(runs, qh, wt, norm.cjk, self.align)
            if len(wt) <= self.rule.max_tokens:
                diagonals = [*_diagonals(seeds, work_id), *_diagonals(short, work_id),
                             *_diagonals(pairs, work_id)]
                rep = reproduction(qh, wt, diagonals)
            else:
                rep = from_passages(len(wt), [(p.q0, p.q1, p.w0, p.w1, p.matched) for p in ps])
            cand = _Candidate(passages=ps, reproduced=rep)
            if ps or cand.reproduced_kind(self.rule):
                out[work_id] = cand
        return out

    def _short_candidates(self, short: Seeds, examined: set[int]) -> list[int]:
        """Short works sharing 3-grams with the output that the k-gram ranking did not
        examine (a saying with a word changed shares no 5-gram; a poem in a long answer
        shares fewer k-grams than long works do), the most shared first, by share."""
        if len(short) == 0:
            return []
        works, counts = np.unique(short.work_ids, return_counts=True)
        share = [(c / max(1, len(self.fingerprints.tokens_of(w)) - 2), w)
                 for w, c in zip(works.tolist(), counts.tolist(), strict=True)
                 if w not in examined and c >= 2]
        share.sort(key=lambda t: (-t[0], t[1]))
        return [w for s, w in share[:MAX_CANDIDATES] if s >= 0.25]

    def _rule(self, work: WorkRecord, cand: _Candidate) -> str | None:
        """'whole' / 'near_whole' where the reproduction rule applies to this work, else None."""
        kind = cand.reproduced_kind(self.rule)
        if kind is None:
            return None
        ok = self._eligible.get(work.content_sha256)
        if ok is None:
            ok = self.rule.eligible(self._work_text(work),
                                    self.fingerprints.tokens_of(work.id))
            self._eligible[work.content_sha256] = ok
            if len(self._eligible) > 4096:
                self._eligible.popitem(last=False)
        return kind if ok else None

    def _paraphrase(self, norm: NormalizedText) -> tuple[list[tuple[int, int, int]],
                                                         dict[int, WindowChain]]:
        index, embedder = self.window_index, self.embedder
        assert index is not None and embedder is not None
        spans = windows_with_heads(norm, self.para.max_words)
        if not spans or index.ntotal == 0:
            return spans, {}
        n, k = len(spans), self.para.k
        works = np.full((n, k), -1, dtype=np.int64)
        variants = np.full((n, k), -1, dtype=np.int64)
        sims = np.full((n, k), -1.0, dtype=np.float32)

        def search(rows: list[int], max_tokens: int | None = None) -> None:
            if rows:
                vecs = embedder.embed(window_texts(norm, [spans[i][:2] for i in rows]),
                                      max_tokens)
                w, v, s = index.search_vectors(vecs, k)
                found = w.shape[1]  # fewer than k when the index holds fewer vectors
                works[rows, :found], variants[rows, :found], sims[rows, :found] = w, v, s

        # Most outputs paraphrase nothing: a tiling of probes costs one pass over the text,
        # and only the neighbourhoods of similar probes get every (overlapping) window.
        if self.para.probe_similarity is None:
            search(list(range(n)))
        else:
            probes = tiling(spans)
            search(probes, self.para.probe_tokens)
            hot = [i for i in probes if sims[i].max() >= self.para.probe_similarity]
            opened = around(spans, probes, hot)
            if self.para.probe_tokens:
                # a probe read in part is no evidence: only whole windows enter the chains
                works[probes], variants[probes], sims[probes] = -1, -1, -1.0
                search(opened)
            else:
                done = set(probes)
                search([i for i in opened if i not in done])
        return spans, best_chains(works, variants, sims, self.para, self.registry.content_groups)

    # -- screening --------------------------------------------------------------------------
    def _candidates(self, norm: NormalizedText, paraphrase: bool
                    ) -> tuple[dict[int, _Candidate], list[tuple[int, int, int]]]:
        cands = self._verbatim(norm, token_hashes(norm.tokens))
        q_windows: list[tuple[int, int, int]] = []
        # a mostly-CJK output without TEXT_CJK_PARAPHRASE: chains support the works a copied
        # passage was found of (the CJK calibrator weighs a copy's chain) but find none on
        # their own, nor lift a short saying the output merely contains
        supporting = norm.mostly_cjk() and not self.cjk_paraphrase
        copied = {w for w, c in cands.items() if c.passages}
        if paraphrase and self.paraphrase_enabled and (copied or not supporting):
            q_windows, chains = self._paraphrase(norm)
            for work_id, chain in chains.items():
                if supporting and work_id not in copied:
                    continue
                cands.setdefault(work_id, _Candidate()).chain = chain
        return cands, q_windows

    def calibrator_for(self, norm: NormalizedText) -> LogisticCalibrator:
        """The CJK calibrator for a mostly-CJK output where there is one, else the other."""
        if self.cjk_calibrator is not None and norm.mostly_cjk():
            return self.cjk_calibrator
        return self.calibrator

    def candidate_signals(self, text: str, paraphrase: bool = True) -> dict[int, dict]:
        """Every candidate work's uncalibrated signals (what the calibration is fitted on)."""
        cands, _ = self._candidates(normalize(text), paraphrase)
        return {i: text_signals(c.passages, c.chain, self.para.min_windows)
                for i, c in cands.items()}

    def screen_text(self, text: str, name: str = "-", paraphrase: bool = True) -> TextResult:
        norm = normalize(text)
        cal = self.calibrator_for(norm)
        para, literal = self._versions[cal.name]
        result = TextResult(input=name, words=len(norm), versions=para
                            if paraphrase and self.paraphrase_enabled else literal)
        if len(norm) == 0:
            result.error = "no words in the text"
            return result
        cands, q_windows = self._candidates(norm, paraphrase)
        if not cands:
            return result
        ids = list(cands)
        signals = [text_signals(cands[i].passages, cands[i].chain, self.para.min_windows)
                   for i in ids]
        probs = cal.probabilities_of(signals)
        # works the reproduction rule may apply to are looked up even below the report
        # threshold: a whole short poem has a low copy probability
        ruled = [i for i in ids if cands[i].reproduced_kind(self.rule)]
        records = self.registry.by_ids(ruled)
        rules = {i: self._rule(records[i], cands[i]) for i in ruled if i in records}
        keep = [(float(p), i, s) for p, i, s in zip(probs.tolist(), ids, signals, strict=True)
                if p >= self.thresholds.report or rules.get(i)]
        keep.sort(key=lambda t: -max(t[0], _RULE_RISK[rules.get(t[1])]))
        records.update(self.registry.by_ids([i for _, i, _ in keep[:self.max_matches]
                                             if i not in records]))
        for p, work_id, sig in keep[:self.max_matches]:
            work = records.get(work_id)
            if work is None or work.status != "active":
                continue
            m = self._evidence(norm, work, p, sig, cands[work_id], q_windows)
            m.reproduction = rules.get(work_id)
            m.decision = decide(p, self.thresholds)
            rep = cands[work_id].reproduced
            if m.reproduction is not None and rep is not None:
                # the share of the work found in order: what the rule decided on
                m.work_reproduced_fraction = rep.fraction
                m.decision = worst(m.decision, "block" if m.reproduction == WHOLE else "review")
            result.matches.append(m)
        decision: Decision = "clear"
        for m in result.matches:
            decision = worst(decision, m.decision)
            result.risk_score = max(result.risk_score, m.risk)
        result.decision = decision
        return result

    def _evidence(self, norm: NormalizedText, work: WorkRecord, p: float,
                  sig: dict[str, float], cand: _Candidate,
                  q_windows: list[tuple[int, int, int]]) -> TextMatch:
        wnorm = self._work_text(work)
        items = [Finding(ps.kind, ps.q0, ps.q1, ps.w0, ps.w1, ps.matched, ps.similarity)
                 for ps in cand.passages]
        rep = cand.reproduced if cand.reproduced_kind(self.rule) else None
        if rep is not None and not any(f.q0 <= rep.q0 and rep.q1 <= f.q1 for f in items):
            # a work reproduced with edits too dense for a literal passage: the aligned stretch
            items.append(Finding("near_verbatim", rep.q0, rep.q1, rep.w0, rep.w1, rep.matched,
                                 rep.fraction))
        # a work reproduced (nearly) whole is evidenced by its literal alignment; a window
        # chain around it would widen the span to the whole window
        chain = None if rep is not None else cand.chain
        if chain is not None and len(chain.q) >= self.para.min_windows:
            w_windows = windows_with_heads(wnorm, self.para.max_words)
            items.append(Finding("paraphrase", q_windows[chain.q[0]][0],
                                  q_windows[chain.q[-1]][2], w_windows[min(chain.w)][0],
                                  w_windows[max(chain.w)][2], 0, chain.mean))
        q_cover = np.zeros(len(norm), dtype=bool)
        w_cover = np.zeros(len(wnorm), dtype=bool)
        spans = []
        for f in merge_findings(items, MERGE_GAP):
            os_, oe = norm.char_span(f.q0, f.q1)
            ws, we = wnorm.char_span(f.w0, f.w1)
            spans.append(Span(f.kind, os_, oe, ws, we, f.similarity))
            q_cover[f.q0:f.q1] = True
            w_cover[f.w0:f.w1] = True
        longest_tokens, longest_chars = 0, 0
        for ps in cand.passages:
            if ps.longest_run > longest_tokens:
                a, b = norm.char_span(*ps.longest_run_span)
                longest_tokens, longest_chars = ps.longest_run, b - a
        return TextMatch(work, p, sig, spans, longest_tokens, longest_chars,
                         float(q_cover.mean()), float(w_cover.mean()) if len(wnorm) else 0.0)
