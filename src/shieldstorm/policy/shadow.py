"""Shadow mode and replay diffs.

- `ShadowRecorder` persists what the holder observes, off the request path (a queue and one writer thread):
  divergences between the active bundle and the candidate, and a sample of inputs for `policy diff`.
- `summarise` turns recorded divergences into the `policy shadow report`.
- `diff_engines` replays a traffic sample against two bundles and scores the risk of what would change.
  Loosening (a block or challenge that would become allow) weighs more than tightening: a tightening costs
  availability, a loosening lets attacks through.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shieldstorm.policy.engine import PolicyDecision, PolicyEngine
from shieldstorm.policy.holder import Divergence, PolicyHolder, input_digest

log = logging.getLogger(__name__)

_STRENGTH = {"allow": 0, "redact": 1, "challenge": 2, "block": 3}


def transition_risk(old: str, new: str) -> float:
    """0..1: how risky it is for one request's decision to change from `old` to `new`."""
    if old == new:
        return 0.1  # same action, different reasons/redactions/status
    delta = _STRENGTH[new] - _STRENGTH[old]
    if delta < 0:  # loosening
        return min(1.0, 0.4 + 0.2 * -delta)
    return min(1.0, 0.1 + 0.1 * delta)  # tightening


def risk_label(score: float) -> str:
    return "high" if score >= 30 else "medium" if score >= 10 else "low" if score > 0 else "none"


class ShadowRecorder:
    """Receives divergences and samples from the holder and writes them to the policy store asynchronously."""

    def __init__(self, store: Any, *, sample_rate: float = 0.01, max_queue: int = 10_000) -> None:
        self.store = store
        self.sample_rate = sample_rate
        self.dropped = 0
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="policy-shadow", daemon=True)
        self._thread.start()

    def attach(self, holder: PolicyHolder) -> None:
        holder.on_divergence = self.divergence
        holder.on_input = self.maybe_sample

    def _put(self, item: tuple[str, Any]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1  # never block a request on the recorder

    def divergence(self, divergence: Divergence) -> None:
        self._put(("divergence", divergence))

    def maybe_sample(self, document: dict[str, Any]) -> None:
        if self.sample_rate >= 1.0 or random.random() < self.sample_rate:
            self._put(("sample", dict(document)))

    def _run(self) -> None:
        while True:
            kind, item = self._queue.get()
            try:
                if kind == "stop":
                    return
                if kind == "divergence":
                    self.store.record_divergence(item)
                else:
                    self.store.record_sample(input_digest(item), item)
            except Exception:
                log.exception("could not record policy shadow data")
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        self._queue.join()

    def close(self) -> None:
        self.flush()
        self._queue.put(("stop", None))
        self._thread.join(5)


def summarise(divergences: Iterable[dict[str, Any]]) -> dict[str, Any]:
    rows = list(divergences)
    transitions: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    candidates: Counter[str] = Counter()
    for row in rows:
        transitions[f"{row['active']['decision']} -> {row['candidate']['decision']}"] += 1
        for reason in row["candidate"].get("reasons", []):
            reasons[reason] += 1
        candidates[row["candidate_revision"]] += 1
    return {
        "divergences": len(rows),
        "distinct_inputs": len({row["input_digest"] for row in rows}),
        "candidates": dict(candidates),
        "transitions": dict(transitions.most_common()),
        "candidate_reasons": dict(reasons.most_common(10)),
        "examples": [
            {"input_digest": r["input_digest"], "active": r["active"], "candidate": r["candidate"]} for r in rows[:5]
        ],
        "clean": not rows,
    }


@dataclass
class DiffReport:
    total: int = 0
    changed: int = 0
    transitions: Counter[str] = field(default_factory=Counter)
    risk_score: float = 0.0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def risk(self) -> str:
        return risk_label(self.risk_score)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "changed": self.changed,
            "transitions": dict(self.transitions.most_common()),
            "risk_score": round(self.risk_score, 1),
            "risk": self.risk,
            "examples": self.examples,
        }


def _key(decision: PolicyDecision) -> tuple[Any, ...]:
    return (decision.decision, tuple(decision.reasons), tuple(decision.redact), decision.status)


def diff_engines(old: PolicyEngine, new: PolicyEngine, samples: Iterable[dict[str, Any]]) -> DiffReport:
    """Replay `samples` through both engines. Risk score: 0..100, the mean transition risk x 100, where any
    loosening found also sets a floor of 30 ("high"): one sample that would be let through is enough to look."""
    report = DiffReport()
    total_risk = 0.0
    loosened = False
    for document in samples:
        report.total += 1
        before, after = old.evaluate(document), new.evaluate(document)
        if _key(before) == _key(after):
            continue
        report.changed += 1
        report.transitions[f"{before.decision} -> {after.decision}"] += 1
        total_risk += transition_risk(before.decision, after.decision)
        loosened = loosened or _STRENGTH[after.decision] < _STRENGTH[before.decision]
        if len(report.examples) < 10:
            report.examples.append(
                {
                    "input_digest": input_digest(document),
                    "old": before.model_dump(include={"decision", "reasons", "redact", "status"}),
                    "new": after.model_dump(include={"decision", "reasons", "redact", "status"}),
                }
            )
    if report.total:
        report.risk_score = 100.0 * total_risk / report.total
        if loosened:
            report.risk_score = max(report.risk_score, 30.0)
    return report
