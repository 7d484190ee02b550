"""Format and speed checks: valid_json (optionally against a JSON Schema) and latency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import jsonschema
from pydantic import ConfigDict, Field, model_validator

from shieldstorm.storm.invariants.base import Check, CheckContext, Invariant, InvariantConfig


class ValidJsonConfig(InvariantConfig):
    type: Literal["valid_json"]
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    schema_file: str | None = Field(default=None, description="Path to a JSON Schema, relative to storm.yaml")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_schema(self) -> ValidJsonConfig:
        if self.json_schema is not None and self.schema_file is not None:
            raise ValueError("give either schema or schema_file, not both")
        if self.json_schema is not None:
            jsonschema.Draft202012Validator.check_schema(self.json_schema)
        return self


class ValidJson(Invariant):
    type = "valid_json"
    Config = ValidJsonConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg: ValidJsonConfig = self.config  # type: ignore[assignment]
        schema = cfg.json_schema
        if cfg.schema_file is not None:
            path = Path(cfg.schema_file)
            if not path.is_absolute():
                path = self.build.base_dir / path
            schema = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
        self._validator = jsonschema.Draft202012Validator(schema) if schema is not None else None

    def check(self, ctx: CheckContext) -> Check:
        try:
            document = json.loads(ctx.output)
        except ValueError as exc:
            return Check(False, f"output is not JSON: {exc}")
        if self._validator is not None:
            error = jsonschema.exceptions.best_match(self._validator.iter_errors(document))
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                return Check(False, f"JSON Schema violation at {where}: {error.message}")
        return Check(True)


class LatencyConfig(InvariantConfig):
    type: Literal["latency"]
    max_ms: float = Field(gt=0)


class Latency(Invariant):
    type = "latency"
    Config = LatencyConfig

    def check(self, ctx: CheckContext) -> Check:
        cfg: LatencyConfig = self.config  # type: ignore[assignment]
        if ctx.reply.latency_ms <= cfg.max_ms:
            return Check(True)
        return Check(False, f"latency {ctx.reply.latency_ms:.0f} ms > {cfg.max_ms:g} ms")
