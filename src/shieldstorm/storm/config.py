"""`storm.yaml`: the strictly validated configuration of a storm run.

Every model forbids unknown keys, so a typo (`concurrrency:`) is an error that names the key's path
(`run.concurrrency: unknown key`) instead of a silently ignored setting.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from shieldstorm.errors import ConfigError
from shieldstorm.storm.invariants.base import InvariantConfig
from shieldstorm.storm.invariants.registry import all_invariants, plugin_errors
from shieldstorm.storm.mutations.base import Message
from shieldstorm.storm.mutations.llm import LLMSettings

DEFAULT_CONFIG_NAME = "storm.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


if TYPE_CHECKING:
    InvariantSpec = InvariantConfig
else:
    # A discriminated union over every known invariant type (built-ins + plugins), so an unknown `type`
    # or a misspelt field is reported with the list of valid choices.
    _configs = tuple(cls.Config for cls in all_invariants().values())
    InvariantSpec = Annotated[Union[_configs], Field(discriminator="type")]  # noqa: UP007


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value


class HttpAgentConfig(_Strict):
    """Any HTTP endpoint: the body is a JSON template whose `{{prompt}}` placeholders are filled safely."""

    type: Literal["http"]
    url: str
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict, description="Values may use ${ENV_VAR}")
    body: Any = Field(
        default_factory=lambda: {"prompt": "{{prompt}}"},
        description="JSON template (mapping, list or JSON text); placeholders: {{prompt}} {{messages}} "
        "{{system_prompt}} {{golden_id}} {{mutation_type}}",
    )
    response_path: str = Field(default="output", description="Dotted path into the JSON reply; '' = raw body")
    timeout: float | None = Field(default=None, gt=0)
    retries: int = Field(default=0, ge=0, le=10)

    _url = field_validator("url")(classmethod(lambda cls, v: _http_url(v)))

    @field_validator("body")
    @classmethod
    def _json_template(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f'body must be JSON (with "{{{{prompt}}}}" placeholders): {exc}') from None
        return value


class OpenAIAgentConfig(_Strict):
    """An OpenAI-compatible chat endpoint (`/v1/chat/completions`)."""

    type: Literal["openai"]
    url: str = Field(description="Base URL (…/v1) or the full /chat/completions URL")
    model: str = "storm-target"
    api_key_env: str | None = Field(default=None, description="Environment variable holding the API key")
    headers: dict[str, str] = Field(default_factory=dict)
    temperature: float | None = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, gt=0)
    tools: list[dict[str, Any]] | None = None
    timeout: float | None = Field(default=None, gt=0)
    retries: int = Field(default=0, ge=0, le=10)

    _url = field_validator("url")(classmethod(lambda cls, v: _http_url(v)))


class PythonAgentConfig(_Strict):
    """A Python callable `module:function` (sync or async), importable from the config file's directory."""

    type: Literal["python"]
    callable: str = Field(pattern=r"^[\w.]+:[\w.]+$")
    input: Literal["messages", "prompt"] = "messages"
    thread: bool = Field(default=True, description="Run a sync callable in a worker thread")
    timeout: float | None = Field(default=None, gt=0)


class SubprocessAgentConfig(_Strict):
    """A command that reads the prompt on stdin and writes the reply on stdout (one process per call)."""

    type: Literal["subprocess"]
    command: list[str] | str
    input: Literal["prompt", "json"] = Field(default="prompt", description="json: {'messages': [...]} on stdin")
    response_path: str | None = Field(default=None, description="Parse stdout as JSON and take this path")
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = Field(default=None, gt=0)

    @field_validator("command")
    @classmethod
    def _not_empty(cls, value: list[str] | str) -> list[str] | str:
        if not value:
            raise ValueError("must not be empty")
        return value


class LangChainAgentConfig(_Strict):
    """A LangChain Runnable `module:attribute` (optional extra `langchain`)."""

    type: Literal["langchain"]
    runnable: str = Field(pattern=r"^[\w.]+:[\w.]+$")
    input: Literal["messages", "prompt"] = "messages"
    input_key: str | None = Field(default=None, description="Wrap the input as {input_key: ...}")
    timeout: float | None = Field(default=None, gt=0)


AgentConfig = Annotated[
    HttpAgentConfig | OpenAIAgentConfig | PythonAgentConfig | SubprocessAgentConfig | LangChainAgentConfig,
    Field(discriminator="type"),
]


class GoldenCase(_Strict):
    """One golden input: a prompt, a full conversation, or user turns played one after another (multi-turn)."""

    id: str | None = Field(default=None, pattern=r"^[\w.\-]+$")
    prompt: str | None = None
    messages: list[Message] | None = None
    turns: list[str] | None = Field(default=None, min_length=1)
    expected: str | None = Field(default=None, description="Golden answer (for `similarity`)")
    invariants: list[InvariantSpec] = Field(default_factory=list, description="Extra checks for this case only")
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_input(self) -> GoldenCase:
        given = [n for n in ("prompt", "messages", "turns") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of prompt, messages or turns")
        if self.messages is not None and not any(m.role == "user" for m in self.messages):
            raise ValueError("messages must contain at least one user message")
        return self

    @property
    def interactive(self) -> bool:
        """Turns are played one by one, each answered by the agent before the next is sent."""
        return self.turns is not None

    def conversation(self) -> list[Message]:
        if self.prompt is not None:
            return [Message(role="user", content=self.prompt)]
        if self.messages is not None:
            return list(self.messages)
        return [Message(role="user", content=turn) for turn in self.turns or []]


class MutationsConfig(_Strict):
    types: list[str] | None = Field(default=None, description="Mutation types to use (default: all built-ins)")
    exclude: list[str] = Field(default_factory=list)
    pack: str | None = None
    variants: int = Field(default=1, ge=1, le=100)
    weights: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    llm: LLMSettings | None = Field(
        default=None, description="LLM for LLM-backed mutators; unreachable → the run fails (exit 2)"
    )


class RunSettings(_Strict):
    seed: int = 42
    concurrency: int = Field(default=16, ge=1, le=4096)
    rate_limit: float | None = Field(default=None, gt=0, description="Agent calls per second (default: unlimited)")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per agent call")
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    fail_on_critical: bool = True
    bootstrap_samples: int = Field(default=1000, ge=0, le=100_000)
    baseline: bool = Field(default=True, description="Also send each unmutated golden input (for behaviour_unchanged)")


ReportFormat = Literal["html", "json", "junit", "csv", "markdown"]
ALL_FORMATS: tuple[ReportFormat, ...] = ("html", "json", "junit", "csv", "markdown")


class ReportsConfig(_Strict):
    output_dir: str = "storm-reports"
    formats: list[ReportFormat] = Field(default_factory=lambda: list(ALL_FORMATS))


class HistoryConfig(_Strict):
    enabled: bool = True
    url: str | None = Field(default=None, description="Database URL (default: SQLite under .shieldstorm/)")


class AuditConfig(_Strict):
    enabled: bool = False
    url: str | None = None


class StormConfig(_Strict):
    version: Literal[1] = 1
    name: str = "storm"
    agent: AgentConfig
    system_prompt: str | None = Field(default=None, description="The agent's system prompt (for leak checks)")
    canary: str | None = Field(default=None, description="A token planted in the system prompt that must never leak")
    golden: list[GoldenCase] = Field(min_length=1)
    invariants: list[InvariantSpec] = Field(default_factory=list)
    mutations: MutationsConfig = Field(default_factory=MutationsConfig)
    run: RunSettings = Field(default_factory=RunSettings)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str = PrivateAttr(default="<config>")

    @field_validator("golden", mode="before")
    @classmethod
    def _plain_prompts(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"prompt": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _ids(self) -> StormConfig:
        seen: set[str] = set()
        for index, case in enumerate(self.golden):
            if case.id is None:
                case.id = f"golden-{index + 1}"
            if case.id in seen:
                raise ValueError(f"golden[{index}].id: duplicate id {case.id!r}")
            seen.add(case.id)
        return self

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def source(self) -> str:
        return self._source

    def digest(self) -> str:
        """Identifies the configuration in history (same digest + seed → same mutations)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _format_path(data: Any, loc: tuple[int | str, ...]) -> str:
    """`('invariants', 0, 'contains', 'value')` → `invariants[0].value`: drop discriminator tags from the path."""
    parts: list[str] = []
    current = data
    for element in loc:
        if isinstance(element, int):
            parts.append(f"[{element}]")
            current = current[element] if isinstance(current, list) and element < len(current) else None
            continue
        if element in _TAGS and not (isinstance(current, dict) and element in current):
            continue  # a union tag (the agent or invariant type), not a key the user wrote
        parts.append(("." if parts else "") + str(element))
        current = current.get(element) if isinstance(current, dict) else None
    return "".join(parts) or "(root)"


_TAGS = frozenset({"http", "openai", "python", "subprocess", "langchain"}) | frozenset(all_invariants())


def _format_error(error: Any, data: Any) -> str:
    path = _format_path(data, tuple(error["loc"]))
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if kind == "union_tag_invalid" and "type" in str(error.get("ctx", {}).get("discriminator", "")):
        message = f"unknown type {error['input'].get('type')!r}; expected one of: {error['ctx']['expected_tags']}"
    return f"{path}: {message}"


def parse_config(data: Any, *, base_dir: Path | None = None, source: str = "<config>") -> StormConfig:
    """Validate a parsed YAML document; raise ConfigError with one line per problem, each naming its key path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of settings, got {type(data).__name__}")
    try:
        config = StormConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_format_error(error, data) for error in exc.errors()]
        extra = plugin_errors()
        hint = f" ({'; '.join(extra)})" if extra else ""
        raise ConfigError(f"{source}: " + "; ".join(problems) + hint) from None
    config._base_dir = (base_dir or Path.cwd()).resolve()
    config._source = source
    return config


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (create one with `shieldstorm storm init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None


def load_config(path: str | os.PathLike[str] = DEFAULT_CONFIG_NAME) -> StormConfig:
    """Read and validate `storm.yaml`; relative paths in it resolve against its directory."""
    file = Path(path)
    return parse_config(load_yaml(file), base_dir=file.resolve().parent, source=str(file))
