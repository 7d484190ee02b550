"""pytest plugin (entry point `pytest11`): the `storm` fixture.

    def test_agent_is_robust(storm):
        storm.run("storm.yaml")          # fails the test, naming the report, when the gate fails

Imports stay inside functions: pytest loads this module in every session of every project that installs
ShieldStorm, and it must not slow them down.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from shieldstorm.storm.models import StormRun
    from shieldstorm.storm.pipeline import RunOutcome


class StormFixture:
    """Runs storm configs from a test; the last outcome is kept for further assertions."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.last: RunOutcome | None = None

    def run(
        self,
        config: str | Path = "storm.yaml",
        *,
        seed: int | None = None,
        min_score: float | None = None,
        concurrency: int | None = None,
        target_url: str | None = None,
        output_dir: str | Path | None = None,
        history: bool | None = None,
        check: bool = True,
    ) -> StormRun:
        """Run the storm; with `check` (default) a missed gate or critical failure fails the test."""
        from shieldstorm.errors import ShieldStormError
        from shieldstorm.storm.config import load_config
        from shieldstorm.storm.pipeline import execute

        path = Path(config)
        if not path.is_absolute():
            path = self.base_dir / path
        try:
            loaded = load_config(path)
            outcome = execute(
                loaded,
                seed=seed,
                min_score=min_score,
                concurrency=concurrency,
                target_url=target_url,
                output_dir=Path(output_dir) if output_dir is not None else None,
                progress=False,
                history=history,
            )
        except ShieldStormError as exc:
            pytest.fail(f"storm could not run {path}: {exc}", pytrace=False)
        self.last = outcome
        result = outcome.run
        if check and not result.score_card.gate_passed:
            report = outcome.main_report
            reasons = "; ".join(result.score_card.gate_reasons)
            pytest.fail(
                f"storm gate failed for {path.name}: {reasons} (score {result.score:.1%}, "
                f"{result.passed}/{result.total} passed, seed {result.seed}); report: {report}",
                pytrace=False,
            )
        return result


@pytest.fixture
def storm(request: pytest.FixtureRequest) -> Any:
    """Run a storm.yaml (relative to the test file's directory) and fail the test when its gate fails."""
    return StormFixture(Path(str(request.path)).parent)
