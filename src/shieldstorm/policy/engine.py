"""The policy engine: a bundle compiled once by rego-cpp (regopy), evaluated per request via its entry point.

Safety rules (rego-cpp quirks measured on this machine, see docs/policy.md):
- strict builtin errors are on, so a builtin rego-cpp cannot run (inline `(?i)`, RFC 3339 with `Z`) is an
  error rather than a silent "undefined";
- any error, undefined result or wrongly shaped output becomes the configured fail mode, never "allow";
- `Output.binding()` aborts the process on an undefined result, so outputs are only read as JSON text;
- network ACLs are computed in Python (`network.py`) and passed in as `input.network`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shieldstorm.errors import ConfigError
from shieldstorm.policy.bundle import PolicyBundle, load_bundle, merge_bundles
from shieldstorm.policy.decision_cache import DecisionCache, cache_key, nondeterministic_builtins
from shieldstorm.policy.network import NetworkAcl
from shieldstorm.policy.rego_source import input_keys

log = logging.getLogger(__name__)

ENTRYPOINT = "shield/decision"
POLICIES_DIR = Path(__file__).parent / "policies"
DEFAULT_POLICY_DIR = POLICIES_DIR / "default"
PRESETS_DIR = POLICIES_DIR / "presets"
FailMode = Literal["closed", "challenge"]
FAIL_MODES: tuple[str, ...] = ("closed", "challenge")
DECISION_CACHE_ENTRIES = 4096
_MEAN_WEIGHT = 0.1  # of the newest sample in `evaluation_seconds` (about the last 20 samples count)
_MEAN_SAMPLE_EVERY = 4  # evaluations per sample; the first evaluation is always sampled


class PolicyDecision(BaseModel):
    """What the policy says about one request or response."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["allow", "redact", "challenge", "block"]
    reasons: list[str] = Field(default_factory=list)
    redact: list[str] = Field(default_factory=list, description="Entity types or categories to redact")
    status: int | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    fail_mode_applied: bool = False
    error: str | None = None


class _RegoOutput(BaseModel):
    """The shape the entry point must return; anything else is a policy error."""

    model_config = ConfigDict(extra="forbid", strict=True)

    decision: Literal["allow", "redact", "challenge", "block"]
    reasons: list[str] = Field(default_factory=list)
    redact: list[str] = Field(default_factory=list)
    status: int | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class PolicyCompileError(ConfigError):
    """The bundle's Rego does not compile."""


def fail_decision(fail_mode: str, error: str) -> PolicyDecision:
    if fail_mode == "challenge":
        return PolicyDecision(
            decision="challenge", reasons=["policy_error"], status=401, fail_mode_applied=True, error=error
        )
    return PolicyDecision(decision="block", reasons=["policy_error"], status=503, fail_mode_applied=True, error=error)


_DECISIONS = frozenset(("allow", "redact", "challenge", "block"))
_OUTPUT_KEYS = frozenset(("decision", "reasons", "redact", "status", "headers"))


def _str_list(value: Any) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


def _fast_decision(value: Any) -> PolicyDecision | None:
    """The decision for an output that is exactly well shaped (all five keys, exact JSON types), else None.

    It accepts a subset of what `_RegoOutput` (strict) accepts and builds the same PolicyDecision without
    pydantic's validation; anything else goes through `_RegoOutput`, which also words the error.
    """
    if type(value) is not dict or value.keys() != _OUTPUT_KEYS:
        return None
    decision, reasons, redact = value["decision"], value["reasons"], value["redact"]
    status, headers = value["status"], value["headers"]
    if type(decision) is not str or decision not in _DECISIONS or not _str_list(reasons) or not _str_list(redact):
        return None
    if status is not None and type(status) is not int:
        return None
    if type(headers) is not dict or not all(type(item) is str for item in headers.values()):
        return None
    return PolicyDecision.model_construct(
        decision=decision, reasons=reasons, redact=redact, status=status, headers=headers
    )


def parse_output(text: str) -> Any:
    """The single result value of an entry-point query, or raise ValueError (undefined, several results)."""
    if text == "undefined":
        raise ValueError("policy result is undefined")
    value = json.loads(text)
    results = value if isinstance(value, list) else [value]
    if len(results) != 1 or not isinstance(results[0], dict):
        raise ValueError("policy returned an unexpected number of results")
    expressions = results[0].get("expressions")
    if not isinstance(expressions, list) or len(expressions) != 1:
        raise ValueError("policy result is undefined")
    return expressions[0]


def compile_bundle(bundle: PolicyBundle, entrypoints: list[str], *, include_tests: bool = False) -> tuple[Any, Any]:
    """(interpreter, compiled regopy bundle); raises PolicyCompileError with rego-cpp's message."""
    from regopy import Interpreter
    from regopy.rego_shared import LogLevel, RegoError

    interpreter = Interpreter()
    # rego-cpp otherwise prints compile errors to stdout; they are raised (and reported) as one line instead.
    interpreter.log_level = LogLevel.NONE
    interpreter.strict_built_in_errors = True
    try:
        for name, source in bundle.modules(include_tests=include_tests).items():
            interpreter.add_module(name, source)
        interpreter.add_data_json(json.dumps(bundle.data))
        compiled = interpreter.build(None, entrypoints)
    except RegoError as exc:
        message = _first_line(str(exc), bundle.modules(include_tests=include_tests))
        raise PolicyCompileError(f"{bundle.source}: Rego compile error: {message}") from exc
    if not compiled.ok():
        raise PolicyCompileError(f"{bundle.source}: Rego compile error")
    return interpreter, compiled


_ERROR_AT = re.compile(r"\(error \d+:([^|\s]+)\|(\d+)\|\d+")
_ERROR_MSG = re.compile(r"\(errormsg \d+:([^)]*)\)")


def _first_line(message: str, sources: dict[str, str] | None = None) -> str:
    """rego-cpp's first error as `message (file:line)`; its error tree gives byte offsets, not lines."""
    text = _ERROR_MSG.search(message)
    where = _ERROR_AT.search(message)
    if not text:
        return " ".join(message.split())[:300]
    location = ""
    if where:
        file, offset = where.group(1), int(where.group(2))
        source = (sources or {}).get(file)
        if source is not None:
            line = source.encode()[:offset].count(b"\n") + 1
            location = f" ({file}:{line})"
        else:
            location = f" ({file})"
    return text.group(1).strip() + location


class PolicyEngine:
    """One compiled bundle. Thread-safe: rego-cpp interpreters are not, so evaluation takes a lock."""

    def __init__(
        self,
        bundle: PolicyBundle,
        *,
        fail_mode: str = "closed",
        entrypoint: str = ENTRYPOINT,
        signer: str | None = None,
        cache_entries: int = DECISION_CACHE_ENTRIES,
    ) -> None:
        if fail_mode not in FAIL_MODES:
            raise ConfigError(f"policy fail_mode must be one of {', '.join(FAIL_MODES)}, not {fail_mode!r}")
        self.bundle = bundle
        self.fail_mode = fail_mode
        self.entrypoint = entrypoint
        self._entrypoint_bytes = entrypoint.encode("utf-8")
        self.signer = signer
        self.builtin = False  # True for the packaged default policy: it never blocks a first real activation
        self.network = NetworkAcl(bundle.data)
        self._interpreter, self._compiled = compile_bundle(bundle, [entrypoint])
        # Only the top-level input keys the policy reads are handed to rego-cpp (None: the policy may read any
        # key, e.g. it iterates `input`); building and querying a smaller input is cheaper.
        sources = list(bundle.modules().values())
        self._input_keys = input_keys(sources)
        self._lock = threading.Lock()
        # Decisions by exact input (see decision_cache.py); none when the policy reads the clock, the network or
        # randomness, or when disabled (cache_entries=0).
        self.nondeterministic = nondeterministic_builtins(sources)
        self.cache: DecisionCache[PolicyDecision] | None = (
            DecisionCache(cache_entries) if cache_entries > 0 and not self.nondeterministic else None
        )
        # Running mean CPU time of real evaluations (cache misses, input building included), for callers that
        # choose where to run them (the Shield: on its event loop while this stays small). CPU, not wall time:
        # on a busy machine the wall time is mostly time spent preempted, which no thread choice changes.
        # Sampled on every 4th evaluation (reading a thread's CPU clock is a system call, a few µs under load).
        # Updated without a lock: a lost update between threads only delays the mean by one sample.
        self.evaluation_seconds = 0.0
        self._evaluations = 0

    # ---- constructors ---------------------------------------------------------------------------------

    @classmethod
    def default(cls, fail_mode: str = "closed", presets: list[str] | None = None) -> PolicyEngine:
        """The built-in Shield policy (optionally layered with presets such as `pci_dss`)."""
        engine = cls(default_bundle(presets), fail_mode=fail_mode)
        engine.builtin = True
        return engine

    @classmethod
    def from_bundle(cls, bundle: PolicyBundle | str | Path, fail_mode: str = "closed") -> PolicyEngine:
        loaded = bundle if isinstance(bundle, PolicyBundle) else load_bundle(bundle)
        return cls(loaded, fail_mode=fail_mode)

    @classmethod
    def from_directory(cls, path: str | Path, fail_mode: str = "closed") -> PolicyEngine:
        return cls(load_bundle(Path(path)), fail_mode=fail_mode)

    # ---- identity -------------------------------------------------------------------------------------

    @property
    def revision(self) -> str:
        return self.bundle.revision

    @property
    def digest(self) -> str:
        return self.bundle.digest

    # ---- evaluation -----------------------------------------------------------------------------------

    def prepare_input(self, input: dict[str, Any]) -> dict[str, Any]:
        """The document Rego sees: the caller's input plus the Python-computed `network` verdict."""
        document = dict(input)
        document["network"] = self.network.check(document.get("tenant"), document.get("client_ip"))
        return document

    def _trimmed(self, input: dict[str, Any]) -> dict[str, Any]:
        """The prepared document with only the keys the policy reads: what rego-cpp gets, and the cache key."""
        keys = self._input_keys
        if keys is None:
            return self.prepare_input(input)
        document = {key: value for key, value in input.items() if key in keys}
        if "network" in keys:  # computed here, as prepare_input does, only when the policy reads it
            document["network"] = self.network.check(input.get("tenant"), input.get("client_ip"))
        return document

    def cached(self, input: dict[str, Any]) -> PolicyDecision | None:
        """The decision for `input` if the cache already holds it (no rego-cpp evaluation), else None.

        The returned object is the cached one, shared with later callers: read it, never modify it
        (`evaluate` returns a private copy).
        """
        if self.cache is None:
            return None
        try:
            key = cache_key(self._trimmed(input))
        except Exception:
            return None
        return self.cache.get(key)

    def evaluate(self, input: dict[str, Any], *, shared: bool = False) -> PolicyDecision:
        """The decision for `input`; never raises (an engine failure is the fail-mode decision).

        `shared=True` returns the cached object itself on a hit (and caches the returned object on a miss): read
        it, never modify it. For callers that copy what they keep anyway (the Shield's gate), it saves a copy.
        """
        key = None
        try:
            document = self._trimmed(input)
            if self.cache is not None:
                try:
                    key = cache_key(document)
                except ValueError:  # a value marshal does not encode: evaluate it, uncached
                    key = None
                if key is not None and (hit := self.cache.get(key)) is not None:
                    return hit if shared else _copy(hit)
            self._evaluations += 1
            if self._evaluations % _MEAN_SAMPLE_EVERY != 1:
                raw = self._evaluate_trimmed(document)
            else:
                started = time.thread_time()
                raw = self._evaluate_trimmed(document)
                self.evaluation_seconds += (time.thread_time() - started - self.evaluation_seconds) * _MEAN_WEIGHT
        except Exception as exc:  # any engine failure is a fail-mode decision, never an exception to the caller
            log.warning("policy evaluation failed: %s", type(exc).__name__)
            return fail_decision(self.fail_mode, f"evaluation failed: {type(exc).__name__}")
        decision = self._decision(raw)
        if key is not None and self.cache is not None and not decision.fail_mode_applied:
            self.cache.put(key, decision if shared else _copy(decision))
        return decision

    def _evaluate_raw(self, document: dict[str, Any]) -> str:
        keys = self._input_keys
        if keys is not None:
            document = {key: value for key, value in document.items() if key in keys}
        return self._evaluate_trimmed(document)

    def _evaluate_trimmed(self, document: dict[str, Any]) -> str:
        # The input is built outside the lock (it is independent of the interpreter), then set and queried
        # under it. regofast makes the same rego-cpp calls as regopy's Input/query_bundle_entrypoint, minus
        # the per-scalar buffer copies and the JSON parse regopy's Output does on construction.
        from shieldstorm.policy import regofast

        handle = regofast.build_input(document)
        try:
            with self._lock:
                ok, text = regofast.query_entrypoint(self._interpreter, self._compiled, self._entrypoint_bytes, handle)
        finally:
            regofast.free_input(handle)
        return text if ok else "\x00error"

    def _decision(self, raw: str) -> PolicyDecision:
        if raw == "\x00error":
            return fail_decision(self.fail_mode, "policy evaluation error (rego-cpp, strict builtins)")
        try:
            value = parse_output(raw)
            fast = _fast_decision(value)
            if fast is not None:
                return fast
            shaped = _RegoOutput.model_validate(value)
        except (ValueError, ValidationError) as exc:
            message = str(exc).splitlines()[0] if isinstance(exc, ValidationError) else str(exc)
            return fail_decision(self.fail_mode, message)
        return PolicyDecision(**shaped.model_dump())

    def evaluate_json(self, document: dict[str, Any]) -> str:
        """Raw rego-cpp output for an already-prepared document (for diff/shadow tooling)."""
        return self._evaluate_raw(document)


def _copy(decision: PolicyDecision) -> PolicyDecision:
    """A cached decision is shared: callers get their own lists and headers."""
    return PolicyDecision.model_construct(
        decision=decision.decision, reasons=list(decision.reasons), redact=list(decision.redact),
        status=decision.status, headers=dict(decision.headers), fail_mode_applied=decision.fail_mode_applied,
        error=decision.error,
    )


def default_bundle(presets: list[str] | None = None) -> PolicyBundle:
    base = load_bundle(DEFAULT_POLICY_DIR)
    if not presets:
        return base
    # A preset deliberately changes default decisions (e.g. SOC 2 challenges anonymous callers), so the base
    # policy's own tests are left out of a layered bundle; each preset's tests cover the combination.
    base = PolicyBundle(files={k: v for k, v in base.files.items() if not k.endswith("_test.rego")}, source=base.source)
    layers = [base]
    for name in presets:
        path = PRESETS_DIR / name
        if not path.is_dir():
            available = sorted(p.name for p in PRESETS_DIR.iterdir() if p.is_dir()) if PRESETS_DIR.is_dir() else []
            raise ConfigError(f"unknown policy preset {name!r} (available: {', '.join(available) or 'none'})")
        layers.append(load_bundle(path))
    return merge_bundles(layers, revision=f"{base.revision}+{'+'.join(presets)}")
