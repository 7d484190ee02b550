"""The Shield's decision pipeline, top to bottom, for one request:

    1. identity     API key or JWT (JWKS)                           → tenant, principal       (401/403)
    2. rate limit   GCRA per tenant and per principal               → X-RateLimit-*            (429)
    3. extraction   configured JSON paths / every OpenAI message    → text segments            (400)
    4. detection    the shared detection engine over the segments   → findings, detector risk
    5. signals      rate, size, novelty per principal               → anomaly score
    6. policy       composite risk (risk.py) + Rego via PolicyHolder → allow/redact/challenge/block
    7. decision     status, reasons, correlation id; `redact` rewrites the body before it is forwarded

Responses go through `inspect_response_text` (PII/secrets per policy, canaries from the system prompt → block).
Reasons name categories, pattern ids and message roles only: never the matched text.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import re2

from shieldstorm.detect.models import ScanResult
from shieldstorm.errors import InputError
from shieldstorm.shield.config import ShieldConfig
from shieldstorm.shield.engines import DetectionEngine, GateDecision, PolicyGate
from shieldstorm.shield.extract import Extracted, Extractor, Segment, set_at
from shieldstorm.shield.identity import Authenticator, AuthError, Identity
from shieldstorm.shield.metrics import ShieldMetrics
from shieldstorm.shield.ratelimit import UNLIMITED, RateLimiter, RateResult
from shieldstorm.shield.risk import composite_risk
from shieldstorm.shield.signals import RequestSignals, SignalTracker

DEFAULT_STATUS = {"block": 403, "challenge": 401}
SENSITIVE_KINDS = ("pii", "secret")


@dataclass
class RequestInfo:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    client_ip: str
    body: bytes
    peer: str = ""
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass
class Decision:
    action: str  # allow | redact | challenge | block
    status: int
    risk: float
    reasons: list[str]
    correlation_id: str
    error_type: str | None = None  # unauthenticated, rate_limited, bad_request, blocked, challenge, ...
    identity: Identity | None = None
    rate: RateResult = UNLIMITED
    categories: list[str] = field(default_factory=list)
    detections: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    extracted: Extracted | None = None
    signals: RequestSignals | None = None
    canaries: list[str] = field(default_factory=list)
    policy_error: str | None = None
    direction: str = "request"
    client_ip: str | None = None
    message: str | None = None  # client-facing message for non-policy refusals (auth, rate, bad body)

    @property
    def forward(self) -> bool:
        return self.action in ("allow", "redact")

    @property
    def tenant(self) -> str:
        return self.identity.tenant if self.identity else "unknown"

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        headers.update(self.rate.headers() if self.rate.backend != "none" else {})
        headers["X-Shield-Decision"] = self.action
        headers["X-Shield-Risk"] = f"{self.risk:.2f}"
        headers["X-Correlation-Id"] = self.correlation_id
        return headers

    def error_json(self) -> bytes:
        """What the client sees on a refusal: why, but never the offending content."""
        messages = {
            "block": "Request blocked by the ShieldStorm gateway.",
            "challenge": "Additional verification is required for this request.",
        }
        return json.dumps({"error": {
            "type": self.error_type or self.action,
            "message": self.message or messages.get(self.action, "Request refused."),
            "decision": self.action,
            "risk": self.risk,
            "reasons": self.reasons,
            "correlation_id": self.correlation_id,
        }}).encode()

    def summary(self) -> dict[str, Any]:
        """The audited and admin-visible record: redacted by construction (no texts)."""
        return {
            "correlation_id": self.correlation_id,
            "direction": self.direction,
            "action": self.action,
            "status": self.status,
            "risk": self.risk,
            "reasons": self.reasons,
            "categories": self.categories,
            "patterns": sorted({d["pattern_id"] for d in self.detections}),
            "tenant": self.tenant,
            "principal": self.identity.principal if self.identity else None,
            "client_ip": self.client_ip,
            "rate_backend": self.rate.backend,
            "signals": self.signals.as_dict() if self.signals else None,
            "policy_error": self.policy_error,
        }


def policy_risk(risk: float) -> float:
    """The risk as the policy sees it: rounded *up* to 0.01 (the resolution of X-Shield-Risk and of the policy's
    thresholds). A `risk >= t` or `risk > t` rule with a two-decimal threshold `t` never gets more lenient
    (`>` is unchanged; `>=` fires from `t - 0.01` exclusive), and inputs that differ only in the third decimal
    share one policy decision-cache entry. The rounding to 9 decimals first absorbs float noise (0.1 + 0.2)."""
    return math.ceil(round(risk * 100, 9)) / 100


def _refusal(info: RequestInfo, status: int, error_type: str, reason: str, **extra: Any) -> Decision:
    return Decision(action="block", status=status, risk=1.0 if status in (401, 403) else 0.0, reasons=[reason],
                    client_ip=info.client_ip,
                    correlation_id=info.correlation_id, error_type=error_type, message=reason, **extra)


# Categories of sensitive data (contract 1). They drive redaction, not the attack risk: an e-mail address in a
# request is data to protect, not evidence of an attack.
DATA_CATEGORIES = frozenset(
    {"identification", "financial", "contact", "health", "location", "biometric", "credentials", "sensitive"}
)


def merge_scans(segment_sources: list[str], results: list[ScanResult]) -> tuple[float, bool, str,
                                                                                  list[dict[str, Any]]]:
    """(attack risk, attack, verdict, detections) over all segments. Risk and verdict count injection only."""
    risk = 0.0
    attack = False
    verdict = "allow"
    detections: list[dict[str, Any]] = []
    for source, result in zip(segment_sources, results, strict=True):
        injection_scores = [score for category, score in result.categories.items() if category not in DATA_CATEGORIES]
        if injection_scores:
            risk = max(risk, *injection_scores)
            if str(result.verdict) == "block" or (str(result.verdict) == "review" and verdict == "allow"):
                verdict = str(result.verdict)
        if result.incomplete and verdict == "allow":
            # The detector reached a scan bound (e.g. more encoded payloads than it decodes): part of the text
            # was not inspected, so the request cannot be a plain allow (the default policy challenges review).
            verdict = "review"
        attack = attack or result.attack
        for finding in result.findings:
            detections.append({
                "pattern_id": finding.pattern_id, "kind": str(finding.kind), "category": finding.category,
                "severity": str(finding.severity), "entity": finding.entity, "source": source,
            })
    return risk, attack, verdict, detections


def policy_detections(detections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per distinct finding type and source (the same pattern hit in five user messages is one fact for
    the policy): a smaller input document converts and evaluates faster in rego-cpp. The source stays part of the
    key because the policy judges a finding in a tool result more strictly than the same one in the user's turn."""
    unique: dict[tuple[Any, ...], dict[str, Any]] = {}
    for d in detections:
        key = (d["pattern_id"], d["kind"], d["category"], d["severity"], d["entity"], d["source"])
        if key not in unique:
            unique[key] = {"pattern_id": key[0], "kind": key[1], "category": key[2], "severity": key[3],
                           "entity": key[4], "source": key[5]}
    return list(unique.values())


def detection_reasons(detections: list[dict[str, Any]], limit: int = 8) -> list[str]:
    seen: dict[tuple[str, str, str], None] = {}
    for d in detections:
        seen.setdefault((d["kind"], d["entity"] or d["category"], d["source"]), None)
    reasons = [f"{kind}:{what} in {source}" for kind, what, source in seen]
    return reasons[:limit] + ([f"and {len(reasons) - limit} more"] if len(reasons) > limit else [])


class Pipeline:
    def __init__(self, config: ShieldConfig, *, metrics: ShieldMetrics, session_factory: Any) -> None:
        self.config = config
        self.metrics = metrics
        self.auth = Authenticator(config.identity, session_factory)
        self.limiter = RateLimiter(config.rate_limit, on_backend_error=self._rate_backend_error)
        ex = config.extraction
        fmt = "openai" if config.mode == "openai" and ex.format == "auto" else ex.format
        self.extractor = Extractor(fmt, ex.json_paths, scan_raw_text=ex.scan_raw_text, max_segments=ex.max_segments)
        self.detection = DetectionEngine(config.detection)
        self.signals = SignalTracker(config.signals) if config.signals.enabled else None
        self.policy = PolicyGate(config.policy, config.risk)
        self.canary_pattern = re2.compile(config.response.canary_pattern) if config.response.canary_pattern else None
        self.recent: deque[dict[str, Any]] = deque(maxlen=config.admin.recent_decisions)
        self._canary_memo: dict[str, tuple[str, ...]] = {}

    def _rate_backend_error(self, error: str) -> None:
        self.metrics.ratelimit_backend_errors.labels(error).inc()
        self.metrics.ratelimit_fallback.set(1)

    def policy_input(self, info: RequestInfo, identity: Identity, *, risk: float, attack: bool,
                     detections: list[dict[str, Any]], rate: RateResult, extracted: Extracted | None,
                     signals: RequestSignals | None, verdict: str = "allow",
                     direction: str = "request") -> dict[str, Any]:
        allow = self.config.header_allowlist
        return {
            "tenant": identity.tenant,
            "principal": identity.principal,
            "method": info.method,
            "path": info.path.split("?", 1)[0],
            "headers": {name: info.headers[name] for name in allow if name in info.headers},
            "client_ip": info.client_ip,
            "detections": policy_detections(detections),
            "categories": sorted({d["category"] for d in detections}),
            "attack": attack,
            "verdict": verdict,
            "risk": policy_risk(risk),
            "rate": round(signals.rate * 60, 3) if signals else 0.0,  # requests per minute by this principal
            "rate_limit": {"limit": rate.limit, "remaining": rate.remaining, "pressure": round(rate.pressure, 4)},
            "body_size": len(info.body),
            "model": extracted.model if extracted else None,
            "tools": extracted.tools if extracted else [],
            "signals": signals.as_dict() if signals else {},
            "direction": direction,
        }

    async def decide(self, info: RequestInfo) -> Decision:
        m = self.metrics
        # 1. identity
        with m.stage("identity"):
            try:
                identity = await self.auth.identify(info.headers)
            except AuthError as exc:
                error_type = "identity_unavailable" if exc.status == 503 else "unauthenticated"
                return _refusal(info, exc.status, error_type, f"identity: {exc}")
        # 2. rate limit
        with m.stage("rate_limit"):
            rate = await self.limiter.check(identity.tenant, identity.principal)
            if self.limiter.redis is not None and not self.limiter.fallback_active:
                m.ratelimit_fallback.set(0)
        if not rate.allowed:
            m.ratelimit_rejections.labels(m.tenant_label(identity.tenant), rate.scope or "unknown").inc()
            status = 503 if rate.backend == "closed" else 429
            return _refusal(info, status, "rate_limited", f"rate limit exceeded ({rate.scope})", identity=identity,
                            rate=rate)
        # 3. body extraction
        with m.stage("extraction"):
            try:
                extracted = self.extractor.extract(info.body, info.content_type)
            except InputError as exc:
                m.client_errors.labels("bad_body").inc()
                return _refusal(info, 400, "bad_request", str(exc), identity=identity, rate=rate)
            if "?" in info.path:  # query values are input too (and all nginx auth_request gets besides headers)
                query = unquote_plus(info.path.split("?", 1)[1])
                extracted.segments.append(Segment("query", (), query))
        # 4. detection
        with m.stage("detection"):
            segments = extracted.segments
            results = self.detection.scan_many([s.text for s in segments]) if segments else []
            detector_risk, attack, verdict, detections = merge_scans([s.source for s in segments], results)
            if self.config.extraction.trust_system_prompt:
                detections = [d for d in detections if not (d["source"] == "system" and d["kind"] in SENSITIVE_KINDS)]
        # 5. request signals
        with m.stage("signals"):
            signals = None
            if self.signals is not None:
                text = " ".join(s.text for s in segments if s.source in ("user", "raw", "json"))[:4096]
                signals = self.signals.observe(f"{identity.tenant}/{identity.principal}", len(info.body), text)
        # 6. policy over the composite risk
        with m.stage("policy"):
            risk = composite_risk(self.config.risk, detector_risk, signals.anomaly if signals else 0.0, rate.pressure)
            document = self.policy_input(info, identity, risk=risk, attack=attack, detections=detections, rate=rate,
                                         extracted=extracted, signals=signals, verdict=verdict)
            # Evaluated inline on the event loop, cache hit or not: a rego-cpp evaluation of a new input
            # (about 0.2 ms) costs less than the hop to a worker thread and back, which also made the loop wait
            # for the GIL (docs/shield.md, "Third round"). A slow policy (policy.inline_max_ms) still goes to a
            # thread, so it does not stall every other connection; its repeated inputs are answered inline.
            if self.policy.inline:
                gate = self.policy.evaluate(document)
            else:
                cached = self.policy.cached(document)
                gate = cached if cached is not None else await asyncio.to_thread(self.policy.evaluate, document)
        # 7. decision
        with m.stage("decision"):
            decision = self._finish(info, identity, rate, extracted, signals, risk, detections, gate)
        return decision

    def _finish(self, info: RequestInfo, identity: Identity, rate: RateResult, extracted: Extracted,
                signals: RequestSignals | None, risk: float, detections: list[dict[str, Any]],
                gate: GateDecision) -> Decision:
        action = gate.decision if gate.decision in ("allow", "redact", "challenge", "block") else "block"
        reasons = list(dict.fromkeys([*gate.reasons, *detection_reasons(detections)]))
        if gate.fail_mode_applied:
            reasons.append(f"policy fail mode applied ({self.config.policy.fail_mode})")
        decision = Decision(
            action=action, status=gate.status or DEFAULT_STATUS.get(action, 200), risk=risk, reasons=reasons,
            correlation_id=info.correlation_id, error_type={"block": "blocked", "challenge": "challenge"}.get(action),
            identity=identity, rate=rate, categories=sorted({d["category"] for d in detections}),
            detections=detections, headers=dict(gate.headers), body=info.body, extracted=extracted, signals=signals,
            policy_error=gate.error, client_ip=info.client_ip,
        )
        if action == "challenge":
            decision.headers.setdefault("WWW-Authenticate", 'ShieldStorm-Challenge realm="shield"')
        if action == "redact":
            decision.body = self.redact_body(info.body, extracted)
        decision.canaries = self.canaries_for(extracted)
        return decision

    def redact_body(self, body: bytes, extracted: Extracted) -> bytes:
        detector = self.detection.detector
        if extracted.document is None:
            raw = [s for s in extracted.segments if s.source == "raw"]
            return str(detector.redact(raw[0].text).text).encode() if raw else body
        document = extracted.document
        for segment in extracted.segments:
            if not segment.path or segment.source == "tool_definition":
                continue
            if segment.source == "system" and self.config.extraction.trust_system_prompt:
                continue
            redacted = detector.redact(segment.text)
            if redacted.replacements:
                set_at(document, segment.path, redacted.text)
        return json.dumps(document, ensure_ascii=False).encode()

    def canaries_for(self, extracted: Extracted | None) -> list[str]:
        canaries = list(self.config.response.canaries)
        if extracted is not None and self.canary_pattern is not None:
            system = extracted.system_prompt
            if system:
                canaries.extend(self._system_canaries(system))
        return [c for c in dict.fromkeys(canaries) if c]

    def _system_canaries(self, system: str) -> tuple[str, ...]:
        """Canary tokens of one system prompt; an agent sends the same system prompt with every request."""
        found = self._canary_memo.get(system)
        if found is None:
            assert self.canary_pattern is not None
            found = tuple(match if isinstance(match, str) else match[0]
                          for match in self.canary_pattern.findall(system))
            if len(self._canary_memo) >= 256:
                self._canary_memo.clear()
            self._canary_memo[system] = found
        return found

    def record(self, decision: Decision) -> dict[str, Any]:
        summary = decision.summary()
        summary["time"] = time.time()
        self.recent.append(summary)
        self.metrics.record_decision(decision.action, decision.tenant, decision.categories, decision.direction)
        return summary
