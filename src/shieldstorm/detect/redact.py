"""Redaction of PII/secret spans: typed placeholders (`[EMAIL_1]`) or masks, reversible via a vault."""

from __future__ import annotations

import threading
from typing import Literal

import re2

from shieldstorm.detect.models import Finding, Kind, Redaction, Replacement

RedactMode = Literal["placeholder", "mask"]
_PLACEHOLDER = re2.compile(r"\[[A-Z0-9_]+_[0-9]+\]")
_SEVERITY_RANK = {"critical": 3, "high": 2, "medium": 1, "low": 0}


class RedactionVault:
    """Maps placeholders to original values. Same value (and entity) -> same placeholder.

    Keep it in memory for the life of a conversation; it holds the secrets that were redacted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counters: dict[str, int] = {}

    def placeholder(self, entity: str, value: str) -> str:
        with self._lock:
            key = (entity, value)
            existing = self._by_value.get(key)
            if existing is not None:
                return existing
            n = self._counters.get(entity, 0) + 1
            self._counters[entity] = n
            token = f"[{entity}_{n}]"
            self._by_value[key] = token
            self._by_placeholder[token] = value
            return token

    def restore(self, text: str) -> str:
        """Put the original values back for every placeholder this vault issued."""
        with self._lock:
            mapping = dict(self._by_placeholder)
        result: str = _PLACEHOLDER.sub(lambda m: mapping.get(m.group(), m.group()), text)
        return result

    def __len__(self) -> int:
        return len(self._by_placeholder)


def entity_name(finding: Finding) -> str:
    raw = finding.entity or finding.category
    return "".join(c if c.isalnum() else "_" for c in raw.upper())


def select_spans(findings: list[Finding], kinds: frozenset[Kind]) -> list[Finding]:
    """Non-overlapping findings to redact: the longest span wins, then the most severe."""
    candidates = sorted(
        (f for f in findings if f.kind in kinds and f.end > f.start),
        key=lambda f: (-(f.end - f.start), -_SEVERITY_RANK[f.severity.value], f.start),
    )
    chosen: list[Finding] = []
    for f in candidates:
        if all(f.end <= c.start or f.start >= c.end for c in chosen):
            chosen.append(f)
    return sorted(chosen, key=lambda f: f.start)


def apply_redaction(
    text: str,
    findings: list[Finding],
    *,
    mode: RedactMode = "placeholder",
    vault: RedactionVault | None = None,
    kinds: frozenset[Kind] = frozenset({Kind.PII, Kind.SECRET}),
    mask_char: str = "*",
) -> Redaction:
    vault = vault if vault is not None else RedactionVault()
    pieces: list[str] = []
    replacements: list[Replacement] = []
    pos = 0
    for f in select_spans(findings, kinds):
        entity = entity_name(f)
        value = text[f.start : f.end]
        token = vault.placeholder(entity, value) if mode == "placeholder" else mask_char * len(value)
        pieces.append(text[pos : f.start])
        replacements.append(
            Replacement(placeholder=token, entity=entity, pattern_id=f.pattern_id, start=f.start, end=f.end)
        )
        pieces.append(token)
        pos = f.end
    pieces.append(text[pos:])
    return Redaction(text="".join(pieces), replacements=replacements)
