"""Cost rules: how many credits a request costs, by route, model and token counts, loaded from YAML.

Rules are tried in file order; the first whose `route`, `method` and `model` globs all match prices the request:
`per_request + ceil(per_1k_input_tokens * input_tokens / 1000 + per_1k_output_tokens * output_tokens / 1000)`.
Rates are decimals (exact arithmetic, no float rounding); the total is rounded up to whole credits. When no rule
matches, `default` prices the request the same way.
"""

from __future__ import annotations

import fnmatch
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shieldstorm.errors import ConfigError, InputError

DEFAULT_RULES_FILE = Path(__file__).parent / "default_costs.yaml"


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    per_request: int = Field(default=0, ge=0)
    per_1k_input_tokens: Decimal = Field(default=Decimal(0), ge=0)
    per_1k_output_tokens: Decimal = Field(default=Decimal(0), ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> int:
        variable = (self.per_1k_input_tokens * input_tokens + self.per_1k_output_tokens * output_tokens) / 1000
        return self.per_request + math.ceil(variable)


class CostRule(Price):
    name: str | None = None
    route: str = "*"  # fnmatch glob on the request path
    method: str = "*"  # glob on the HTTP method (upper case)
    model: str = "*"  # glob on the model name ("" when the request names none)

    def matches(self, route: str, method: str, model: str) -> bool:
        return (
            fnmatch.fnmatchcase(route, self.route)
            and fnmatch.fnmatchcase(method.upper(), self.method.upper())
            and fnmatch.fnmatchcase(model, self.model)
        )


class CostRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Price = Field(default_factory=lambda: Price(per_request=1))
    rules: list[CostRule] = Field(default_factory=list)

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "cost rules") -> CostRules:
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(root)"
            raise ConfigError(f"{source}: {where}: {first['msg']}") from exc

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "cost rules") -> CostRules:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: invalid YAML: {exc}") from exc
        return cls.from_mapping(data, source=source)

    @classmethod
    def load(cls, path: Path | str) -> CostRules:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read cost rules {path}: {exc.strerror}") from exc
        return cls.from_yaml(text, source=str(path))

    @classmethod
    def default_rules(cls) -> CostRules:
        return cls.load(DEFAULT_RULES_FILE)

    def rule_for(self, route: str, *, method: str = "POST", model: str | None = None) -> Price:
        for rule in self.rules:
            if rule.matches(route, method, model or ""):
                return rule
        return self.default

    def cost(
        self,
        route: str,
        *,
        method: str = "POST",
        model: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> int:
        """Credits for one request (rounded up to a whole credit)."""
        if input_tokens < 0 or output_tokens < 0:
            raise InputError("token counts cannot be negative")
        return self.rule_for(route, method=method, model=model).cost(input_tokens, output_tokens)
