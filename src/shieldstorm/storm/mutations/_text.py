"""Small helpers shared by the built-in mutators: picking, templating, editing the user turn."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from typing import Any, TypeVar
from xml.sax.saxutils import escape as xml_escape

from shieldstorm.storm.mutations.base import Message, MutationContext

T = TypeVar("T")

_PLACEHOLDER = re.compile(r"\{(\w+)\}|\{\{|\}\}")


def pick(rng: random.Random, items: Sequence[T]) -> T:
    if not items:
        raise ValueError("nothing to pick from")
    return items[rng.randrange(len(items))]


def fill(template: str, **values: Any) -> str:
    """Replace `{name}` placeholders that have a value; `{{`/`}}` are literal braces; others stay as-is.

    Unlike `str.format`, a stray brace in a prompt or template never raises.
    """

    def sub(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        key = match.group(1)
        return str(values[key]) if key in values else token

    return _PLACEHOLDER.sub(sub, template)


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def variables(prompt: str, payload: str = "", marker: str = "", canary: str = "") -> dict[str, str]:
    """Every spelling of the common placeholders, escaped for the formats they are embedded in."""
    return {
        "prompt": prompt,
        "prompt_lc": lower_first(prompt),
        "prompt_json": json.dumps(prompt, ensure_ascii=False)[1:-1],
        "prompt_xml": xml_escape(prompt),
        # For a YAML block scalar indented by two spaces: every continuation line gets the indent too.
        "prompt_yaml_block": prompt.replace("\n", "\n  "),
        "payload": payload,
        "payload_lc": lower_first(payload),
        "payload_json": json.dumps(payload, ensure_ascii=False)[1:-1],
        "payload_xml": xml_escape(payload),
        "marker": marker,
        "canary": canary,
    }


def make_marker(rng: random.Random) -> str:
    """A token that proves obedience when it shows up in an answer (unlikely in normal text)."""
    from shieldstorm.storm.mutations._data import load_data

    return f"{pick(rng, load_data('attacks')['markers'])}-{rng.randrange(1000, 10000)}"


def last_user_index(messages: Sequence[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index
    return None


def user_prompt(messages: Sequence[Message]) -> str | None:
    index = last_user_index(messages)
    return None if index is None else messages[index].content


def replace_user(messages: Sequence[Message], text: str) -> list[Message]:
    """The conversation with its last user message replaced (appended when there is none)."""
    result = list(messages)
    index = last_user_index(result)
    if index is None:
        result.append(Message(role="user", content=text))
    else:
        result[index] = Message(role="user", content=text)
    return result


def history(messages: Sequence[Message]) -> list[Message]:
    """Everything before the last user message."""
    index = last_user_index(messages)
    return list(messages) if index is None else list(messages[:index])


def default_text(key: str) -> str:
    """A filler turn from `attacks.yaml` `defaults` (user prompt, tool-call announcement, acknowledgement)."""
    from shieldstorm.storm.mutations._data import load_data

    return str(load_data("attacks")["defaults"][key])


def injection_payload(ctx: MutationContext, marker: str, categories: Sequence[str] | None = None) -> tuple[str, str]:
    """An (injection category, snippet) from the Storm red-team corpus, with the marker filled in."""
    from shieldstorm.storm.mutations._data import load_corpus

    corpus = load_corpus()
    names = [name for name in (categories or sorted(corpus)) if corpus.get(name)]
    if not names:
        raise ValueError(f"no corpus snippets for categories {list(categories or [])}")
    category = pick(ctx.rng, names)
    snippet = fill(pick(ctx.rng, corpus[category]), marker=marker, canary=ctx.canary or "")
    return category, snippet


def note_payload(ctx: MutationContext, payload: str, marker: str, category: str | None = None) -> None:
    """Record what an invariant needs to tell obedience apart from refusal."""
    ctx.metadata["payload"] = payload
    ctx.metadata["marker"] = marker
    forbidden = list(ctx.metadata.get("forbidden", []))
    forbidden.append(marker)
    ctx.metadata["forbidden"] = forbidden
    if category is not None:
        ctx.metadata["injection_category"] = category
