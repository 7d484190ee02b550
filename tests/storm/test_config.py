from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shieldstorm.errors import ConfigError
from shieldstorm.storm.config import load_config, parse_config
from shieldstorm.storm.generation import build_mutations

BASE: dict[str, Any] = {
    "agent": {"type": "python", "callable": "shieldstorm.storm.example_agent:respond"},
    "golden": ["hello"],
    "invariants": [{"type": "output_not_empty"}],
}


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="storm.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"concurrency": 4}, "storm.yaml: concurrency: unknown key"),
        ({"run": {"concurrrency": 4}}, "run.concurrrency: unknown key"),
        ({"run": {"seed": "abc"}}, "run.seed: Input should be a valid integer"),
        ({"run": {"concurrency": 0}}, "run.concurrency: Input should be greater than or equal to 1"),
        ({"run": {"min_score": 1.5}}, "run.min_score: Input should be less than or equal to 1"),
        ({"agent": {"type": "python", "callabel": "a:b"}}, "agent.callabel: unknown key"),
        ({"agent": {"type": "htp", "url": "http://x"}}, "agent: unknown type 'htp'"),
        ({"agent": {"type": "http", "url": "ftp://x"}}, "agent.url: must be an http:// or https:// URL"),
        ({"agent": {"type": "http", "url": "http://x", "body": "{bad"}}, "agent.body: body must be JSON"),
        ({"invariants": [{"type": "contians", "value": "x"}]}, "invariants[0]: unknown type 'contians'"),
        ({"invariants": [{"type": "contains", "valu": "x"}]}, "invariants[0].valu: unknown key"),
        ({"invariants": [{"type": "contains"}]}, "invariants[0].value: Field required"),
        ({"invariants": [{"type": "latency", "max_ms": 5, "severity": "urgent"}]}, "invariants[0].severity: Input"),
        ({"invariants": [{"type": "regex", "pattern": "(?<=x)y"}]}, "invariants[0].pattern: invalid RE2"),
        ({"golden": [{"prompt": "a", "turns": ["b"]}]}, "golden[0]: give exactly one of prompt, messages or turns"),
        ({"golden": [{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}]}, "duplicate id 'a'"),
        (
            {"golden": [{"prompt": "x", "invariants": [{"type": "refusal", "expect": True}]}]},
            "golden[0].invariants[0].expect: unknown key",
        ),
        ({"mutations": {"variant": 2}}, "mutations.variant: unknown key"),
        ({"reports": {"formats": ["pdf"]}}, "reports.formats[0]: Input should be"),
        ({"golden": []}, "golden: List should have at least 1 item"),
    ],
)
def test_typos_and_bad_values_name_the_key_path(patch: dict[str, Any], expected: str) -> None:
    assert expected in error_of({**BASE, **patch})


def test_several_problems_are_reported_together() -> None:
    message = error_of({**BASE, "run": {"concurrrency": 4, "timeout": -1}, "extra": 1})
    assert "run.concurrrency: unknown key" in message
    assert "run.timeout: Input should be greater than 0" in message
    assert "extra: unknown key" in message


def test_yaml_errors_are_one_line_with_position(tmp_path: Path) -> None:
    path = tmp_path / "storm.yaml"
    path.write_text("agent:\n  type: python\n callable: x:y\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and "invalid YAML at line 3" in message
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "storm.yaml"
    path.write_text("agent: {type: python, callable: 'a:b'}\ngolden: [hi]\n", encoding="utf-8")
    config = load_config(path)
    assert config.base_dir == (tmp_path / "sub").resolve()
    assert config.golden[0].id == "golden-1"
    assert config.digest() == load_config(path).digest()


def test_unknown_mutation_types_are_config_errors() -> None:
    config = parse_config({**BASE, "mutations": {"types": ["typo_adjacent", "typo_adjecent"]}})
    with pytest.raises(ConfigError, match=r"typo_adjecent"):
        build_mutations(config, 1)
    config = parse_config({**BASE, "mutations": {"exclude": ["nope"]}})
    with pytest.raises(ConfigError, match=r"mutations.exclude\[0\]: unknown mutation type 'nope'"):
        build_mutations(config, 1)


def test_llm_settings_are_strict() -> None:
    message = error_of({**BASE, "mutations": {"llm": {"url": "http://127.0.0.1:9", "model": "m", "temp": 1}}})
    assert "mutations.llm.temp: unknown key" in message
