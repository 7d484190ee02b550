from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shieldstorm.detect import Detector, DetectorConfig

DATA = Path(__file__).parent / "data"
VALIDATED = Path(__file__).parent / "data_validated"
ENGINES = ["hyperscan", "re2"]


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    # The per-user compile cache (content-addressed, so sharing it between runs is safe): the built-in
    # database takes tens of seconds to compile once, then loads in ~0.1 s.
    from shieldstorm.detect.matcher import default_cache_dir

    return default_cache_dir()


@pytest.fixture(scope="session")
def make_detector(cache_dir: Path) -> Callable[..., Detector]:
    built: dict[tuple[object, ...], Detector] = {}

    def make(
        engine: str = "hyperscan", dirs: tuple[Path, ...] = (DATA,), builtins: bool = False, **cfg: object
    ) -> Detector:
        key = (engine, dirs, builtins, tuple(sorted(cfg.items())))
        if key not in built:
            config = DetectorConfig(engine=engine, cache_dir=str(cache_dir), **cfg)  # type: ignore[arg-type]
            built[key] = Detector.from_paths(list(dirs), config, builtins=builtins)
        return built[key]

    return make


@pytest.fixture(params=ENGINES)
def detector(request: pytest.FixtureRequest, make_detector: Callable[..., Detector]) -> Detector:
    return make_detector(request.param)
