"""Response inspection: PII/secrets leaving in a response are redacted or blocked (per `response:` config), and a
canary from the request's system prompt appearing in the output blocks the response.

Streams are inspected incrementally. `StreamGuard` holds back the last `stream_holdback_chars` characters (a
secret or canary may be split across chunks) and releases text only once it is known to be clean or redacted; a
block cuts the stream off mid-way. `SSEChatFilter` applies one guard per choice of an OpenAI-compatible
`chat.completion.chunk` event stream and rewrites the `delta.content` of each event with the released text.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shieldstorm.shield.config import ResponseConfig
from shieldstorm.shield.engines import DetectionEngine, PolicyGate

_STRICTNESS = {"allow": 0, "redact": 1, "block": 2}


class ResponseBlocked(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass
class TextVerdict:
    action: str  # allow | redact | block
    text: str
    reasons: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)


class ResponseInspector:
    def __init__(self, config: ResponseConfig, detection: DetectionEngine, policy: PolicyGate | None = None) -> None:
        self.config = config
        self.detection = detection
        self.policy = policy

    def inspect(self, text: str, canaries: list[str], *, protected_prefix: int = 0, cached: bool = True) -> TextVerdict:
        """Decide on one text. Findings ending before `protected_prefix` were already released (streams)."""
        for canary in canaries:
            position = text.find(canary)
            if position != -1 and position + len(canary) > protected_prefix:
                return TextVerdict("block", text, ["canary from the system prompt in the response"], ["canary"])
        # Stream windows are unique texts: they bypass the scan cache instead of evicting useful entries from it.
        result = (self.detection.scan_many if cached else self.detection.detector.scan_many)([text])[0]
        findings = [f for f in result.findings if str(f.kind) in ("pii", "secret") and f.end > protected_prefix]
        if not findings:
            return TextVerdict("allow", text)
        # The configured floor (response.pii_action / secret_action) ...
        action = "allow"
        reasons: list[str] = []
        for finding in findings:
            wanted: str = self.config.secret_action if str(finding.kind) == "secret" else self.config.pii_action
            reasons.append(f"{finding.kind}:{finding.entity or finding.category} in response")
            if _STRICTNESS[wanted] > _STRICTNESS[action]:
                action = wanted
        # ... and the Rego policy (direction "response"): the stricter of the two wins.
        if self.policy is not None and self.policy.holder is not None:
            detections = [{"pattern_id": f.pattern_id, "kind": str(f.kind), "category": f.category,
                           "severity": str(f.severity), "entity": f.entity} for f in findings]
            gate = self.policy.evaluate({"direction": "response", "detections": detections, "risk": 0.0,
                                         "attack": False, "categories": sorted({f.category for f in findings})})
            wanted = "block" if gate.decision in ("block", "challenge") else gate.decision
            if _STRICTNESS.get(wanted, 2) > _STRICTNESS[action]:
                action = wanted
                reasons.extend(f"policy:{r}" for r in gate.reasons)
        categories = sorted({f.category for f in findings})
        reasons = list(dict.fromkeys(reasons))
        if action == "redact":
            return TextVerdict("redact", str(self.detection.detector.redact(text).text), reasons, categories)
        return TextVerdict(action, text, reasons, categories)

    def guard(self, canaries: list[str]) -> StreamGuard:
        return StreamGuard(self, canaries, self.config.stream_holdback_chars)


class StreamGuard:
    """Incremental inspection of one text stream. `push` returns the text that may be released now."""

    def __init__(self, inspector: ResponseInspector, canaries: list[str], holdback: int) -> None:
        self.inspector = inspector
        self.canaries = canaries
        self.holdback = max(holdback, max((len(c) for c in canaries), default=0))
        self.pending = ""
        self.tail = ""  # recently released text: context so a canary split across the cut is still seen
        self.actions: set[str] = set()
        self.reasons: list[str] = []

    def _release(self, final: bool) -> str:
        context = self.tail + self.pending
        verdict = self.inspector.inspect(context, self.canaries, protected_prefix=len(self.tail), cached=False)
        if verdict.action == "block":
            raise ResponseBlocked(verdict.reasons)
        cut = len(self.pending) if final else max(len(self.pending) - self.holdback, 0)
        if cut == 0:
            return ""
        released_raw = self.pending[:cut]
        released = released_raw
        if verdict.action == "redact":
            self.actions.add("redact")
            self.reasons.extend(r for r in verdict.reasons if r not in self.reasons)
            # Redact the released part on its own; the holdback keeps findings from straddling the cut.
            released = str(self.inspector.detection.detector.redact(released_raw).text)
        self.pending = self.pending[cut:]
        self.tail = (self.tail + released_raw)[-self.holdback:] if self.holdback else ""
        return released

    def push(self, text: str) -> str:
        if not text:
            return ""
        self.pending += text
        return self._release(final=False)

    def finish(self) -> str:
        return self._release(final=True) if self.pending else ""


def _events(buffer: bytearray) -> Iterator[bytes]:
    """Complete SSE events (separated by a blank line) from the buffer; the incomplete rest stays in it."""
    while True:
        normalised_end = -1
        for separator in (b"\n\n", b"\r\n\r\n"):
            index = buffer.find(separator)
            if index != -1 and (normalised_end == -1 or index < normalised_end):
                normalised_end = index
                sep_len = len(separator)
        if normalised_end == -1:
            return
        event = bytes(buffer[:normalised_end])
        del buffer[: normalised_end + sep_len]
        yield event


def _data_of(event: bytes) -> str | None:
    lines = [line[5:].lstrip() for line in event.decode("utf-8", "replace").splitlines() if line.startswith("data:")]
    return "\n".join(lines) if lines else None


class SSEChatFilter:
    """Rewrites an OpenAI chat-completion SSE stream chunk by chunk. Raises ResponseBlocked to cut it off."""

    def __init__(self, inspector: ResponseInspector, canaries: list[str], max_event_bytes: int) -> None:
        self.inspector = inspector
        self.canaries = canaries
        self.guards: dict[int, StreamGuard] = {}
        self.buffer = bytearray()
        self.max_event_bytes = max_event_bytes
        self.last_chunk: dict[str, Any] | None = None

    def _guard(self, index: int) -> StreamGuard:
        if index not in self.guards:
            self.guards[index] = self.inspector.guard(self.canaries)
        return self.guards[index]

    def feed(self, chunk: bytes) -> bytes:
        self.buffer += chunk
        out: list[bytes] = []
        for event in _events(self.buffer):
            out.append(self._event(event))
        if len(self.buffer) > self.max_event_bytes:
            raise ResponseBlocked(["response event too large to inspect"])
        return b"".join(out)

    def _event(self, event: bytes) -> bytes:
        data = _data_of(event)
        if data is None:
            return event + b"\n\n"
        if data.strip() == "[DONE]":
            return self._flush_all() + event + b"\n\n"
        try:
            payload = json.loads(data)
        except ValueError:
            return event + b"\n\n"
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            return event + b"\n\n"
        self.last_chunk = payload
        for choice in payload["choices"]:
            if not isinstance(choice, dict):
                continue
            guard = self._guard(int(choice.get("index", 0) or 0))
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                delta["content"] = guard.push(delta["content"])
            if choice.get("finish_reason") is not None:
                rest = guard.finish()
                if rest:
                    if not isinstance(delta, dict):
                        delta = choice["delta"] = {}
                    delta["content"] = (delta.get("content") or "") + rest
        return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"

    def _flush_all(self) -> bytes:
        out = []
        for index, guard in self.guards.items():
            rest = guard.finish()
            if rest:
                template = dict(self.last_chunk or {"object": "chat.completion.chunk"})
                template["choices"] = [{"index": index, "delta": {"content": rest}, "finish_reason": None}]
                out.append(b"data: " + json.dumps(template, ensure_ascii=False).encode() + b"\n\n")
        return b"".join(out)

    def close(self) -> bytes:
        rest = b""
        if self.buffer:
            rest = self._event(bytes(self.buffer))
            self.buffer.clear()
        return rest + self._flush_all()

    @property
    def redacted(self) -> bool:
        return any("redact" in g.actions for g in self.guards.values())


class TextStreamFilter:
    """Generic streamed text (non-SSE): same guard over the decoded body."""

    def __init__(self, inspector: ResponseInspector, canaries: list[str]) -> None:
        self.guard = inspector.guard(canaries)
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, chunk: bytes) -> bytes:
        return self.guard.push(self.decoder.decode(chunk)).encode()

    def close(self) -> bytes:
        return (self.guard.push(self.decoder.decode(b"", final=True)) + self.guard.finish()).encode()


def openai_response_texts(document: Any) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, text) of every generated text in a chat/legacy completion or Responses API body."""
    if not isinstance(document, dict):
        return
    for index, choice in enumerate(document.get("choices") or []):
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        if isinstance(message, dict):
            if isinstance(message.get("content"), str):
                yield ("choices", index, "message", "content"), message["content"]
            for call_index, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    path = ("choices", index, "message", "tool_calls", call_index, "function", "arguments")
                    yield path, function["arguments"]
        if isinstance(choice.get("text"), str):
            yield ("choices", index, "text"), choice["text"]
    for index, item in enumerate(document.get("output") or []):
        if isinstance(item, dict):
            for part_index, part in enumerate(item.get("content") or []):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield ("output", index, "content", part_index, "text"), part["text"]
