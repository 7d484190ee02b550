"""Engine configuration: limits, thresholds and the matcher choice, all with safe defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EngineName = Literal["hyperscan", "re2", "auto"]


class SeverityWeights(BaseModel):
    """How much one finding of each severity contributes to a category score (see docs/detect.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    critical: float = Field(default=1.0, ge=0.0, le=1.0)
    high: float = Field(default=0.7, ge=0.0, le=1.0)
    medium: float = Field(default=0.4, ge=0.0, le=1.0)
    low: float = Field(default=0.15, ge=0.0, le=1.0)


class ClassifierConfig(BaseModel):
    """The learned second stage (detect/stage2.py, docs/detect.md "Learned second stage")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # A model exported by bench/corpus/train_classifier.py (.json or .json.gz); None: the built-in one.
    model_path: str | None = None
    # Probability thresholds for a high (an attack alone) or medium (an attack with one more medium
    # pattern) finding; None takes the values calibrated on dev and stored in the model file.
    high_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    medium_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    # Only read texts that carry a cue word (detect/data/classifier_cues.json); False reads every text.
    gate: bool = True

    @model_validator(mode="after")
    def _check(self) -> ClassifierConfig:
        if self.model_path is not None:
            from shieldstorm.detect.classifier import load_model  # a bad file fails here, not mid-scan

            load_model(self.model_path)
        return self


class DetectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: EngineName = "auto"
    # Input limits: anything bigger is an InputError, never a slow scan.
    max_input_chars: int = Field(default=1_000_000, ge=1)
    # Embedded payloads (base64, hex, url, rot13) are decoded and scanned again within these bounds.
    decode: bool = True
    max_decode_depth: int = Field(default=3, ge=0, le=10)
    max_decoded_chars: int = Field(default=65_536, ge=0)
    max_decode_candidates: int = Field(default=32, ge=0)
    min_encoded_length: int = Field(default=16, ge=4)
    # A scan that hit one of these bounds (more payloads, bigger payloads or deeper nesting than it may decode,
    # or more values of one pattern than it reports) did not inspect everything: an attacker could hide one
    # payload behind 32 decoys. Fail closed: such a result is at least `review` (or `block`).
    on_incomplete: Literal["review", "block"] = "review"
    # rot13 has no syntactic marker, so by default it is only tried when the text mentions it.
    rot13: Literal["never", "hint", "always"] = "hint"
    leetspeak: bool = True
    weights: SeverityWeights = Field(default_factory=SeverityWeights)
    attack_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    review_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    block_threshold: float = Field(default=0.9, ge=0.0, le=1.0)
    # Where compiled Hyperscan databases are cached (None: $SHIELDSTORM_CACHE_DIR or ~/.cache/shieldstorm).
    cache_dir: str | None = None
    use_cache: bool = True
    # engine="auto" with no cached database: serve with the RE2 Set at once and compile Hyperscan in a
    # background thread, swapping it in when ready (identical results: both engines are tested).
    background_compile: bool = True
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)

    @model_validator(mode="after")
    def _ordered(self) -> DetectorConfig:
        if self.review_threshold > self.block_threshold:
            raise ValueError("review_threshold must not exceed block_threshold")
        return self
