"""Every loaded pattern (built-ins from branches inj/pii plus the engine test patterns) must find all of
its examples and none of its counter-examples through the Detector, under BOTH matching engines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shieldstorm.detect import Detector
from shieldstorm.detect.loader import load_pattern_set
from tests.detect.conftest import DATA, ENGINES, VALIDATED

# Built-ins alone (the same set as Detector.default(), so one compiled database serves both) and the
# engine's own test patterns alone.
SETS: dict[str, tuple[tuple[Path, ...], bool]] = {"builtin": ((), True), "test": ((DATA, VALIDATED), False)}
CASES = [
    (name, pid)
    for name, (dirs, builtins) in SETS.items()
    for pid in sorted(load_pattern_set(dirs, builtins=builtins).patterns)
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("pattern_set", "pattern_id"), CASES)
def test_examples_and_counter_examples(
    pattern_set: str, pattern_id: str, engine: str, make_detector: Callable[..., Detector]
) -> None:
    dirs, builtins = SETS[pattern_set]
    detector = make_detector(engine, dirs, builtins=builtins)
    pattern = detector.patterns[pattern_id]
    missed = [t for t in pattern.examples if pattern_id not in {f.pattern_id for f in detector.scan(t).findings}]
    wrong = [t for t in pattern.counter_examples if pattern_id in {f.pattern_id for f in detector.scan(t).findings}]
    assert not missed, f"examples not found: {missed}"
    assert not wrong, f"counter-examples matched: {wrong}"


def test_builtin_database_loads_with_every_validator() -> None:
    builtin = load_pattern_set((), builtins=True)
    for pattern in builtin.patterns.values():
        assert pattern.examples, pattern.id
        assert pattern.validator is None or pattern.validator in builtin.validators
