"""Train the learned second stage on the DEV split only and export it as data (no pickle).

    python bench/corpus/train_classifier.py [--out src/shieldstorm/detect/data/injection_classifier.json.gz]
                                            [--folds 5] [--quick] [--report bench/corpus/classifier_cv.json]

What it does (needs the `ml` extra: scikit-learn, numpy; the shipped model is evaluated without them):

1. Reads `bench/corpus/dev.jsonl` (never the holdout) and reduces each text to what the detector's
   classifier reads: the normalised view of its head and tail windows (`classifier.prepare_text`).
2. Runs the pattern stage on every dev text (classifier off) to know which texts it already flags and
   how much injection evidence it found.
3. For each candidate (feature blocks, vocabulary size, C, hard-negative weight) computes out-of-fold
   probabilities with `StratifiedGroupKFold`; groups are the first eight words of the normalised text,
   so the near-identical variants of one template (DAN 6.0 / 6.2 / ...) stay in one fold. Vocabulary
   selection (chi2) happens inside each fold.
4. For each candidate, picks the (high, medium) thresholds that maximise the OUT-OF-FOLD recall of
   patterns + classifier under FPR ceilings stricter than the targets (benign 0.3%, hard negatives 2%,
   other languages 0.3%) and, for benign system prompts, review-or-block <= 1% (the target itself), and
   keeps the candidate with the best recall (ties: fewer features).
5. Refits the chosen candidate on all of dev and exports vocabulary, idf, coefficients, intercept,
   thresholds, the training-corpus SHA-256 and the cross-validated figures.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import chi2
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import FeatureUnion, Pipeline

from shieldstorm.detect import Detector, DetectorConfig
from shieldstorm.detect.classifier import MODEL_FORMAT, MODEL_FORMAT_VERSION, corpus_digest, prepare_text
from shieldstorm.detect.config import ClassifierConfig
from shieldstorm.detect.stage2 import cue_regex

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEV = HERE / "dev.jsonl"
DEFAULT_OUT = ROOT / "src" / "shieldstorm" / "detect" / "data" / "injection_classifier.json.gz"
HEAD_CHARS, TAIL_CHARS = 3000, 1000
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# FPR ceilings used to calibrate on out-of-fold predictions: stricter than the targets (1% / 5% / 1%)
# because the dev sets are small and the holdout is read only once.
CEILINGS = {"benign": 0.003, "hard_negative": 0.02, "benign_multilingual": 0.003, "system_prompt": 0.01}
# Benign system prompts must get `allow`, so for them the ceiling bounds review-or-block, not only `attack`:
# the patterns' own sub-threshold evidence (risk >= review threshold) counts too. The ceiling equals the
# target (1%) because the patterns alone already use most of it.
REVIEW_SUBSETS = ("system_prompt",)
REVIEW_THRESHOLD = 0.3
WEIGHTS = {"high": 0.7, "medium": 0.4}  # DetectorConfig's default severity weights
ATTACK_THRESHOLD = 0.6
PATTERN_ID, CATEGORY = "PI-CLF-001", "jailbreak_persona"


@dataclass(frozen=True)
class Candidate:
    blocks: tuple[str, ...]  # "word" (1-2-grams) and/or "char" (char_wb 3-5-grams)
    k_per_block: int
    c: float
    hard_negative_weight: float
    system_prompt_weight: float = 1.0


def load_dev() -> list[dict[str, Any]]:
    with DEV.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _vectorizer(block: str, vocabulary: list[str] | None = None) -> TfidfVectorizer:
    common: dict[str, Any] = {"lowercase": False, "sublinear_tf": True, "dtype": np.float64, "vocabulary": vocabulary}
    if block == "word":
        return TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=TOKEN_PATTERN, **common)
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), **common)


def _select(block: str, texts: list[str], y: np.ndarray, k: int) -> list[str]:
    """The k terms with the highest chi2 score on these texts (seen in >= 2 of them)."""
    vec = _vectorizer(block)
    vec.set_params(min_df=2)
    x = vec.fit_transform(texts)
    scores, _ = chi2(x, y)
    scores = np.nan_to_num(scores)
    terms = vec.get_feature_names_out()
    order = np.argsort(-scores, kind="stable")[:k]
    return sorted(str(terms[i]) for i in order)


def fit(cand: Candidate, texts: list[str], y: np.ndarray, weights: np.ndarray) -> Pipeline:
    union = FeatureUnion([(b, _vectorizer(b, _select(b, texts, y, cand.k_per_block))) for b in cand.blocks])
    clf = LogisticRegression(C=cand.c, class_weight="balanced", max_iter=5000, solver="liblinear")
    pipe = Pipeline([("features", union), ("clf", clf)])
    pipe.fit(texts, y, clf__sample_weight=weights)
    return pipe


def oof_probabilities(
    cand: Candidate, texts: list[str], y: np.ndarray, weights: np.ndarray, groups: list[str], folds: int
) -> np.ndarray:
    out = np.zeros(len(texts))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=7)
    for train, test in splitter.split(texts, y, groups):
        pipe = fit(cand, [texts[i] for i in train], y[train], weights[train])
        out[test] = pipe.predict_proba([texts[i] for i in test])[:, 1]
    return out


def _flagged(prob: np.ndarray, evidence: np.ndarray, gated: np.ndarray, high: float, medium: float) -> np.ndarray:
    """What Detector.scan decides for `attack` with patterns + classifier at these thresholds."""
    w = np.where(prob >= high, WEIGHTS["high"], np.where(prob >= medium, WEIGHTS["medium"], 0.0)) * gated
    return (evidence >= ATTACK_THRESHOLD) | (1 - (1 - evidence) * (1 - w) >= ATTACK_THRESHOLD - 1e-12)


def _counted(masks: dict[str, np.ndarray], flagged: np.ndarray, evidence: np.ndarray) -> np.ndarray:
    """What counts against a subset's ceiling: `attack`, or for REVIEW_SUBSETS any verdict but allow. A medium
    classifier finding is only emitted as corroboration (when it makes `attack`, detect/stage2.py), so the
    classifier adds review verdicts only through `attack`; the patterns add them through their own evidence."""
    review = np.zeros(len(flagged), dtype=bool)
    for s in REVIEW_SUBSETS:
        if s in masks:
            review |= masks[s] & (evidence >= REVIEW_THRESHOLD - 1e-12)
    return flagged | review


def _masks(recs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    masks = {s: np.array([r["subset"] == s for r in recs]) for s in ("attack", *CEILINGS)}
    for c in sorted({r["category"] for r in recs if r["label"] == "attack"}):
        masks[f"attack/{c}"] = np.array([r.get("category") == c for r in recs])
    return masks


def combined(masks: dict[str, np.ndarray], flagged: np.ndarray) -> dict[str, Any]:
    return {k: {"flagged": int(flagged[m].sum()), "total": int(m.sum())} for k, m in masks.items()}


def calibrate(
    masks: dict[str, np.ndarray], prob: np.ndarray, evidence: np.ndarray, gated: np.ndarray
) -> tuple[float, float, dict[str, Any]]:
    """Thresholds that maximise out-of-fold recall under CEILINGS (ties: the higher thresholds)."""
    grid = sorted({round(float(q), 3) for q in np.linspace(0.5, 0.995, 100)})
    limits = {s: CEILINGS[s] * masks[s].sum() for s in CEILINGS}
    best: tuple[int, float, float] | None = None
    for high in grid:
        for medium in [m for m in grid if m <= high]:
            flagged = _flagged(prob, evidence, gated, high, medium)
            counted = _counted(masks, flagged, evidence)
            if any(counted[masks[s]].sum() > limits[s] for s in CEILINGS):
                continue
            key = (int(flagged[masks["attack"]].sum()), high, medium)
            if best is None or key > best:
                best = key
    if best is None:
        high, medium = 1.0, 1.0
    else:
        _, high, medium = best
    return high, medium, combined(masks, _counted(masks, _flagged(prob, evidence, gated, high, medium), evidence))


def export(pipe: Pipeline, cand: Candidate, high: float, medium: float, cv: dict[str, Any]) -> dict[str, Any]:
    union: FeatureUnion = pipe.named_steps["features"]
    clf: LogisticRegression = pipe.named_steps["clf"]
    coef = clf.coef_[0]
    blocks: list[dict[str, Any]] = []
    offset = 0
    for name, vec in union.transformer_list:
        terms = [str(t) for t in vec.get_feature_names_out()]
        n = len(terms)
        block: dict[str, Any] = {
            "analyzer": vec.analyzer,
            "ngram_range": list(vec.ngram_range),
            "sublinear_tf": bool(vec.sublinear_tf),
            "terms": terms,
            "idf": [float(v) for v in vec.idf_],
            "coef": [float(v) for v in coef[offset : offset + n]],
        }
        if name == "word":
            block["token_pattern"] = vec.token_pattern
        blocks.append(block)
        offset += n
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "model_version": time.strftime("%Y-%m-%d"),
        "description": "P(attack) of a text: TF-IDF + logistic regression trained on bench/corpus/dev.jsonl",
        "trained_on": {"corpus": "bench/corpus/dev.jsonl", "sha256": corpus_digest(DEV), "split": "dev"},
        "preprocess": {"view": "normalized", "head_chars": HEAD_CHARS, "tail_chars": TAIL_CHARS},
        "candidate": asdict(cand),
        "thresholds": {"high": high, "medium": medium},
        "finding": {"pattern_id": PATTERN_ID, "category": CATEGORY},
        "cross_validation": cv,
        "intercept": float(clf.intercept_[0]),
        "blocks": blocks,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one candidate only (the last chosen one)")
    ap.add_argument("--report", type=Path, help="also write every candidate's cross-validated figures here")
    args = ap.parse_args()

    recs = load_dev()
    texts = [prepare_text(r["text"], HEAD_CHARS, TAIL_CHARS) for r in recs]
    y = np.array([r["label"] == "attack" for r in recs], dtype=int)
    groups = [" ".join(t.split()[:8]) for t in texts]
    cue = cue_regex()
    gated = np.array([cue.search(t) is not None for t in texts], dtype=float)

    detector = Detector.from_paths([], DetectorConfig(classifier=ClassifierConfig(enabled=False)))
    detector.wait_ready()
    weights_cfg = detector.config.weights
    sev_w = {"critical": weights_cfg.critical, "high": weights_cfg.high, "medium": weights_cfg.medium, "low": 0.15}
    evidence = np.zeros(len(recs))
    for i, r in enumerate(recs):
        per: dict[str, float] = {}
        for f in detector.scan(r["text"]).findings:
            if f.kind.value == "injection":
                per[f.pattern_id] = max(per.get(f.pattern_id, 0.0), sev_w[f.severity.value])
        evidence[i] = 1 - float(np.prod([1 - w for w in per.values()])) if per else 0.0
    masks = _masks(recs)
    base = combined(masks, _counted(masks, _flagged(np.zeros(len(recs)), evidence, gated, 2.0, 2.0), evidence))
    print(f"patterns alone (dev): {json.dumps({k: base[k] for k in ('attack', *CEILINGS)})}")
    missed = masks["attack"] & (evidence < ATTACK_THRESHOLD)
    gate = {
        "attacks": int(gated[masks["attack"]].sum()),
        "attacks_missed_by_patterns": f"{int(gated[missed].sum())} / {int(missed.sum())}",
        **{s: f"{int(gated[masks[s]].sum())} / {int(masks[s].sum())}" for s in CEILINGS},
    }
    print(f"cue gate passes (dev): {json.dumps(gate)}")

    if args.quick:
        cands = [Candidate(("word",), 20_000, 4.0, 10.0, 3.0)]
    else:
        # A first round (word vs word + char_wb 3-5-grams, 10k/20k terms, C 1/4/16, hard-negative weight 1/3)
        # found char n-grams no better out of fold (and 5-10x slower in pure Python) and 20k > 10k terms; a
        # second (20k/30k, C 4/16/32, weight 3/10) chose 20k, C=4, weight 10. With the system-prompt subset
        # (the `clf2` branch): C 4/16, hard-negative weight 3/10, system-prompt weight 1/3.
        cands = [
            Candidate(("word",), 20_000, c, hw, sw)
            for c, hw, sw in itertools.product([4.0, 16.0], [3.0, 10.0], [1.0, 3.0])
        ]
    hard_neg = np.array([r["subset"] == "hard_negative" for r in recs])
    system_prompt = np.array([r["subset"] == "system_prompt" for r in recs])
    results: list[dict[str, Any]] = []
    best: tuple[tuple[int, int], Candidate, float, float, dict[str, Any]] | None = None
    for cand in cands:
        t0 = time.perf_counter()
        weights = np.where(hard_neg, cand.hard_negative_weight, np.where(system_prompt, cand.system_prompt_weight, 1.0))
        prob = oof_probabilities(cand, texts, y, weights, groups, args.folds)
        high, medium, res = calibrate(masks, prob, evidence, gated)
        res_s = {k: res[k] for k in ("attack", *CEILINGS)}
        print(f"{asdict(cand)} -> high {high} medium {medium} {json.dumps(res_s)} ({time.perf_counter() - t0:.0f} s)")
        sys.stdout.flush()
        results.append({"candidate": asdict(cand), "high": high, "medium": medium, "oof": res})
        n_features = cand.k_per_block * len(cand.blocks)
        key = (res["attack"]["flagged"], -n_features)
        if best is None or key > best[0]:
            best = (key, cand, high, medium, res)
    assert best is not None
    _, cand, high, medium, res = best
    print(f"chosen: {asdict(cand)} high {high} medium {medium}")
    weights = np.where(hard_neg, cand.hard_negative_weight, np.where(system_prompt, cand.system_prompt_weight, 1.0))
    pipe = fit(cand, texts, y, weights)
    cv = {
        "folds": args.folds,
        "grouping": "first eight words of the normalised text",
        "ceilings": CEILINGS,
        "review_or_block_subsets": list(REVIEW_SUBSETS),
        "patterns_alone": base,
        "patterns_plus_classifier_out_of_fold": res,
    }
    model = export(pipe, cand, high, medium, cv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(model, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    args.out.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    if args.report:
        args.report.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
