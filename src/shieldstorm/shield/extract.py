"""Body extraction: which texts of a request (or response) body get scanned, and where they live.

Each `Segment` remembers its location in the parsed JSON so that a `redact` decision can rewrite exactly those
strings and forward the rest of the body untouched. OpenAI-compatible bodies are read completely: every message
(string or content parts), the system prompt, tool definitions, tool calls and tool results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shieldstorm.errors import InputError

PathPart = str | int


@dataclass(frozen=True)
class Segment:
    source: str  # "system", "user", "assistant", "tool_result", "tool_definition", "path:<expr>", "raw", ...
    path: tuple[PathPart, ...]  # location in the JSON document; () for a raw text body
    text: str


@dataclass
class Extracted:
    segments: list[Segment] = field(default_factory=list)
    document: Any = None  # parsed JSON, or None
    is_openai: bool = False
    model: str | None = None
    tools: list[str] = field(default_factory=list)
    stream: bool = False

    @property
    def system_prompt(self) -> str:
        return "\n".join(s.text for s in self.segments if s.source == "system")


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("request body is not valid JSON") from exc
    except RecursionError:
        raise InputError("request body is nested too deeply") from None


def _content_segments(role: str, content: Any, base: tuple[PathPart, ...]) -> Iterator[Segment]:
    if isinstance(content, str):
        yield Segment(role, (*base, "content"), content)
    elif isinstance(content, list):
        for index, part in enumerate(content):
            if isinstance(part, str):
                yield Segment(role, (*base, "content", index), part)
            elif isinstance(part, dict):
                for key in ("text", "input_text", "output_text", "refusal"):
                    if isinstance(part.get(key), str):
                        yield Segment(role, (*base, "content", index, key), part[key])
                # Anthropic-style tool_result parts nest their own content.
                if part.get("type") == "tool_result":
                    yield from _content_segments("tool_result", part.get("content"), (*base, "content", index))


def _tool_definition_text(tool: dict[str, Any]) -> str:
    function = tool.get("function") if isinstance(tool.get("function"), dict) else tool
    assert isinstance(function, dict)
    return json.dumps(
        {k: function.get(k) for k in ("name", "description", "parameters") if function.get(k) is not None},
        ensure_ascii=False,
    )


def openai_segments(document: dict[str, Any]) -> Iterator[Segment]:
    """Chat Completions (messages), legacy Completions (prompt) and Responses API (input/instructions)."""
    for key in ("system", "instructions"):
        if isinstance(document.get(key), str):
            yield Segment("system", (key,), document[key])
    messages = document.get("messages")
    if isinstance(messages, list):
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                continue
            role = str(message.get("role", "user"))
            source = {"developer": "system", "tool": "tool_result", "function": "tool_result"}.get(role, role)
            yield from _content_segments(source, message.get("content"), ("messages", index))
            for call_index, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    path = ("messages", index, "tool_calls", call_index, "function", "arguments")
                    yield Segment("tool_call", path, function["arguments"])
    prompt = document.get("prompt")
    if isinstance(prompt, str):
        yield Segment("user", ("prompt",), prompt)
    elif isinstance(prompt, list):
        for index, item in enumerate(prompt):
            if isinstance(item, str):
                yield Segment("user", ("prompt", index), item)
    inputs = document.get("input")
    if isinstance(inputs, str):
        yield Segment("user", ("input",), inputs)
    elif isinstance(inputs, list):
        for index, item in enumerate(inputs):
            if isinstance(item, str):
                yield Segment("user", ("input", index), item)
            elif isinstance(item, dict):
                role = str(item.get("role", "user"))
                yield from _content_segments("system" if role == "developer" else role, item.get("content"),
                                             ("input", index))
                if isinstance(item.get("output"), str):  # function_call_output
                    yield Segment("tool_result", ("input", index, "output"), item["output"])
    for index, tool in enumerate(document.get("tools") or []):
        if isinstance(tool, dict):
            # Tool definitions are scanned as one serialised text; they are never rewritten (path is empty).
            yield Segment("tool_definition", ("tools", index), _tool_definition_text(tool))
    # Fail closed on the rest of the body: any other top-level field may reach the model (a JSON-schema
    # description in response_format does; a provider extension might), so its strings are scanned too. Only
    # fields whose strings are identifiers, not text for the model, are skipped.
    # Text fields of an unexpected shape (`"messages": "..."`, a message that is not an object) are walked as well.
    for key, value in document.items():
        if key in _OPENAI_IDENTIFIER_FIELDS:
            continue
        expected = _OPENAI_TEXT_FIELDS.get(key)
        if expected is None:
            yield from walk_strings(value, (key,), "json")
        elif isinstance(value, list) and list in expected:
            for index, item in enumerate(value):
                if not isinstance(item, _OPENAI_ITEM_TYPES[key]):
                    yield from walk_strings(item, (key, index), "json")
        elif not isinstance(value, expected) and value is not None:
            yield from walk_strings(value, (key,), "json")


# Top-level fields read above, and fields whose string values are identifiers or enum knobs.
_OPENAI_TEXT_FIELDS: dict[str, tuple[type, ...]] = {
    "system": (str,), "instructions": (str,), "messages": (list,), "prompt": (str, list), "input": (str, list),
    "tools": (list,),
}
_OPENAI_ITEM_TYPES: dict[str, tuple[type, ...]] = {
    "messages": (dict,), "prompt": (str,), "input": (str, dict), "tools": (dict,),
}
_OPENAI_IDENTIFIER_FIELDS = frozenset(
    {"model", "user", "service_tier", "reasoning_effort", "modalities", "tool_choice", "stream", "n", "seed",
     "temperature", "top_p", "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty",
     "logit_bias", "logprobs", "top_logprobs", "parallel_tool_calls", "stream_options", "store"}
)


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\*|\d+)\]")


def compile_path(expression: str) -> list[str | int]:
    """`messages[*].content`, `$.input.text`, `items[0].body` → parts; `*` means every list item or dict value."""
    expression = expression.removeprefix("$").lstrip(".")
    parts: list[str | int] = []
    for match in _PATH_TOKEN.finditer(expression):
        name, index = match.groups()
        if name is not None:
            parts.append(name)
        else:
            parts.append("*" if index == "*" else int(index))
    if not parts:
        raise InputError(f"empty JSON path {expression!r}")
    return parts


def path_segments(document: Any, parts: list[str | int], label: str) -> Iterator[Segment]:
    def walk(node: Any, index: int, where: tuple[PathPart, ...]) -> Iterator[Segment]:
        if index == len(parts):
            if isinstance(node, str):
                yield Segment(label, where, node)
            elif isinstance(node, list | dict):  # a subtree: scan its strings
                yield from walk_strings(node, where, label)
            return
        part = parts[index]
        if part == "*":
            items = enumerate(node) if isinstance(node, list) else node.items() if isinstance(node, dict) else ()
            for key, child in items:
                yield from walk(child, index + 1, (*where, key))
        elif isinstance(part, int) and isinstance(node, list) and -len(node) <= part < len(node):
            yield from walk(node[part], index + 1, (*where, part % len(node)))
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            yield from walk(node[part], index + 1, (*where, part))

    yield from walk(document, 0, ())


def walk_strings(node: Any, where: tuple[PathPart, ...], label: str) -> Iterator[Segment]:
    if isinstance(node, str):
        yield Segment(label, where, node)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from walk_strings(child, (*where, index), label)
    elif isinstance(node, dict):
        for key, child in node.items():
            yield from walk_strings(child, (*where, key), label)


def looks_openai(document: Any) -> bool:
    return isinstance(document, dict) and (
        isinstance(document.get("messages"), list) or "prompt" in document or "input" in document
    )


class Extractor:
    def __init__(self, fmt: str, json_paths: list[str], *, scan_raw_text: bool, max_segments: int) -> None:
        self.format = fmt
        self.paths = [(expression, compile_path(expression)) for expression in json_paths]
        self.scan_raw_text = scan_raw_text
        self.max_segments = max_segments

    def extract(self, body: bytes, content_type: str) -> Extracted:
        result = Extracted()
        if not body:
            return result
        is_json = "json" in content_type or body[:1] in (b"{", b"[")
        if self.format == "raw" or not is_json:
            if self.scan_raw_text or self.format == "raw":
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    text = body.decode("latin-1")  # binary-ish bodies are still scanned, byte for byte
                result.segments.append(Segment("raw", (), text))
            return result
        document = parse_json(body)
        result.document = document
        if self.format in ("auto", "openai") and looks_openai(document):
            result.is_openai = True
            result.segments.extend(openai_segments(document))
            result.model = document.get("model") if isinstance(document.get("model"), str) else None
            result.stream = document.get("stream") is True
            for tool in document.get("tools") or []:
                function = tool.get("function", tool) if isinstance(tool, dict) else None
                if isinstance(function, dict) and isinstance(function.get("name"), str):
                    result.tools.append(function["name"])
        for expression, parts in self.paths:
            result.segments.extend(path_segments(document, parts, f"path:{expression}"))
        # Fail closed: a JSON body with no OpenAI text fields (`{"messages": "..."}`, a bare list, messages that
        # are not objects) is not forwarded unread in openai mode either; every string in it is scanned.
        if self.format in ("auto", "openai") and not result.segments and not self.paths:
            result.segments.extend(walk_strings(document, (), "json"))
        if len(result.segments) > self.max_segments:
            raise InputError(f"request body has more than {self.max_segments} text fields")
        return result


def set_at(document: Any, path: tuple[PathPart, ...], value: str) -> None:
    node = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
