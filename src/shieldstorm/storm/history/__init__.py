"""Storm run history: SQLite under .shieldstorm/ by default, PostgreSQL by URL."""

from shieldstorm.storm.history.compare import Comparison, compare_runs
from shieldstorm.storm.history.store import RunSummary, StormHistory

__all__ = ["Comparison", "RunSummary", "StormHistory", "compare_runs"]
