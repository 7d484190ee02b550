"""Seeded Faker corpus (8 locales) through the real Detector: per-entity precision and recall floors.

The full benchmark with larger samples is `bench/quality_pii.py`; this is its fast, deterministic slice.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shieldstorm.detect import Detector

BENCH = Path(__file__).resolve().parents[2] / "bench" / "quality_pii.py"
FLOOR = 0.9  # per entity on a small sample (the benchmark's target on the large sample is 0.95)


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quality_pii", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("quality_pii", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _bench()


@pytest.fixture(scope="module")
def corpus(bench: ModuleType) -> Any:
    return bench.build_corpus(per_entity=40, negatives=160, seed=1234)


@pytest.mark.parametrize("engine", ["hyperscan", "re2"])
def test_faker_precision_and_recall_floors(
    engine: str, bench: ModuleType, corpus: Any, make_detector: Callable[..., Detector]
) -> None:
    detector = make_detector(engine, (), builtins=True)
    report: dict[str, Any] = bench.pii_quality(per_entity=40, seed=1234, detector=detector, corpus=corpus)
    assert report["engine"] == engine
    entities = report["entities"]
    assert set(bench.GENERATORS) <= set(entities)
    low = {
        e: (s["precision"], s["recall"], s["fp_examples"][:1], s["fn_examples"][:1])
        for e, s in entities.items()
        if s["precision"] < FLOOR or s["recall"] < FLOOR
    }
    assert not low, low
    for entity, counts in report["checksum_rejections"].items():
        assert counts["rejected"] == counts["total"], entity


def test_corpus_is_deterministic(bench: ModuleType) -> None:
    first, _ = bench.build_corpus(per_entity=3, negatives=2, seed=99)
    second, _ = bench.build_corpus(per_entity=3, negatives=2, seed=99)
    assert first == second
    for doc in first:
        for entity, start, end in doc.gold:
            assert doc.text[start:end], entity
