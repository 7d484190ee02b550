from __future__ import annotations

from pathlib import Path

import pytest

from shieldstorm.credits import CostRules
from shieldstorm.errors import ConfigError, InputError

RULES = """
default: {per_request: 2}
rules:
  - route: /v1/chat/completions
    model: "gpt-4*"
    per_request: 1
    per_1k_input_tokens: 10
    per_1k_output_tokens: 30
  - route: /v1/chat/*
    per_1k_input_tokens: "0.5"
  - route: /admin/*
    method: GET
    per_request: 0
"""


def test_first_matching_rule_prices_by_route_model_and_tokens() -> None:
    rules = CostRules.from_yaml(RULES)
    assert rules.cost("/v1/chat/completions", model="gpt-4o", input_tokens=1000, output_tokens=500) == 1 + 10 + 15
    # token costs round up to a whole credit, never down
    assert rules.cost("/v1/chat/completions", model="gpt-4o", input_tokens=1) == 2
    assert rules.cost("/v1/chat/completions", model="llama3", input_tokens=3000) == 2
    assert rules.cost("/v1/chat/completions", model="llama3", input_tokens=1) == 1
    assert rules.cost("/admin/users", method="get") == 0
    assert rules.cost("/admin/users", method="POST") == 2
    assert rules.cost("/anything") == 2


def test_default_rules_file_loads() -> None:
    rules = CostRules.default_rules()
    assert rules.cost("/v1/chat/completions", model="gpt-4.1", input_tokens=2000, output_tokens=1000) == 51
    assert rules.cost("/health", method="GET") == 0


def test_invalid_rules_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rules\.0\.per_request"):
        CostRules.from_yaml("rules:\n  - route: /x\n    per_request: -1\n")
    with pytest.raises(ConfigError, match=r"rules\.0\.colour"):
        CostRules.from_yaml("rules:\n  - colour: red\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        CostRules.from_yaml("rules: [")
    with pytest.raises(ConfigError, match="cannot read"):
        CostRules.load(tmp_path / "missing.yaml")
    with pytest.raises(InputError):
        CostRules.from_yaml(RULES).cost("/x", input_tokens=-1)


def test_http_helpers_for_the_shield() -> None:
    from datetime import UTC, datetime

    from shieldstorm.credits import InsufficientCredits, Movement, payment_required, usage_headers

    movement = Movement(
        id=1, tenant="acme", kind="consume", amount=-7, balance_after=93, idempotency_key="k",
        reservation_id=None, reason="chat", created=datetime.now(UTC),
    )
    assert usage_headers(movement) == {"X-Credits-Remaining": "93", "X-Credits-Charged": "7"}
    status, body, headers = payment_required(InsufficientCredits("acme", 10, 3))
    assert status == 402 and body["error"] == "insufficient_credits" and body["available"] == 3
    assert headers == {"X-Credits-Remaining": "3", "X-Credits-Required": "10"}
