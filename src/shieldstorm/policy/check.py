"""`policy check`: static and generative analysis of a bundle, reported at file:line.

- builtins and constructs rego-cpp lacks or runs differently (from the data file `policies/builtins.json`,
  plus any dotted call that regopy does not know as a builtin and the bundle does not define);
- complete rules defined more than once (a possible conflict) and, with a witness input, actual conflicts;
- contradictory decisions: for one generated input, a rule meaning "allow" and a rule meaning "deny/block"
  both hold (witness input shown);
- unreachable rules: not referenced, directly or transitively, from the entry point (tests excluded), and
  rules that never hold on any generated input.

Witnesses come from a deterministic corpus of inputs built from the Shield input schema and the string
values found in the bundle's data and sources (entities, categories, models, tenants, tools).
"""

from __future__ import annotations

import itertools
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shieldstorm.policy.bundle import PolicyBundle
from shieldstorm.policy.engine import ENTRYPOINT, POLICIES_DIR, PolicyCompileError, compile_bundle, parse_output
from shieldstorm.policy.network import NetworkAcl
from shieldstorm.policy.rego_source import RuleHead, rule_heads, strip_comment, top_level_chunks

BUILTINS_FILE = POLICIES_DIR / "builtins.json"
_CALL = re.compile(r"(?<![\w.])([a-z_][\w]*(?:\.[a-z_][\w]*)*)\s*\(")
_POSITIVE = re.compile(r"^(allow|allowed|permit|grant)(_|$)")
_NEGATIVE = re.compile(r"^(deny|denied|block|blocked|reject|forbid|block_reasons|violation)(_|$|s$)")
_KEYWORDS = {"if", "not", "some", "every", "in", "contains", "else", "default", "with", "as", "import", "package"}


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    severity: str  # "error" | "warning" | "info"
    kind: str
    message: str
    witness: dict[str, Any] | None = None

    def render(self) -> str:
        text = f"{self.file}:{self.line}: {self.severity}: [{self.kind}] {self.message}"
        if self.witness is not None:
            text += f"\n    witness input: {json.dumps(self.witness, sort_keys=True)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "severity": self.severity,
            "kind": self.kind,
            "message": self.message,
            "witness": self.witness,
        }


def _builtins_data() -> dict[str, dict[str, str]]:
    return dict(json.loads(Path(BUILTINS_FILE).read_text()))


# ---- builtins -------------------------------------------------------------------------------------------


def check_builtins(bundle: PolicyBundle) -> list[Finding]:
    from regopy import Interpreter

    data = _builtins_data()
    probe = Interpreter()
    findings: list[Finding] = []
    modules = bundle.modules(include_tests=True)
    defined = {h.name for name, src in modules.items() for h in rule_heads(name, src)}
    for file, source in modules.items():
        for number, raw in enumerate(source.splitlines(), start=1):
            line = strip_comment(raw)
            line_no_strings = re.sub(r'"(?:[^"\\]|\\.)*"|`[^`]*`', '""', line)
            for construct, why in data.get("constructs", {}).items():
                if construct in line_no_strings and not (construct == "with input as" and file.endswith("_test.rego")):
                    findings.append(
                        Finding(file, number, "warning", "rego-cpp-construct", f"`{construct.strip()}`: {why}")
                    )
            for match in _CALL.finditer(line_no_strings):
                name = match.group(1)
                if name in _KEYWORDS or name.split(".")[0] in ("data", "input"):
                    continue
                found = False
                for prefix, why in data.get("unsupported", {}).items():
                    if name == prefix or (prefix.endswith(".") and name.startswith(prefix)):
                        findings.append(Finding(file, number, "error", "unsupported-builtin", f"{name}(): {why}"))
                        found = True
                if found:
                    continue
                for builtin, why in data.get("divergent", {}).items():
                    if name == builtin:
                        if builtin == "sort" and line_no_strings[match.end() :].lstrip().startswith("["):
                            continue  # sort([...]) of an array comprehension is fine
                        if builtin.startswith("regex.") and "(?" not in line:
                            continue
                        if builtin.startswith("time.parse") and 'Z"' not in line:
                            continue
                        findings.append(Finding(file, number, "warning", "divergent-builtin", f"{name}(): {why}"))
                if name.rsplit(".", 1)[-1] in defined or name in defined:
                    continue
                if "." in name and not probe.is_builtin(name):
                    findings.append(
                        Finding(file, number, "error", "unknown-builtin", f"{name}() is not a rego-cpp builtin")
                    )
    return findings


# ---- reachability ---------------------------------------------------------------------------------------


def _rules(bundle: PolicyBundle) -> tuple[list[RuleHead], dict[str, str]]:
    heads: list[RuleHead] = []
    texts: dict[str, str] = {}
    for file, source in bundle.modules().items():
        heads.extend(h for h in rule_heads(file, source) if h.kind != "test")
        package = next((h.package for h in rule_heads(file, source)), "")
        for name, chunk in top_level_chunks(source):
            if name:
                key = f"{package.replace('.', '/')}/{name}"
                texts[key] = texts.get(key, "") + "\n" + chunk
    return heads, texts


def check_reachability(bundle: PolicyBundle, entrypoint: str) -> list[Finding]:
    heads, texts = _rules(bundle)
    by_path: dict[str, list[RuleHead]] = {}
    for head in heads:
        by_path.setdefault(head.path, []).append(head)
    names = {path.rsplit("/", 1)[-1]: path for path in by_path}
    edges: dict[str, set[str]] = {}
    for path, text in texts.items():
        body = re.sub(r'"(?:[^"\\]|\\.)*"', '""', "\n".join(strip_comment(line) for line in text.splitlines()))
        package = path.rsplit("/", 1)[0]
        refs: set[str] = set()
        for token in set(re.findall(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*", body)):
            if token.startswith("data."):
                candidate = token[5:].replace(".", "/")
                refs.update(p for p in by_path if candidate == p or candidate.startswith(p + "/"))
            elif token.split(".")[0] in names and names[token.split(".")[0]].rsplit("/", 1)[0] == package:
                refs.add(names[token.split(".")[0]])
        refs.discard(path)
        edges[path] = refs
    reachable: set[str] = set()
    stack = [entrypoint]
    while stack:
        path = stack.pop()
        if path in reachable:
            continue
        reachable.add(path)
        stack.extend(edges.get(path, ()))
    findings = []
    for path, defs in sorted(by_path.items()):
        if path not in reachable:
            head = defs[0]
            findings.append(
                Finding(
                    head.file,
                    head.line,
                    "warning",
                    "unreachable-rule",
                    f"rule {head.name} is not used by the entry point {entrypoint}",
                )
            )
    return findings


# ---- generative checks ----------------------------------------------------------------------------------


def _strings(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        out.add(value)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, out)


def input_corpus(bundle: PolicyBundle, size: int = 240, seed: int = 7) -> list[dict[str, Any]]:
    """A deterministic spread of Shield inputs using the vocabulary the bundle itself mentions."""
    words: set[str] = set()
    _strings(bundle.data, words)
    for source in bundle.modules().values():
        words.update(re.findall(r'"([A-Za-z0-9_\-.]{2,40})"', source))
    shield = bundle.data.get("shield", {}) if isinstance(bundle.data.get("shield"), dict) else {}
    tenants = sorted(shield.get("tenants", {}).keys()) if isinstance(shield.get("tenants"), dict) else []
    entities = sorted(w for w in words if w.isupper()) or ["EMAIL"]
    categories = sorted(w for w in words if w.islower() and "_" not in w and len(w) > 3)[:40] or ["contact"]
    kinds = ["pii", "secret", "injection", "canary"]
    rng = random.Random(seed)
    corpus: list[dict[str, Any]] = [{}]
    for index in range(size):
        detections = []
        for _ in range(rng.choice([0, 0, 1, 2])):
            detections.append(
                {
                    "pattern_id": f"p{index}",
                    "kind": rng.choice(kinds),
                    "category": rng.choice(categories),
                    "severity": rng.choice(["low", "medium", "high", "critical"]),
                    "entity": rng.choice(entities),
                }
            )
        document: dict[str, Any] = {
            "tenant": rng.choice([*tenants, "acme", "unknown-tenant"]),
            "principal": rng.choice(["", "user-1", "svc"]),
            "method": rng.choice(["GET", "POST"]),
            "path": rng.choice(["/v1/chat/completions", "/admin", "/"]),
            "headers": {},
            "client_ip": rng.choice(["10.1.2.3", "192.168.1.1", "203.0.113.7", "10.66.0.1", ""]),
            "detections": detections,
            "categories": {d["category"]: 0.9 for d in detections},
            "attack": rng.random() < 0.4,
            "risk": rng.choice([0, 0.2, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1]),
            "rate": rng.choice([0, 5, 500, 100000]),
            "body_size": rng.choice([0, 1000, 70000, 5000000]),
            "model": rng.choice([*sorted(w for w in words if "-" in w and w.islower())[:10], "", "other-model"]),
            "tools": rng.choice([[], ["search"], ["shell"], ["search", "shell"]]),
            "direction": rng.choice(["request", "response"]),
        }
        if rng.random() < 0.1:
            document["canary_leak"] = True
        if rng.random() < 0.15:
            document["verdict"] = "review"
        corpus.append(document)
    return corpus


def _holds(text: str) -> tuple[bool, bool]:
    """(defined-and-truthy, error) for an entry-point result."""
    try:
        value = parse_output(text)
    except ValueError:
        return False, False
    if value is False or value is None:
        return False, False
    if isinstance(value, list | dict) and len(value) == 0:
        return False, False
    return True, False


def check_generative(bundle: PolicyBundle, entrypoint: str, corpus: list[dict[str, Any]]) -> list[Finding]:
    from regopy import Input

    heads, _texts = _rules(bundle)
    by_path: dict[str, list[RuleHead]] = {}
    for head in heads:
        if head.kind != "function":
            by_path.setdefault(head.path, []).append(head)
    paths = sorted(by_path)
    if entrypoint not in paths:
        paths.append(entrypoint)
    findings: list[Finding] = []
    try:
        interpreter, compiled = compile_bundle(bundle, paths)
    except PolicyCompileError as exc:
        return [Finding("<bundle>", 0, "error", "compile", str(exc))]
    acl = NetworkAcl(bundle.data)
    fired: set[str] = set()
    conflicts: set[str] = set()
    contradiction_pairs: set[tuple[str, str]] = set()
    positives = [p for p in paths if _POSITIVE.match(p.rsplit("/", 1)[-1])]
    negatives = [p for p in paths if _NEGATIVE.match(p.rsplit("/", 1)[-1])]

    def evaluate(document: dict[str, Any], only: list[str]) -> tuple[set[str], set[str]]:
        prepared = {**document, "network": acl.check(document.get("tenant"), document.get("client_ip"))}
        interpreter.set_input(Input(prepared))
        held: set[str] = set()
        failed: set[str] = set()
        for path in only:
            output = interpreter.query_bundle_entrypoint(compiled, path)
            if not output.ok():
                failed.add(path)
            elif _holds(str(output))[0]:
                held.add(path)
        return held, failed

    def shrink(document: dict[str, Any], still: Any) -> dict[str, Any]:
        """Drop input keys one at a time while the finding still reproduces: a small witness reads better."""
        current = dict(document)
        for key in sorted(document):
            trial = {k: v for k, v in current.items() if k != key}
            if still(trial):
                current = trial
        return current

    for document in corpus:
        held, failed = evaluate(document, paths)
        for path in sorted(failed - conflicts):
            conflicts.add(path)
            defs = by_path.get(path, [])
            head = defs[-1] if defs else RuleHead("<bundle>", 0, "", path, "complete", "")
            several = len([h for h in defs if h.kind == "complete"]) > 1
            witness = shrink(document, lambda d, p=path: p in evaluate(d, [p])[1])
            what = "has conflicting values" if several else "raises an error (strict builtins) or uses a rule that does"
            findings.append(
                Finding(
                    head.file,
                    head.line,
                    "error",
                    "complete-rule-conflict" if several else "evaluation-error",
                    f"rule {head.name} {what} for this input",
                    witness=witness,
                )
            )
        fired |= held
        for positive, negative in itertools.product(positives, negatives):
            if positive in held and negative in held and (positive, negative) not in contradiction_pairs:
                contradiction_pairs.add((positive, negative))
                pos, neg = by_path[positive][0], by_path[negative][0]
                witness = shrink(document, lambda d, a=positive, b=negative: {a, b} <= evaluate(d, [a, b])[0])
                findings.append(
                    Finding(
                        pos.file,
                        pos.line,
                        "error",
                        "contradictory-decisions",
                        f"{pos.name} and {neg.name} ({neg.file}:{neg.line}) both hold for the same input",
                        witness=witness,
                    )
                )
    for path, defs in sorted(by_path.items()):
        kinds = {h.kind for h in defs}
        if "complete" in kinds and len([h for h in defs if h.kind == "complete"]) > 1 and path not in conflicts:
            chained = any(h.text.startswith("else") for h in defs)
            if not chained:
                lines = ", ".join(str(h.line) for h in defs)
                findings.append(
                    Finding(
                        defs[1].file,
                        defs[1].line,
                        "warning",
                        "complete-rule-multiple-definitions",
                        f"complete rule {defs[0].name} has several definitions (lines {lines}); if two bodies "
                        "hold with different values evaluation fails (no witness found in the corpus)",
                    )
                )
        if path not in fired and path != entrypoint and not kinds <= {"default"}:
            head = defs[0]
            findings.append(
                Finding(
                    head.file,
                    head.line,
                    "info",
                    "never-fires",
                    f"rule {head.name} held for none of {len(corpus)} generated inputs",
                )
            )
    return findings


def check_bundle(bundle: PolicyBundle, *, entrypoint: str = ENTRYPOINT, corpus_size: int = 240) -> list[Finding]:
    findings = check_builtins(bundle)
    findings += check_reachability(bundle, entrypoint)
    findings += check_generative(bundle, entrypoint, input_corpus(bundle, corpus_size))
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: (order.get(f.severity, 3), f.file, f.line))


def check_isolated(bundle_path: str | Path, *, entrypoint: str = ENTRYPOINT, timeout: float = 300.0) -> list[Finding]:
    """Static checks here, the generative ones (which evaluate the bundle) in a child process: rego-cpp can
    abort on some policies (e.g. `print`), and that must become a finding, not a dead CLI."""
    import subprocess
    import sys
    import tempfile

    from shieldstorm.policy.bundle import load_bundle

    bundle = load_bundle(bundle_path)
    findings = check_builtins(bundle) + check_reachability(bundle, entrypoint)
    with tempfile.TemporaryDirectory(prefix="ss-policy-check-") as tmp:
        out = Path(tmp) / "findings.json"
        command = [
            sys.executable,
            "-m",
            "shieldstorm.policy.check",
            str(bundle_path),
            "--out",
            str(out),
            "--entrypoint",
            entrypoint,
        ]
        try:
            proc = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
            code: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        if out.exists():
            findings += [Finding(**item) for item in json.loads(out.read_text())]
        else:
            findings.append(
                Finding(
                    "<bundle>",
                    0,
                    "error",
                    "evaluation-crash",
                    f"rego-cpp aborted while evaluating the bundle ({code}); see the builtin findings above",
                )
            )
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: (order.get(f.severity, 3), f.file, f.line))


def _main(argv: list[str] | None = None) -> int:
    import argparse

    from shieldstorm.policy.bundle import load_bundle

    parser = argparse.ArgumentParser(prog="python -m shieldstorm.policy.check")
    parser.add_argument("bundle")
    parser.add_argument("--out", required=True)
    parser.add_argument("--entrypoint", default=ENTRYPOINT)
    args = parser.parse_args(argv)
    bundle = load_bundle(args.bundle)
    findings = check_generative(bundle, args.entrypoint, input_corpus(bundle))
    Path(args.out).write_text(json.dumps([f.as_dict() for f in findings]))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
