"""Load pattern files (built-in package data plus user directories) into one validated PatternSet.

Layering: built-ins first, then each user directory in order. A user pattern with an existing id
replaces it; `disable: [ID, ...]` switches ids off after all layers are read. Any broken file is a
ConfigError that names the file and the pattern id, and nothing of the new set is used.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import re2
import yaml
from pydantic import ValidationError

from shieldstorm.detect.models import Kind
from shieldstorm.detect.normalize import fold_pattern_text, fold_raw_pattern_text, normalized_view, raw_view
from shieldstorm.detect.schema import Pattern, PatternFile
from shieldstorm.errors import ConfigError

ViewName = Literal["raw", "norm"]
Validator = Callable[[str], bool]
BUILTIN_PACKAGE = "shieldstorm.detect.patterns"
# libyaml's safe loader parses the built-in files ~10x faster than the pure-Python one.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_META = frozenset(".^$|?*+()[]{}\\/-#")


@dataclass(frozen=True, slots=True)
class Expression:
    """One engine-ready expression: the same source compiles in Hyperscan and RE2."""

    index: int
    pattern_id: str
    source: str  # without flags; `(?P<value>` kept (both engines accept it)
    caseless: bool
    view: ViewName
    value_group: int | None
    regex: Any  # re2 compiled object used for exact spans after a hit
    prefilter: str | None = None  # Hyperscan-only superset of `source` (schema field `prefilter`), folded alike

    def flagged_source(self) -> str:
        return f"(?i){self.source}" if self.caseless else self.source


@dataclass(frozen=True)
class PatternSet:
    patterns: dict[str, Pattern]
    origins: dict[str, str]
    expressions: list[Expression]
    validators: dict[str, Validator]
    digest: str
    sources: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.patterns)


def fold_raw_text(text: str) -> str:
    return raw_view(text).text


def escape_literal(text: str) -> str:
    """Escape a literal for both Hyperscan and RE2 (only ASCII metacharacters need it)."""
    return "".join("\\" + c if c in _META else c for c in text)


def _builtin_files() -> Iterator[tuple[str, Traversable]]:
    try:
        root = resources.files(BUILTIN_PACKAGE)
    except ModuleNotFoundError:
        return

    def walk(node: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                yield from walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith((".yaml", ".yml")):
                yield f"builtin:{prefix}{child.name}", child

    yield from walk(root, "")


def _user_files(directory: Path) -> Iterator[tuple[str, Path]]:
    if not directory.is_dir():
        problem = "is not a directory (give the folder that holds the YAML files)" if directory.exists() \
            else "does not exist"
        raise ConfigError(f"pattern directory {directory} {problem}")
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            yield str(path), path


def parse_pattern_file(label: str, text: str) -> PatternFile:
    try:
        data = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe loader (C version when available)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{label}:{where} invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return PatternFile()
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: a pattern file must be a mapping with `patterns:` and/or `disable:`")
    try:
        return PatternFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        who = ""
        if len(loc) >= 2 and loc[0] == "patterns" and isinstance(loc[1], int):
            raw = (data.get("patterns") or [None])[loc[1]] if isinstance(data.get("patterns"), list) else None
            pid = raw.get("id") if isinstance(raw, dict) else None
            who = f" pattern {pid or '#' + str(loc[1] + 1)}:"
            loc = loc[2:]
        path = ".".join(str(p) for p in loc) or "(file)"
        raise ConfigError(f"{label}:{who} {path}: {err['msg']}") from None


def _load_validators() -> dict[str, Validator]:
    try:
        module = importlib.import_module("shieldstorm.detect.validators")
    except ModuleNotFoundError:
        return {}
    table = getattr(module, "VALIDATORS", None)
    return dict(table) if isinstance(table, dict) else {}


def _compile_expressions(pattern: Pattern, label: str, start: int) -> list[Expression]:
    view: ViewName = "norm" if pattern.kind == Kind.INJECTION else "raw"
    caseless = view == "norm" or not pattern.case_sensitive
    out: list[Expression] = []
    for n, expr in enumerate(pattern.expressions):
        if expr.literal is not None:
            literal = " ".join(expr.literal.split()) if view == "norm" else expr.literal
            source = escape_literal(fold_pattern_text(literal) if view == "norm" else fold_raw_text(literal))
        else:
            assert expr.regex is not None
            source = fold_pattern_text(expr.regex) if view == "norm" else fold_raw_pattern_text(expr.regex)
        where = f"{label}: pattern {pattern.id}: expression {n + 1}"
        try:
            regex = re2.compile(f"(?i){source}" if caseless else source)
        except re2.error as exc:
            raise ConfigError(f"{where}: not valid RE2 syntax ({exc})") from None
        groups = regex.groupindex
        if set(groups) - {"value"}:
            raise ConfigError(f"{where}: only one named group, `value`, is allowed")
        if regex.search("") is not None:
            raise ConfigError(f"{where}: the expression matches the empty string")
        prefilter = None
        if expr.prefilter is not None:
            prefilter = fold_pattern_text(expr.prefilter) if view == "norm" else fold_raw_pattern_text(expr.prefilter)
            _check_prefilter(pattern, view, regex, prefilter, caseless, where)
        out.append(Expression(start + n, pattern.id, source, caseless, view, groups.get("value"), regex, prefilter))
    return out


def _check_prefilter(pattern: Pattern, view: ViewName, regex: Any, prefilter: str, caseless: bool, where: str) -> None:
    """A `prefilter` must be valid, must not match the empty string and must match every example and
    counter-example the regex matches (a cheap check that it is a superset: one that is not would
    silently lose findings under Hyperscan only)."""
    try:
        pre = re2.compile(f"(?i){prefilter}" if caseless else prefilter)
    except re2.error as exc:
        raise ConfigError(f"{where}: prefilter is not valid RE2 syntax ({exc})") from None
    if pre.search("") is not None:
        raise ConfigError(f"{where}: the prefilter matches the empty string")
    for text in (*pattern.examples, *pattern.counter_examples):
        viewed = normalized_view(text).text if view == "norm" else raw_view(text).text
        if regex.search(viewed) is not None and pre.search(viewed) is None:
            raise ConfigError(f"{where}: the prefilter does not match {text!r}, which the regex matches")


def load_pattern_set(user_dirs: Iterable[str | Path] = (), *, builtins: bool = True) -> PatternSet:
    layers: list[tuple[str, str, PatternFile]] = []  # (layer, file label, parsed file)
    if builtins:
        for label, node in _builtin_files():
            layers.append(("builtin", label, parse_pattern_file(label, node.read_text("utf-8"))))
    dirs = [Path(d) for d in user_dirs]
    for directory in dirs:
        for label, path in _user_files(directory):
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{label}: cannot read pattern file ({exc})") from None
            layers.append((str(directory), label, parse_pattern_file(label, text)))

    patterns: dict[str, Pattern] = {}
    origins: dict[str, str] = {}
    layer_of: dict[str, str] = {}
    disabled: set[str] = set()
    for layer, label, pfile in layers:
        for pattern in pfile.patterns:
            if layer_of.get(pattern.id) == layer:
                raise ConfigError(f"{label}: pattern {pattern.id}: duplicate id (also in {origins[pattern.id]})")
            patterns[pattern.id] = pattern  # a later layer overrides an earlier one
            origins[pattern.id] = label
            layer_of[pattern.id] = layer
        disabled.update(pfile.disable)
    for pid in disabled:
        patterns.pop(pid, None)
        origins.pop(pid, None)

    validators = _load_validators()
    expressions: list[Expression] = []
    for pid in sorted(patterns):
        pattern = patterns[pid]
        if pattern.validator is not None and pattern.validator not in validators:
            raise ConfigError(
                f"{origins[pid]}: pattern {pid}: validator {pattern.validator!r} is not available"
                f" (known: {', '.join(sorted(validators)) or 'none'})"
            )
        expressions.extend(_compile_expressions(pattern, origins[pid], len(expressions)))

    digest_src = json.dumps(
        [[e.pattern_id, e.source, e.caseless, e.view, e.prefilter] for e in expressions], ensure_ascii=False
    ).encode()
    return PatternSet(
        patterns={pid: patterns[pid] for pid in sorted(patterns)},
        origins=origins,
        expressions=expressions,
        validators=validators,
        digest=hashlib.sha256(digest_src).hexdigest(),
        sources=tuple(str(d) for d in dirs),
    )

