"""Light textual analysis of Rego sources: packages, rule heads with line numbers, `with` clauses.

rego-cpp exposes no AST to Python, so the test runner and `policy check` read rule heads from the text.
This handles the formatting `opa fmt` produces (rule heads at column 0); it is not a Rego parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_HEAD = re.compile(r"^(default\s+)?([A-Za-z_]\w*)\s*(\(|:=|=|contains\b|if\b|\[|\{|else\b)?")
_KEYWORDS = {"package", "import", "else", "not", "some", "every", "with", "as", "in", "if", "contains"}


@dataclass(frozen=True)
class RuleHead:
    file: str
    line: int
    package: str
    name: str
    kind: str  # "function", "default", "set", "complete", "test"
    text: str

    @property
    def path(self) -> str:
        return "/".join([*self.package.split("."), self.name])


def strip_comment(line: str) -> str:
    """Drop a `#` comment, ignoring `#` inside string literals."""
    out: list[str] = []
    quote: str | None = None
    escaped = False
    for char in line:
        if quote:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char == "#":
            break
        if char in '"`':
            quote = char
        out.append(char)
    return "".join(out)


def package_of(source: str) -> str:
    match = _PACKAGE.search(source)
    return match.group(1) if match else ""


def rule_heads(file: str, source: str) -> list[RuleHead]:
    package = package_of(source)
    heads: list[RuleHead] = []
    for number, raw in enumerate(source.splitlines(), start=1):
        line = strip_comment(raw).rstrip()
        if not line or line[0] in " \t}])":
            continue
        match = _HEAD.match(line)
        if not match or match.group(2) in _KEYWORDS:
            continue
        name, operator = match.group(2), match.group(3)
        if operator is None and line.strip() != name:
            continue
        if operator == "(":
            kind = "function"
        elif match.group(1):
            kind = "default"
        elif name.startswith("test_"):
            kind = "test"
        elif operator == "contains" or operator == "[":
            kind = "set"
        else:
            kind = "complete"
        heads.append(RuleHead(file, number, package, name, kind, line.strip()))
    return heads


def balanced_expression(text: str, start: int) -> str:
    """The Rego term starting at `start`: a bracketed literal (balanced, strings respected) or a reference."""
    while start < len(text) and text[start] in " \t":
        start += 1
    if start >= len(text):
        return ""
    if text[start] in "{[":
        depth = 0
        quote: str | None = None
        escaped = False
        for index in range(start, len(text)):
            char = text[index]
            if quote:
                if escaped:
                    escaped = False
                elif char == "\\" and quote == '"':
                    escaped = True
                elif char == quote:
                    quote = None
                continue
            if char in '"`':
                quote = char
            elif char in "{[(":
                depth += 1
            elif char in "}])":
                depth -= 1
                if depth == 0:
                    return text[start : index + 1]
        return ""
    match = re.match(r'[\w.]+(\[[^\]\n]*\])*|"(?:[^"\\]|\\.)*"|-?\d+(\.\d+)?', text[start:])
    return match.group(0) if match else ""


_WITH = re.compile(r"\bwith\s+(input(?:\.[\w.]+)?|data\.[\w.]+)\s+as\s+")


def with_groups(body: str) -> list[list[tuple[str, str]]]:
    """Each `with input as X` occurrence in a test body, with the `with` clauses that share its expression."""
    groups: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    last_end = -1
    for match in _WITH.finditer(body):
        value = balanced_expression(body, match.end())
        if not value:
            continue
        between = body[last_end : match.start()] if last_end >= 0 else ""
        # Clauses chained on one expression are separated only by whitespace and previous `with` values.
        if current and between.strip() == "":
            current.append((match.group(1), value))
        else:
            if current:
                groups.append(current)
            current = [(match.group(1), value)]
        last_end = match.end() + body[match.end() :].find(value) + len(value)
    if current:
        groups.append(current)
    return groups


def rule_bodies(source: str) -> dict[str, str]:
    """Text of each top-level rule (head line to the next top-level head), keyed by rule name (tests only)."""
    lines = source.splitlines()
    bodies: dict[str, str] = {}
    current: str | None = None
    chunk: list[str] = []
    for raw in lines:
        line = strip_comment(raw)
        if line and line[0] not in " \t}])":
            if current:
                bodies[current] = bodies.get(current, "") + "\n".join(chunk)
            match = _HEAD.match(line)
            current = match.group(2) if match else None
            chunk = [line]
        else:
            chunk.append(line)
    if current:
        bodies[current] = bodies.get(current, "") + "\n".join(chunk)
    return bodies


_WITH_INPUT = re.compile(r"\bwith\s+input\s+as\s+")


def hoist_input(body: str) -> tuple[str, list[str]]:
    """Remove every `with input as X` from a rule body; return the new body and the distinct X texts.

    rego-cpp 1.5 crashes when `with input as` overrides input for a rule whose value is computed, so the test
    runner evaluates a test with X as the real input instead (equivalent when a test uses one input).
    """
    values: list[str] = []
    out: list[str] = []
    position = 0
    for match in _WITH_INPUT.finditer(body):
        if match.start() < position:
            continue
        value = balanced_expression(body, match.end())
        if not value:
            continue
        end = body.index(value, match.end()) + len(value)
        out.append(body[position : match.start()])
        position = end
        if value not in values:
            values.append(value)
    out.append(body[position:])
    return "".join(out), values


def top_level_chunks(source: str) -> list[tuple[str | None, str]]:
    """The source split at top-level rule heads, keeping every character: (rule name or None, text)."""
    chunks: list[tuple[str | None, str]] = []
    current: str | None = None
    chunk: list[str] = []
    for raw in source.splitlines(keepends=True):
        line = strip_comment(raw.rstrip("\n"))
        if line and line[0] not in " \t}])":
            match = _HEAD.match(line)
            name = match.group(2) if match and match.group(2) not in _KEYWORDS else None
            if chunk:
                chunks.append((current, "".join(chunk)))
            current, chunk = name, [raw]
        else:
            chunk.append(raw)
    if chunk:
        chunks.append((current, "".join(chunk)))
    return chunks


def code_only(source: str) -> str:
    """The source with comments removed and every string literal ("..." and `...`) replaced by `""`."""
    out: list[str] = []
    index, size = 0, len(source)
    while index < size:
        char = source[index]
        if char == "#":
            end = source.find("\n", index)
            index = size if end < 0 else end
        elif char == '"':
            index += 1
            while index < size and source[index] != '"':
                index += 2 if source[index] == "\\" else 1
            index += 1
            out.append('""')
        elif char == "`":
            end = source.find("`", index + 1)
            index = size if end < 0 else end + 1
            out.append('""')
        else:
            out.append(char)
            index += 1
    return "".join(out)


_INPUT_REF = re.compile(r"(?<![\w.])input\b(\s*\.\s*([A-Za-z_]\w*))?")


def input_keys(sources: list[str]) -> frozenset[str] | None:
    """The top-level input keys the modules can read, or None when that cannot be told from the text.

    Every `input` reference must have the form `input.<name>` (then `<name>` is a key the policy reads);
    any other use (`input[...]`, `input` passed to a function or iterated, `import input`, `with input as`)
    returns None, meaning "the policy may read any key".
    """
    keys: set[str] = set()
    for source in sources:
        for match in _INPUT_REF.finditer(code_only(source)):
            if match.group(2) is None:
                return None
            keys.add(match.group(2))
    return frozenset(keys)
