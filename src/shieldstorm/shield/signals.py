"""Request signals per principal: rate, size and novelty, folded into one anomaly score in [0, 1].

- rate: requests in the sliding window relative to the principal's own typical window rate, sampled at most once
  a second per principal (a busy principal's rate, and so its risk and policy input, changes once a second rather
  than on every request: repeated requests then share one policy decision-cache entry; the hard limit is GCRA's);
- size: how far the body size is above the principal's running mean (z-score via Welford, log scale);
- novelty: share of the request's word 3-gram hashes never seen from this principal before.

An optional IsolationForest (trained offline with scikit-learn, see `anomaly.py`) replaces the hand-made
combination when configured; it is scored from exported arrays, not through scikit-learn.
"""

from __future__ import annotations

import functools
import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from shieldstorm.shield.anomaly import ExportedForest
from shieldstorm.shield.config import SignalsConfig

MAX_SHINGLES = 4096  # per principal, oldest forgotten first
RATE_SAMPLE_SECONDS = 1.0
MIN_HISTORY = 5  # below this many requests a principal is new: no size/novelty judgement yet


@dataclass
class RequestSignals:
    rate: float  # requests per second in the window
    size: int
    size_z: float
    novelty: float
    anomaly: float  # 0..1

    def as_dict(self) -> dict[str, float]:
        return {"rate": round(self.rate, 3), "size_z": round(self.size_z, 3), "novelty": round(self.novelty, 3),
                "anomaly": round(self.anomaly, 3)}


@dataclass
class _Principal:
    arrivals: deque[float] = field(default_factory=deque)
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    shingles: OrderedDict[int, None] = field(default_factory=OrderedDict)
    sampled_at: float = -math.inf  # when `sampled` (requests in the window) was last counted
    sampled: int = 0


def shingle_hashes(text: str, limit: int = 256) -> frozenset[int]:
    return _shingle_hashes(text, limit)


# Chat clients resend the same turns (retries, agents looping over one prompt): a repeated text reuses its hashes
# (a pure function of the text; callers only read the set).
@functools.lru_cache(maxsize=1024)
def _shingle_hashes(text: str, limit: int) -> frozenset[int]:
    words = text.lower().split()
    if len(words) < 3:
        return frozenset({hash(tuple(words))}) if words else frozenset()
    # Python's tuple hash over the three words: about 4x cheaper than joining and crc32-ing each shingle, which
    # mattered once every request carries a new text. The hashes only ever meet other hashes of this process
    # (the per-principal shingle memory), so the per-process string-hash seed does not matter.
    words = words[:limit + 2]
    return frozenset(map(hash, zip(words, words[1:], words[2:], strict=False)))


def _squash(value: float, scale: float) -> float:
    """Map [0, ∞) to [0, 1): 0 → 0, scale → 0.5."""
    return value / (value + scale) if value > 0 else 0.0


class SignalTracker:
    def __init__(self, config: SignalsConfig) -> None:
        self.config = config
        self._principals: OrderedDict[str, _Principal] = OrderedDict()
        self.forest = ExportedForest.load(config.isolation_forest) if config.isolation_forest else None

    def observe(self, key: str, size: int, text: str, now: float | None = None) -> RequestSignals:
        now = time.monotonic() if now is None else now
        state = self._principals.get(key)
        if state is None:
            state = _Principal()
            self._principals[key] = state
            while len(self._principals) > self.config.max_principals:
                self._principals.popitem(last=False)
        else:
            self._principals.move_to_end(key)
        window = self.config.window_seconds
        arrivals = state.arrivals
        arrivals.append(now)
        if now - state.sampled_at >= RATE_SAMPLE_SECONDS:
            while arrivals and arrivals[0] < now - window:
                arrivals.popleft()
            state.sampled, state.sampled_at = len(arrivals), now
        rate = state.sampled / window

        log_size = math.log1p(size)
        size_z = 0.0
        if state.count >= MIN_HISTORY:
            std = math.sqrt(state.m2 / (state.count - 1)) if state.count > 1 else 0.0
            size_z = (log_size - state.mean) / max(std, 0.25)
        state.count += 1
        delta = log_size - state.mean
        state.mean += delta / state.count
        state.m2 += delta * (log_size - state.mean)

        shingles = shingle_hashes(text)
        novelty = 0.0
        if shingles and state.count > MIN_HISTORY:
            novelty = sum(1 for h in shingles if h not in state.shingles) / len(shingles)
        for h in shingles:
            state.shingles[h] = None
        while len(state.shingles) > MAX_SHINGLES:
            state.shingles.popitem(last=False)

        if self.forest is not None:
            anomaly = self.forest.score([rate, size_z, novelty, log_size])
        else:
            # Hand-made: a size far above normal and a burst well above window-average both count; novelty alone
            # is normal for chat traffic, so it only adds when combined with size.
            size_part = _squash(max(size_z - 2.0, 0.0), 2.0)
            baseline = self.config.burst_baseline
            burst_part = _squash(max(state.sampled - baseline, 0), baseline)
            anomaly = 1 - (1 - size_part) * (1 - 0.5 * burst_part) * (1 - 0.3 * novelty * size_part)
        return RequestSignals(rate=rate, size=size, size_z=size_z, novelty=novelty, anomaly=min(max(anomaly, 0.0), 1.0))
