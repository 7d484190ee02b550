"""JSON body templates with escaping that is correct by construction.

The template is parsed as JSON once; placeholders are replaced inside the parsed structure and the body is
serialised with `json.dumps`. A prompt full of quotes, backslashes, newlines or `</script>` can therefore
never break the request (Flakestorm pasted the prompt into a JSON string and broke on a quote).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from shieldstorm.errors import ConfigError

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
VARIABLES = frozenset({"prompt", "messages", "system_prompt", "golden_id", "mutation_type"})


def check_template(template: Any, where: str = "agent.body") -> None:
    """Raise ConfigError for an unknown placeholder, naming the template path."""
    if isinstance(template, dict):
        for key, value in template.items():
            check_template(key, f"{where}.{key}")
            check_template(value, f"{where}.{key}")
    elif isinstance(template, list):
        for index, value in enumerate(template):
            check_template(value, f"{where}[{index}]")
    elif isinstance(template, str):
        for name in PLACEHOLDER.findall(template):
            if name not in VARIABLES:
                raise ConfigError(f"{where}: unknown placeholder {{{{{name}}}}}; use one of {sorted(VARIABLES)}")


def _as_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def fill(template: Any, values: dict[str, Any]) -> Any:
    """Return a copy of `template` with placeholders replaced: a whole-string placeholder keeps the value's type."""
    if isinstance(template, dict):
        return {fill(k, values): fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole:
            return values.get(whole.group(1))
        return PLACEHOLDER.sub(lambda m: _as_string(values.get(m.group(1)) or ""), template)
    return template


def render_body(template: Any, values: dict[str, Any]) -> bytes:
    return json.dumps(fill(template, values), ensure_ascii=False).encode("utf-8")


def placeholders(template: Any) -> frozenset[str]:
    """The variable names a template uses (so a caller computes only those, e.g. not `messages`)."""
    if isinstance(template, dict):
        return frozenset().union(*(placeholders(k) | placeholders(v) for k, v in template.items()))
    if isinstance(template, list):
        return frozenset().union(*(placeholders(item) for item in template))
    if isinstance(template, str):
        return frozenset(PLACEHOLDER.findall(template))
    return frozenset()


Filler = Callable[[dict[str, Any]], Any]


def compile_fill(template: Any) -> Filler:
    """`fill` with the template walked once: the returned function gives exactly `fill(template, values)`."""
    if isinstance(template, dict):
        items = [(compile_fill(k), compile_fill(v)) for k, v in template.items()]
        return lambda values: {key(values): value(values) for key, value in items}
    if isinstance(template, list):
        parts = [compile_fill(item) for item in template]
        return lambda values: [part(values) for part in parts]
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole:
            name = whole.group(1)
            return lambda values: values.get(name)
        if PLACEHOLDER.search(template):
            return lambda values: PLACEHOLDER.sub(lambda m: _as_string(values.get(m.group(1)) or ""), template)
    return lambda values: template


def compile_body(template: Any) -> Callable[[dict[str, Any]], bytes]:
    """`render_body` with the template compiled once, for the per-request hot path."""
    filler = compile_fill(template)
    return lambda values: json.dumps(filler(values), ensure_ascii=False).encode("utf-8")
