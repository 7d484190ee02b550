"""Result types of the detection engine, shared by Storm and Shield."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Kind(StrEnum):
    INJECTION = "injection"
    PII = "pii"
    SECRET = "secret"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Verdict(StrEnum):
    ALLOW = "allow"
    REVIEW = "review"
    BLOCK = "block"


class Finding(BaseModel):
    """One pattern match. `start`/`end` always index the caller's original text."""

    model_config = ConfigDict(frozen=True)

    pattern_id: str
    kind: Kind
    category: str
    severity: Severity
    start: int
    end: int
    text: str
    entity: str | None = Field(default=None, description="Entity type for PII/secrets, e.g. EMAIL")
    decoded_from: str | None = Field(
        default=None, description="Encoding the match was found inside (base64, hex, url, rot13), if any"
    )


class ScanResult(BaseModel):
    """The engine's answer for one text."""

    verdict: Verdict
    risk: float = Field(ge=0.0, le=1.0)
    attack: bool
    categories: dict[str, float] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)
    # Bounds the scan reached, so parts of the text were not inspected (decode_candidates, decoded_chars,
    # decode_depth, matches:<pattern id>); a non-empty list raises the verdict to at least review.
    incomplete: list[str] = Field(default_factory=list)


class Replacement(BaseModel):
    """One redacted span (`start`/`end` index the original text). The original value is deliberately
    absent: it lives only in a RedactionVault."""

    model_config = ConfigDict(frozen=True)

    placeholder: str
    entity: str
    pattern_id: str
    start: int
    end: int


class Redaction(BaseModel):
    text: str
    replacements: list[Replacement] = Field(default_factory=list)
