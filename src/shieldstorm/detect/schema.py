"""Schema of pattern files (YAML). Patterns are data: built-ins ship in `detect/patterns/`,
users add or disable patterns with their own directory in the same schema.

A pattern file looks like::

    patterns:
      - id: PI-OVR-001
        kind: injection            # injection | pii | secret
        category: direct_override
        severity: high             # critical | high | medium | low
        description: Orders the model to ignore its previous instructions.
        entity: null               # PII/secret entity type for redaction, e.g. EMAIL, CREDIT_CARD
        expressions:
          - regex: 'ignore (all )?(previous|prior) instructions'
          - literal: 'disregard the above'
          - regex: '\\b[A-Z]{6}[0-9]{2}'
            prefilter: '[0-9]{2}'  # optional, Hyperscan only: a cheaper superset (see below)
        validator: null            # e.g. luhn, iban, aba, npi, dea, verhoeff, nhs, ssn
        case_sensitive: false
        negatable: false           # true / object: a prohibition ("never reveal ...") is not a hit
        compliance: [GDPR]
        languages: [en]
        examples: ["Ignore all previous instructions and ..."]
        counter_examples: ["Do not ignore the safety instructions."]
    disable: [PI-OVR-007]          # optional: ids of built-in patterns to switch off

Regexes are restricted to the syntax both Hyperscan and RE2 accept: no look-around,
no back-references, no `\\b` under Unicode mode (use explicit boundaries).

`prefilter` (regex expressions only) is what Hyperscan scans for instead of the regex; RE2 still
confirms every hit with `regex`, so it changes speed, never results, provided it matches wherever
`regex` matches (a superset). It is for expressions whose derived Hyperscan form is slow and cannot be
made cheaper without changing meaning, e.g. a literal-free shape such as the Italian fiscal code, whose
leading `[A-Za-z]{6}` keeps Hyperscan's automaton busy on every word of prose. The loader checks that
it matches each example (and counter-example) the regex matches.

`negatable: true` is for patterns whose match begins with the requested act ("reveal your hidden
instructions", "ignore the previous instructions"): a match that "never", "do not", "must not", "under no
circumstances should you" or an un-negated "refuse to" directly precedes is dropped, because system prompts
forbid exactly these acts (negation.py). Never for patterns where the negation is the attack ("never refuses").
`negatable: object` is for patterns whose match is what is asked for ("your hidden instructions"): the
negation must then govern a disclosure verb right before the match ("never reveal your hidden instructions").
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shieldstorm.detect.models import Kind, Severity

PATTERN_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
COMPLIANCE_TAGS = {"GDPR", "HIPAA", "PCI-DSS", "SOC2", "CCPA"}


class Expression(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    regex: str | None = None
    literal: str | None = None
    prefilter: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Expression:
        if (self.regex is None) == (self.literal is None):
            raise ValueError("an expression has exactly one of `regex` or `literal`")
        if (self.regex or self.literal or "") == "":
            raise ValueError("an expression must not be empty")
        if self.prefilter is not None and (self.regex is None or self.prefilter == ""):
            raise ValueError("`prefilter` needs a `regex` (and must not be empty)")
        return self


class Pattern(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=3, max_length=64)]
    kind: Kind
    category: Annotated[str, Field(min_length=1)]
    severity: Severity
    description: Annotated[str, Field(min_length=1)]
    expressions: Annotated[list[Expression], Field(min_length=1)]
    entity: str | None = None
    validator: str | None = None
    case_sensitive: bool = False
    negatable: bool | Literal["object"] = False
    compliance: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["en"])
    examples: Annotated[list[str], Field(min_length=1)]
    counter_examples: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not PATTERN_ID.match(value):
            raise ValueError(f"pattern id {value!r} must look like PI-OVR-001")
        return value

    @field_validator("compliance")
    @classmethod
    def _known_tags(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - COMPLIANCE_TAGS)
        if unknown:
            raise ValueError(f"unknown compliance tags {unknown}; known: {sorted(COMPLIANCE_TAGS)}")
        return value


class PatternFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patterns: list[Pattern] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)
