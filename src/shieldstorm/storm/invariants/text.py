"""Text checks: contains, not_contains, contains_any, regex, excludes_pattern, output_not_empty.

Regexes run on RE2 (linear time): a hostile agent reply cannot make a check hang.
"""

from __future__ import annotations

from typing import Any, Literal

import re2
from pydantic import Field, field_validator

from shieldstorm.storm.invariants.base import Check, CheckContext, Invariant, InvariantConfig, shorten

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would otherwise print parse errors to stderr besides raising


def compile_re2(pattern: str, *, case_sensitive: bool = True) -> Any:
    """Compile with RE2; raise ValueError (a config error) for syntax RE2 lacks, e.g. look-around."""
    source = pattern if case_sensitive else f"(?i){pattern}"
    try:
        return re2.compile(source, _RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"invalid RE2 regular expression {pattern!r}: {detail}") from None


def re2_matcher(regex: Any, *, full: bool = False) -> Any:
    """A boolean `text -> matched` for a compiled RE2 regex. The wrapper's `search` builds a match object and
    maps byte offsets back to characters (~5 µs per call); a yes/no check needs neither, so call RE2 on the
    UTF-8 bytes directly, falling back to the public API if the wrapper's internals ever change."""
    raw = getattr(regex, "_regexp", None)
    anchor_type = getattr(re2, "_Anchor", None)
    if raw is None or anchor_type is None or not hasattr(raw, "Match"):
        method = regex.fullmatch if full else regex.search
        return lambda text: method(text) is not None
    match, anchor = raw.Match, anchor_type.ANCHOR_BOTH if full else anchor_type.UNANCHORED

    def matched(text: str) -> bool:
        encoded = text.encode("utf-8")
        return bool(match(anchor, encoded, 0, len(encoded))[0][0] >= 0)

    return matched


def _fold(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.casefold()


class ContainsConfig(InvariantConfig):
    type: Literal["contains"]
    value: str = Field(min_length=1)
    case_sensitive: bool = False


class Contains(Invariant):
    type = "contains"
    Config = ContainsConfig

    def check(self, ctx: CheckContext) -> Check:
        cfg: ContainsConfig = self.config  # type: ignore[assignment]
        if _fold(cfg.value, cfg.case_sensitive) in _fold(ctx.output, cfg.case_sensitive):
            return Check(True)
        return Check(False, f"output does not contain {cfg.value!r}")


class NotContainsConfig(InvariantConfig):
    type: Literal["not_contains"]
    value: str = Field(min_length=1)
    case_sensitive: bool = False


class NotContains(Invariant):
    type = "not_contains"
    Config = NotContainsConfig

    def check(self, ctx: CheckContext) -> Check:
        cfg: NotContainsConfig = self.config  # type: ignore[assignment]
        if _fold(cfg.value, cfg.case_sensitive) in _fold(ctx.output, cfg.case_sensitive):
            return Check(False, f"output contains forbidden text {cfg.value!r}")
        return Check(True)


class ContainsAnyConfig(InvariantConfig):
    type: Literal["contains_any"]
    values: list[str] = Field(min_length=1)
    case_sensitive: bool = False


class ContainsAny(Invariant):
    type = "contains_any"
    Config = ContainsAnyConfig

    def check(self, ctx: CheckContext) -> Check:
        cfg: ContainsAnyConfig = self.config  # type: ignore[assignment]
        output = _fold(ctx.output, cfg.case_sensitive)
        if any(_fold(value, cfg.case_sensitive) in output for value in cfg.values):
            return Check(True)
        return Check(False, f"output contains none of {cfg.values!r}")


class RegexConfig(InvariantConfig):
    type: Literal["regex"]
    pattern: str = Field(min_length=1)
    case_sensitive: bool = True
    full_match: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_re2(value)
        return value


class Regex(Invariant):
    type = "regex"
    Config = RegexConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg: RegexConfig = self.config  # type: ignore[assignment]
        self._regex = compile_re2(cfg.pattern, case_sensitive=cfg.case_sensitive)
        self._matches = re2_matcher(self._regex, full=cfg.full_match)

    def check(self, ctx: CheckContext) -> Check:
        cfg: RegexConfig = self.config  # type: ignore[assignment]
        if self._matches(ctx.output):
            return Check(True)
        return Check(False, f"output does not match /{cfg.pattern}/")


class ExcludesPatternConfig(InvariantConfig):
    type: Literal["excludes_pattern"]
    patterns: list[str] = Field(min_length=1)
    case_sensitive: bool = False

    @field_validator("patterns")
    @classmethod
    def _compile(cls, values: list[str]) -> list[str]:
        for value in values:
            compile_re2(value)
        return values


class ExcludesPattern(Invariant):
    type = "excludes_pattern"
    Config = ExcludesPatternConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg: ExcludesPatternConfig = self.config  # type: ignore[assignment]
        self._regexes = [(p, compile_re2(p, case_sensitive=cfg.case_sensitive)) for p in cfg.patterns]

    def check(self, ctx: CheckContext) -> Check:
        for pattern, regex in self._regexes:
            found = regex.search(ctx.output)
            if found:
                return Check(False, f"output matches forbidden /{pattern}/: {shorten(found.group(0))!r}")
        return Check(True)


class OutputNotEmptyConfig(InvariantConfig):
    type: Literal["output_not_empty"]
    min_chars: int = Field(default=1, ge=1)


class OutputNotEmpty(Invariant):
    type = "output_not_empty"
    Config = OutputNotEmptyConfig

    def check(self, ctx: CheckContext) -> Check:
        cfg: OutputNotEmptyConfig = self.config  # type: ignore[assignment]
        length = len(ctx.output.strip())
        if length >= cfg.min_chars:
            return Check(True)
        return Check(False, "output is empty" if length == 0 else f"output has {length} < {cfg.min_chars} characters")
