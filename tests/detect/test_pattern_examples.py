"""Every loaded pattern (built-ins from branches inj/pii plus the engine test patterns) must find all of
its examples and none of its counter-examples through the Detector, under BOTH matching engines."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shieldstorm.detect import Detector
from shieldstorm.detect.loader import load_pattern_set
from tests.detect.conftest import DATA, ENGINES, VALIDATED

DIRS = (DATA, VALIDATED)
PATTERN_IDS = sorted(load_pattern_set(DIRS, builtins=True).patterns)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("pattern_id", PATTERN_IDS)
def test_examples_and_counter_examples(pattern_id: str, engine: str, make_detector: Callable[..., Detector]) -> None:
    detector = make_detector(engine, DIRS, builtins=True)
    pattern = detector.patterns[pattern_id]
    missed = [t for t in pattern.examples if pattern_id not in {f.pattern_id for f in detector.scan(t).findings}]
    wrong = [t for t in pattern.counter_examples if pattern_id in {f.pattern_id for f in detector.scan(t).findings}]
    assert not missed, f"examples not found: {missed}"
    assert not wrong, f"counter-examples matched: {wrong}"


def test_every_builtin_pattern_is_covered() -> None:
    builtin = load_pattern_set((), builtins=True)
    assert set(builtin.patterns) <= set(PATTERN_IDS)
    for pattern in builtin.patterns.values():
        assert pattern.examples, pattern.id
