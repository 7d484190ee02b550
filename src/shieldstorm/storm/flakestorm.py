"""`storm import-flakestorm`: convert a Flakestorm 2.x `flakestorm.yaml` into a `storm.yaml`.

Everything with a Storm equivalent is carried over; everything else is listed as a note (never dropped
silently). The result is validated with Storm's own strict config model before it is written.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from shieldstorm.errors import ConfigError
from shieldstorm.storm.config import load_yaml, parse_config

_SIMPLE_INVARIANTS = {
    "contains": ("contains", ("value",)),
    "contains_any": ("contains_any", ("values",)),
    "latency": ("latency", ("max_ms",)),
    "valid_json": ("valid_json", ()),
    "regex": ("regex", ("pattern",)),
    "excludes_pattern": ("excludes_pattern", ("patterns",)),
    "excludes_pii": ("excludes_pii", ()),
    "output_not_empty": ("output_not_empty", ()),
}


@functools.cache
def type_map() -> dict[str, list[str]]:
    text = resources.files("shieldstorm.storm").joinpath("data/flakestorm.yaml").read_text(encoding="utf-8")
    return {str(k): list(v) for k, v in yaml.safe_load(text)["types"].items()}


def _agent(agent: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    kind = str(agent.get("type", "http"))
    endpoint = agent.get("endpoint")
    if not endpoint:
        raise ConfigError("agent.endpoint: required in a Flakestorm config")
    timeout_ms = agent.get("timeout", 30000)
    result: dict[str, Any]
    if kind == "python":
        result = {"type": "python", "callable": endpoint, "input": "prompt"}
    elif kind == "langchain":
        result = {"type": "langchain", "runnable": endpoint, "input": "prompt"}
    else:
        result = {"type": "http", "url": endpoint}
        method = str(agent.get("method", "POST")).upper()
        if method in ("POST", "PUT", "PATCH"):
            result["method"] = method
        else:
            notes.append(f"agent.method {method}: Storm sends a JSON body, so it uses POST")
        template = agent.get("request_template")
        result["body"] = _body(template, notes) if template else {"input": "{{prompt}}"}
        path = agent.get("response_path")
        result["response_path"] = str(path).lstrip("$").lstrip(".") if path else "output"
        if not path:
            notes.append("agent.response_path was unset (Flakestorm guessed it); Storm uses 'output': check it")
        if agent.get("headers"):
            result["headers"] = dict(agent["headers"])
        if agent.get("query_params"):
            query = "&".join(f"{k}={v}" for k, v in agent["query_params"].items())
            result["url"] = f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
    result["timeout"] = max(0.001, float(timeout_ms) / 1000.0)
    for key in ("reset_endpoint", "reset_function"):
        if agent.get(key):
            notes.append(f"agent.{key} is not supported (Storm agents are called statelessly per case)")
    return result


def _body(template: str, notes: list[str]) -> Any:
    """Flakestorm pasted `{prompt}` into JSON text (breaking on quotes); Storm fills a parsed template."""
    marked = template.replace("{prompt}", "\x00PROMPT\x00")
    others = re.findall(r"\{(\w+)\}", marked)
    if others:
        notes.append(f"request_template fields {sorted(set(others))} (structured input) are not supported")
    # The placeholder may sit inside quotes ("{prompt}") or bare; either way it becomes a JSON string value.
    candidate = marked.replace('"\x00PROMPT\x00"', '"{{prompt}}"').replace("\x00PROMPT\x00", "{{prompt}}")
    try:
        return json.loads(candidate)
    except ValueError:
        notes.append('request_template is not a JSON object; Storm sends {"input": prompt} instead: check it')
        return {"input": "{{prompt}}"}


def _invariant(raw: dict[str, Any], index: int, notes: list[str]) -> dict[str, Any] | None:
    kind = str(raw.get("type"))
    negate = bool(raw.get("negate"))
    out: dict[str, Any]
    if kind == "contains" and negate:
        out = {"type": "not_contains", "value": raw.get("value")}
    elif kind == "regex" and negate:
        out = {"type": "excludes_pattern", "patterns": [raw.get("pattern")]}
    elif kind in _SIMPLE_INVARIANTS and not negate:
        storm_type, fields = _SIMPLE_INVARIANTS[kind]
        out = {"type": storm_type, **{f: raw.get(f) for f in fields if raw.get(f) is not None}}
    elif kind == "similarity" and not negate:
        out = {"type": "similarity", "expected": raw.get("expected"), "threshold": raw.get("threshold", 0.8)}
    elif kind == "refusal_check":
        out = {"type": "refusal", "expected": not negate}
    elif kind == "behavior_unchanged" and not negate:
        out = {"type": "behaviour_unchanged", "threshold": raw.get("similarity_threshold") or 0.75}
        if raw.get("baseline") not in (None, "auto"):
            notes.append(f"invariants[{index}].baseline: Storm always compares with the unmutated golden reply")
    elif kind == "completes":
        notes.append(f"invariants[{index}] completes: built in (every agent error or timeout is a failure)")
        return None
    else:
        notes.append(f"invariants[{index}] {kind}{' (negated)' if negate else ''}: no Storm equivalent, dropped")
        return None
    severity = raw.get("severity")
    if severity in ("low", "medium", "high", "critical"):
        out["severity"] = severity
    if raw.get("id") or raw.get("description"):
        out["name"] = str(raw.get("id") or raw.get("description"))[:120]
    when = raw.get("when")
    if when not in (None, "always"):
        notes.append(f"invariants[{index}].when {when!r}: chaos conditions are not modelled; checked always")
    return {k: v for k, v in out.items() if v is not None}


def convert(data: Any, *, source: str = "flakestorm.yaml") -> tuple[dict[str, Any], list[str]]:
    """Return the storm.yaml document and the notes about what could not be carried over."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: not a Flakestorm config (top level must be a mapping)")
    if "agent" not in data or "golden_prompts" not in data:
        raise ConfigError(f"{source}: not a Flakestorm config (needs agent and golden_prompts)")
    notes: list[str] = []
    mapping = type_map()
    mutations = data.get("mutations") or {}
    storm_types: list[str] = []
    for name in mutations.get("types") or ["paraphrase", "noise", "tone_shift", "prompt_injection"]:
        targets = mapping.get(str(name))
        if targets is None:
            notes.append(f"mutations.types: unknown Flakestorm type {name!r}, skipped")
            continue
        if not targets:
            notes.append(f"mutations.types: {name!r} has no prompt-level equivalent, skipped")
        storm_types.extend(t for t in targets if t not in storm_types)
    weights: dict[str, float] = {}
    for name, weight in (mutations.get("weights") or {}).items():
        for target in mapping.get(str(name), []):
            if target in storm_types:
                weights[target] = float(weight)
    if mutations.get("custom_templates"):
        notes.append("mutations.custom_templates: write a mutator plugin (entry point shieldstorm.mutators)")
    if "count" in mutations:
        notes.append(f"mutations.count {mutations['count']}: Storm runs every selected type once per variant")
    if data.get("model"):
        notes.append("model: not needed: Storm's mutations are deterministic and need no LLM")
    for key in ("chaos", "contract", "chaos_matrix", "replays", "scoring"):
        if data.get(key):
            notes.append(f"{key}: Flakestorm v2 section not supported by the importer, dropped")
    invariants = [
        inv
        for index, raw in enumerate(data.get("invariants") or [])
        if isinstance(raw, dict) and (inv := _invariant(raw, index, notes)) is not None
    ]
    advanced = data.get("advanced") or {}
    run: dict[str, Any] = {"concurrency": max(16, int(advanced.get("concurrency") or 16))}
    if advanced.get("seed") is not None:
        run["seed"] = int(advanced["seed"])
    agent = _agent(dict(data["agent"]), notes)
    if advanced.get("retries") and agent["type"] == "http":
        agent["retries"] = min(10, int(advanced["retries"]))
    output = data.get("output") or {}
    document: dict[str, Any] = {
        "version": 1,
        "name": Path(source).stem,
        "agent": agent,
        "golden": [str(p) for p in data["golden_prompts"]],
        "invariants": invariants,
        "mutations": {"types": storm_types, **({"weights": weights} if weights else {})},
        "run": run,
        "reports": {"output_dir": str(output.get("path") or "./reports")},
    }
    return document, notes


def convert_file(path: Path) -> tuple[str, list[str]]:
    document, notes = convert(load_yaml(path), source=str(path))
    parse_config(document, base_dir=path.resolve().parent, source=f"converted {path}")  # must be valid Storm
    header = [
        f"# Converted from {path.name} by `shieldstorm storm import-flakestorm`.",
        "# Review the notes below; Storm validates this file strictly (unknown keys are errors).",
        *(f"# note: {note}" for note in notes),
    ]
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + body, notes
