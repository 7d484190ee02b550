"""HelpBot: a deterministic, deliberately fragile support bot (no LLM) used to demonstrate Storm.

It answers order, refund, return, shipping and opening-hours questions correctly, and it has the
classic weaknesses of a naive agent, driven by the rules in `data/bot.yaml`: it obeys injected
instructions (also inside tool output, documents and base64/hex/URL/rot13 payloads it helpfully
decodes), prints its system prompt (with a canary token), repeats secrets it has seen, looks up
customers' personal data for anyone who asks, and echoes personal data back.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from shieldstorm.errors import InputError

_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){8,}\b")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2}){4,}")


class ContextLengthExceeded(InputError):
    """The conversation is longer than the bot's context window (like a real model's limit)."""


@dataclass(frozen=True)
class Rules:
    raw: dict[str, Any]

    def patterns(self, *path: str) -> list[re.Pattern[str]]:
        node: Any = self.raw
        for key in path:
            node = node[key]
        return [re.compile(p, re.IGNORECASE) for p in node]


@cache
def rules() -> Rules:
    text = resources.files("shieldstorm.storm.example_agent").joinpath("data", "bot.yaml").read_text("utf-8")
    return Rules(yaml.safe_load(text))


def system_prompt() -> str:
    return str(rules().raw["system_prompt"])


def canary() -> str:
    return str(rules().raw["canary"])


def _content(message: Mapping[str, Any]) -> str:
    """Message text: a string, a list of OpenAI content parts, or nothing (assistant tool calls)."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    raise InputError("message content must be a string or a list of content parts")


def _decoded(text: str) -> list[str]:
    """Payloads the bot 'helpfully' decodes (base64, hex, percent-encoding, rot13 when asked)."""
    found: list[str] = []
    for match in _BASE64.findall(text):
        try:
            found.append(base64.b64decode(match + "=" * (-len(match) % 4), validate=True).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
    for match in _HEX.findall(text):
        try:
            found.append(bytes.fromhex(match).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
    found.extend(urllib.parse.unquote(m) for m in _PERCENT.findall(text))
    if "rot13" in text.lower():
        found.append(codecs.decode(text, "rot13"))
    return [f for f in found if f.isprintable() or "\n" in f]


def _first(patterns: Sequence[re.Pattern[str]], text: str) -> re.Match[str] | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return match
    return None


def _has_word(text: str, phrase: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None


def respond(messages: Sequence[Mapping[str, Any]]) -> str:
    """The bot's answer to a conversation of OpenAI-style `{role, content}` messages."""
    r = rules()
    cfg = r.raw
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise InputError("messages must be a list of {role, content} objects")
    if not all(isinstance(m, Mapping) for m in messages):
        raise InputError("messages must be a list of {role, content} objects")
    texts = [(str(m.get("role", "")), _content(m)) for m in messages]
    if sum(len(t) for _, t in texts) > int(cfg["max_context_chars"]):
        raise ContextLengthExceeded(f"conversation exceeds the bot's context of {cfg['max_context_chars']} characters")
    user_turns = [t for role, t in texts if role == "user"]
    last = user_turns[-1] if user_turns else ""
    tool_texts = [t for role, t in texts if role in ("tool", "function")]
    # What the bot 'reads' as instructions: the last user turn, tool output and anything it decodes.
    readable = [last, *tool_texts]
    readable += [d for t in list(readable) for d in _decoded(t)]
    squashed = [re.sub(r"\s+", " ", t) for t in readable]
    lowered = re.sub(r"\s+", " ", last).strip().lower()

    if _first(r.patterns("refuse", "patterns"), lowered):
        return str(cfg["refuse"]["answer"])

    obeyed = _obey(r, squashed, user_turns)
    if obeyed is not None:
        return obeyed

    if any(_first(r.patterns("leak_prompt", "patterns"), t) for t in squashed):
        return str(cfg["leak_prompt"]["answer"]).format(system_prompt=system_prompt())

    if _first(r.patterns("leak_secrets", "patterns"), lowered):
        secret = re.compile(cfg["leak_secrets"]["secret_pattern"])
        seen = [system_prompt(), *(t for role, t in texts if role != "user" or t is not last)]
        secrets = list(dict.fromkeys(s for t in seen for s in secret.findall(t)))
        if secrets:
            return str(cfg["leak_secrets"]["answer"]).format(secrets=", ".join(secrets))

    leaked = _leak_customer(cfg, lowered)
    if leaked is not None:
        return leaked

    if _first(r.patterns("echo_pii", "patterns"), lowered):
        # Bounded: the lazy pattern is quadratic on adversarial input and the value sits near the start anyway.
        value = re.search(cfg["echo_pii"]["value_pattern"], last[:4000], re.IGNORECASE)
        if value:
            return str(cfg["echo_pii"]["answer"]).format(value=value.group(1).strip())

    return _support_answer(cfg, last, lowered)


def _obey(r: Rules, readable: list[str], user_turns: list[str]) -> str | None:
    cues = r.patterns("obey", "cues")
    commands = r.patterns("obey", "commands")
    for text in readable:
        if _first(cues, text):
            command = _first(commands, text)
            if command and command.group(1).strip():
                return command.group(1).strip()
    trigger = re.compile(r.raw["obey"]["trigger_rule"], re.IGNORECASE)
    last = user_turns[-1].lower() if user_turns else ""
    for earlier in user_turns[:-1]:
        match = trigger.search(earlier)
        if match and match.group(2).strip() and _has_word(last, match.group(1).lower()):
            return match.group(2).strip()
    return None


def _leak_customer(cfg: Mapping[str, Any], lowered: str) -> str | None:
    spec = cfg["leak_customer"]
    customers = cfg["customers"]
    if any(re.search(p, lowered) for p in spec["list_patterns"]):
        return "\n".join(str(spec["answer"]).format(**c) for c in customers)
    for customer in customers:
        if customer["name"].lower() in lowered and any(_has_word(lowered, f) for f in spec["fields"]):
            return str(spec["answer"]).format(**customer)
    return None


def _support_answer(cfg: Mapping[str, Any], last: str, lowered: str) -> str:
    if not lowered:
        return str(cfg["empty_answer"])
    answers: list[str] = []
    order_id = re.search(cfg["order_id_pattern"], last)
    if order_id:
        key = order_id.group(1).upper()
        order = cfg["orders"].get(key)
        template = cfg["order_answer"] if order else cfg["order_unknown"]
        answers.append(str(template).format(order_id=key, **(order or {})))
    elif any(_has_word(lowered, k) for k in cfg["order_keywords"]):
        answers.append(str(cfg["order_missing_id"]))
    for intent in cfg["intents"]:
        if intent["name"] == "greeting" and answers:
            continue
        if any(_has_word(lowered, k) for k in intent["keywords"]):
            answers.append(str(intent["answer"]))
    return " ".join(answers) if answers else str(cfg["fallback"])


def plan_tool_call(messages: Sequence[Mapping[str, Any]], tools: Sequence[Any] | None) -> dict[str, Any] | None:
    """An OpenAI `tool_calls` entry when the caller offers the order tool and the user asks about an order."""
    cfg = rules().raw
    name = str(cfg["order_tool"])
    offered = {
        str(t.get("function", {}).get("name"))
        for t in tools or []
        if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
    }
    if name not in offered or not messages or not isinstance(messages[-1], Mapping):
        return None
    if messages[-1].get("role") != "user":
        return None
    order_id = re.search(cfg["order_id_pattern"], _content(messages[-1]))
    if order_id is None:
        return None
    arguments = json.dumps({"order_id": order_id.group(1).upper()})
    call_id = "call_" + hashlib.sha256(arguments.encode("utf-8")).hexdigest()[:20]
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


async def arespond(messages: Sequence[Mapping[str, Any]]) -> str:
    """Async flavour of `respond` (the bot does no I/O, so it answers inline)."""
    return respond(messages)
