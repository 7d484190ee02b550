"""Hot reload: watch user pattern directories and rebuild the detector's database on change."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import watchfiles

from shieldstorm.errors import ConfigError

if TYPE_CHECKING:
    from shieldstorm.detect.detector import Detector

log = logging.getLogger(__name__)


def _is_pattern_file(_change: watchfiles.Change, path: str) -> bool:
    return path.endswith((".yaml", ".yml"))


class PatternWatcher:
    """A daemon thread that calls `detector.reload()` after pattern files change.

    A broken file is rejected (`detector.last_reload_error`), the previous database keeps serving.
    `reloads` counts successful rebuilds, `errors` rejected ones (handy for tests and metrics).
    """

    def __init__(self, detector: Detector, dirs: Sequence[Path], *, debounce_ms: int = 200) -> None:
        self._detector = detector
        self._dirs = [Path(d) for d in dirs]
        self._debounce_ms = debounce_ms
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shieldstorm-pattern-watch", daemon=True)
        self.reloads = 0
        self.errors = 0
        self._changed = threading.Condition()

    def start(self) -> PatternWatcher:
        self._thread.start()
        self._ready.wait(timeout=5)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> PatternWatcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def wait_for_reload(self, count: int, timeout: float = 10.0) -> bool:
        """Block until `reloads + errors` reaches `count` (for tests and scripted use)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.reloads + self.errors >= count, timeout=timeout)

    def _run(self) -> None:
        watched = [str(d) for d in self._dirs if d.is_dir()]
        if not watched:
            self._ready.set()
            return
        iterator = watchfiles.watch(
            *watched,
            watch_filter=_is_pattern_file,
            debounce=self._debounce_ms,
            stop_event=self._stop,
            yield_on_timeout=True,
            rust_timeout=200,
            raise_interrupt=False,
        )
        self._ready.set()
        for changes in iterator:
            if self._stop.is_set():
                break
            if not changes:
                continue
            try:
                self._detector.reload()
                outcome = "reloads"
            except ConfigError as exc:
                log.warning("pattern change rejected: %s", exc)
                outcome = "errors"
            with self._changed:
                setattr(self, outcome, getattr(self, outcome) + 1)
                self._changed.notify_all()
