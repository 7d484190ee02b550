"""The live policy: an atomically swappable engine plus an optional shadow candidate.

A request reads `self._state` exactly once, so it is evaluated entirely by the old engine or entirely by
the new one, never a mix (the swap replaces one reference; CPython makes that assignment atomic).
The candidate is evaluated beside the active engine without being enforced; when the two disagree the
divergence (input digest and both decisions) is recorded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shieldstorm.policy.engine import PolicyDecision, PolicyEngine

log = logging.getLogger(__name__)


def input_digest(input: dict[str, Any]) -> str:
    encoded = json.dumps(input, sort_keys=True, separators=(",", ":"), default=str).encode()
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True)
class Divergence:
    input_digest: str
    active_revision: str
    candidate_revision: str
    active: dict[str, Any]
    candidate: dict[str, Any]
    input: dict[str, Any] | None = None
    at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_digest": self.input_digest,
            "active_revision": self.active_revision,
            "candidate_revision": self.candidate_revision,
            "active": self.active,
            "candidate": self.candidate,
            "at": self.at,
        }


@dataclass(frozen=True)
class _State:
    engine: PolicyEngine
    candidate: PolicyEngine | None


def _comparable(decision: PolicyDecision) -> dict[str, Any]:
    return decision.model_dump(include={"decision", "reasons", "redact", "status"})


class PolicyHolder:
    """Holds the active engine (and a shadow candidate). Safe to use from many threads and tasks."""

    def __init__(
        self,
        engine: PolicyEngine,
        *,
        on_divergence: Callable[[Divergence], None] | None = None,
        keep_divergences: int = 1000,
        record_inputs: bool = False,
        shadow_in_background: bool = False,
        shadow_queue: int = 1000,
    ) -> None:
        self._state = _State(engine, None)
        # In the background the candidate adds no latency to the request; when the queue is full the shadow
        # evaluation is skipped (counted in `shadow_dropped`) rather than slowing traffic down.
        self._shadow_queue: queue.Queue[tuple[_State, dict[str, Any], PolicyDecision]] | None = None
        self.shadow_dropped = 0
        if shadow_in_background:
            self._shadow_queue = queue.Queue(maxsize=shadow_queue)
            threading.Thread(target=self._shadow_worker, name="policy-shadow-eval", daemon=True).start()
        self._swap_lock = threading.Lock()
        self.on_divergence = on_divergence
        # Called with every evaluated input (e.g. ShadowRecorder sampling traffic for `policy diff`).
        self.on_input: Callable[[dict[str, Any]], None] | None = None
        self.record_inputs = record_inputs
        self.divergences: deque[Divergence] = deque(maxlen=keep_divergences)
        self.shadow_evaluated = 0
        self.swaps = 0

    @property
    def engine(self) -> PolicyEngine:
        return self._state.engine

    @property
    def candidate(self) -> PolicyEngine | None:
        return self._state.candidate

    @property
    def evaluation_seconds(self) -> float:
        """What `evaluate` of a new input costs the caller: the active engine's running mean, plus the
        candidate's when it is evaluated in the caller's thread (no background shadow queue)."""
        state = self._state
        seconds = state.engine.evaluation_seconds
        if state.candidate is not None and self._shadow_queue is None:
            seconds += state.candidate.evaluation_seconds
        return seconds

    def swap(self, engine: PolicyEngine) -> PolicyEngine:
        """Make `engine` active; returns the previous one. The candidate is kept unless it is the new engine."""
        with self._swap_lock:
            old = self._state
            candidate = None if old.candidate is engine else old.candidate
            self._state = _State(engine, candidate)
            self.swaps += 1
        return old.engine

    def set_candidate(self, engine: PolicyEngine | None) -> None:
        with self._swap_lock:
            self._state = _State(self._state.engine, engine)
            self.divergences.clear()
            self.shadow_evaluated = 0

    def promote(self) -> PolicyEngine:
        """Make the candidate active (raises if there is none)."""
        candidate = self._state.candidate
        if candidate is None:
            raise ValueError("no shadow candidate to promote")
        return self.swap(candidate)

    def evaluate(self, input: dict[str, Any], *, shared: bool = False) -> PolicyDecision:
        """The active engine's decision (`shared`: see `PolicyEngine.evaluate`); the candidate sees the input too."""
        state = self._state  # one read: the whole request uses this engine pair
        decision = state.engine.evaluate(input, shared=shared)
        if state.candidate is not None:
            if self._shadow_queue is None:
                self._shadow(state, input, decision)
            else:
                try:
                    self._shadow_queue.put_nowait((state, input, decision))
                except queue.Full:
                    self.shadow_dropped += 1
        if self.on_input is not None:
            try:
                self.on_input(input)
            except Exception:  # sampling must never affect the decision
                log.exception("policy input hook failed")
        return decision

    def cached(self, input: dict[str, Any]) -> PolicyDecision | None:
        """The active engine's cached decision for `input` (no rego-cpp evaluation), or None.

        Lets a caller answer a repeated input inline and send only real evaluations to a worker thread. None while
        a shadow candidate is staged (every input must reach it) or when the input was not seen before. The
        decision is shared with the cache: read it, never modify it.
        """
        state = self._state
        if state.candidate is not None:
            return None
        decision = state.engine.cached(input)
        if decision is not None and self.on_input is not None:
            try:
                self.on_input(input)
            except Exception:  # sampling must never affect the decision
                log.exception("policy input hook failed")
        return decision

    def _shadow_worker(self) -> None:
        assert self._shadow_queue is not None
        while True:
            state, input, decision = self._shadow_queue.get()
            try:
                self._shadow(state, input, decision)
            finally:
                self._shadow_queue.task_done()

    def wait_for_shadow(self) -> None:
        """Block until queued background shadow evaluations are done (tests, reports)."""
        if self._shadow_queue is not None:
            self._shadow_queue.join()

    def _shadow(self, state: _State, input: dict[str, Any], active: PolicyDecision) -> None:
        assert state.candidate is not None
        try:
            shadow = state.candidate.evaluate(input)
            self.shadow_evaluated += 1
            left, right = _comparable(active), _comparable(shadow)
            if left == right:
                return
            divergence = Divergence(
                input_digest=input_digest(input),
                active_revision=state.engine.revision,
                candidate_revision=state.candidate.revision,
                active=left,
                candidate=right,
                input=dict(input) if self.record_inputs else None,
            )
            self.divergences.append(divergence)
            if self.on_divergence is not None:
                self.on_divergence(divergence)
        except Exception:  # the shadow must never affect the enforced decision
            log.exception("shadow policy evaluation failed")
