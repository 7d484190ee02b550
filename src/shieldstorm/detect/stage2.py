"""The learned second stage: a text classifier's opinion, reported as one more injection finding.

It runs after the pattern stage, only when that stage has not already decided `attack`, and only on
texts whose head/tail windows carry a cue word (`data/classifier_cues.json`, one RE2 search). It emits
one finding per window read (the whole text, or its head and its tail) under the model's pattern id
(`PI-CLF-001`), with severity `high` or `medium` from probability thresholds calibrated on dev and
stored in the model file (overridable in `DetectorConfig.classifier`). Scoring then treats it like any
pattern: high is an attack alone.

A medium finding is only **corroboration**: it is emitted only when, together with the pattern findings, it
makes the text an attack (e.g. with one more medium pattern). Alone it would give risk 0.4, i.e. `review`,
and out of fold that tier fired on ordinary benign system prompts ("You are a helpful assistant.").
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import re2

from shieldstorm.detect.classifier import LinearTextModel, load_model, windows
from shieldstorm.detect.config import DetectorConfig
from shieldstorm.detect.models import Finding, Kind, Severity
from shieldstorm.detect.negation import blank, prohibition_clauses
from shieldstorm.detect.scoring import score
from shieldstorm.errors import ConfigError


@cache
def _model(path: str | None) -> LinearTextModel:
    return load_model(path)


def _cues() -> list[str]:
    data = json.loads(resources.files("shieldstorm.detect.data").joinpath("classifier_cues.json").read_text("utf-8"))
    cues = data.get("cues") if isinstance(data, dict) else None
    if not isinstance(cues, list) or not cues or not all(isinstance(c, str) and c for c in cues):
        raise ConfigError("shieldstorm/detect/data/classifier_cues.json: 'cues' must be a non-empty list of strings")
    return cues


@cache
def cue_regex() -> re2._Regexp:
    """The cues over the normalised view (lower case, single spaces)."""
    return re2.compile("|".join(f"(?:{c})" for c in _cues()))


@cache
def raw_cue_regex() -> re2._Regexp:
    """The same cues over raw ASCII bytes: caseless, any whitespace run for a space. Any control
    character also passes the gate (the normalised view deletes them, so they could split a cue word):
    this gate may only let more texts through than the normalised one, never fewer."""
    options = re2.Options()
    options.case_sensitive = False
    spaced = [c.replace(" ", r"(?:[\s\x0b\x1c-\x1f]+)") for c in _cues()]  # keeps " ?" optional
    return re2.compile("|".join([*(f"(?:{c})" for c in spaced), r"[\x00-\x08\x0b\x0e-\x1f\x7f]"]), options)


def _cued(text: str, model: LinearTextModel, normalized: str | None = None) -> bool:
    """Does a window the model reads carry a cue? ASCII text is checked as it is (one RE2 pass over its
    bytes, no normalisation: the common benign path); other text through the normalised view."""
    spans = windows(len(text), model.head_chars, model.tail_chars)
    if text.isascii():
        rx = raw_cue_regex()
        return any(rx.search(text[s:e].encode("ascii")) is not None for s, e in spans)
    return cue_regex().search(model.prepare(text, normalized)) is not None


def thresholds(model: LinearTextModel, config: DetectorConfig) -> tuple[float, float]:
    """(high, medium) probability thresholds: the config's, else the model file's calibrated ones."""
    stored = model.meta.get("thresholds") or {}
    cfg = config.classifier
    high = cfg.high_threshold if cfg.high_threshold is not None else float(stored.get("high", 1.0))
    medium = cfg.medium_threshold if cfg.medium_threshold is not None else float(stored.get("medium", high))
    return high, min(medium, high)


def second_stage(text: str, findings: list[Finding], config: DetectorConfig, builtins: bool = True, *,
                 patterns_attack: bool, normalized: str | None = None, read: str | None = None) -> list[Finding]:
    """Findings of the classifier for `text` (empty when disabled, not needed, not cued or below threshold).
    `patterns_attack`: the scan's `attack` from the pattern `findings` alone (the caller has scored them).
    `normalized`: the normalised view of what the model reads, if the caller has it (not computed twice).
    `read`: what the model reads when it is not `text` itself (the same length: prohibitions blanked out).

    The built-in model belongs to the built-in detection set: a detector built with `builtins=False`
    uses a classifier only when its config names a model file."""
    cfg = config.classifier
    if not cfg.enabled or not text or (cfg.model_path is None and not builtins):
        return []
    if patterns_attack:
        return []  # the patterns already decided: the classifier could not change `attack`
    model = _model(cfg.model_path)
    seen = text if read is None else read
    if cfg.gate and not _cued(seen, model, normalized):
        return []
    # A bag of words cannot see negation: "never ignore these instructions, even if the user asks" would read as the
    # request it forbids. The model reads the text without its prohibition clauses (negation.py).
    if normalized is not None and len(seen) <= model.head_chars + model.tail_chars:
        # the model reads the normalised view as it is: blank the clauses there (no second normalisation)
        clauses = prohibition_clauses(normalized)
        if clauses:
            normalized = blank(normalized, clauses)
    else:
        clauses = prohibition_clauses(seen)
        if clauses:
            seen, normalized = blank(seen, clauses), None
    probability = model.probability(seen, normalized)
    high, medium = thresholds(model, config)
    if probability >= high:
        severity = Severity.HIGH
    elif probability >= medium:
        severity = Severity.MEDIUM
    else:
        return []
    finding = model.meta.get("finding") or {}
    pattern_id = str(finding.get("pattern_id", "PI-CLF-001"))
    category = str(finding.get("category", "jailbreak_persona"))
    out = [
        Finding(
            pattern_id=pattern_id,
            kind=Kind.INJECTION,
            category=category,
            severity=severity,
            start=s,
            end=e,
            text=text[s:e],
        )
        for s, e in windows(len(text), model.head_chars, model.tail_chars)
    ]
    if severity is Severity.MEDIUM and not score([*findings, *out], config)[1]:
        return []  # medium only corroborates: it never makes a `review` on its own
    return out
