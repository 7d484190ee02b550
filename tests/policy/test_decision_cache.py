"""The engine's decision cache: same decisions as uncached evaluation, a fresh cache per activated bundle, off for
policies whose result depends on more than input and data."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shieldstorm.policy import PolicyEngine, PolicyHolder
from shieldstorm.policy.activation import PolicyManager
from shieldstorm.policy.bundle import PolicyBundle
from shieldstorm.policy.decision_cache import DecisionCache, cache_key, nondeterministic_builtins
from tests.policy.helpers import make_bundle

CACHED = PolicyEngine.default()
UNCACHED = PolicyEngine.default()
UNCACHED.cache = None

detection = st.fixed_dictionaries({
    "pattern_id": st.sampled_from(["PI-OVR-001", "pii.email", "secret.aws", "canary.token"]),
    "kind": st.sampled_from(["injection", "pii", "secret", "canary"]),
    "category": st.sampled_from(["direct_override", "contact", "credentials", "financial", "jailbreak"]),
    "severity": st.sampled_from(["low", "high", "critical"]),
    "entity": st.one_of(st.none(), st.sampled_from(["EMAIL", "IBAN", "AWS_KEY"])),
})
shield_input = st.fixed_dictionaries(
    {
        "tenant": st.sampled_from(["acme", "strict-example", "other"]),
        "detections": st.lists(detection, max_size=3),
        "attack": st.booleans(),
        "verdict": st.sampled_from(["allow", "review", "block"]),
        "risk": st.one_of(st.sampled_from([0, 0.5, 0.6, 0.8, 1]), st.floats(0, 1)),
        "rate": st.one_of(st.integers(0, 300), st.floats(0, 300)),
        "body_size": st.integers(0, 2_000_000),
        "model": st.sampled_from(["", "gpt-4o-mini", "helpbot-1"]),
        "tools": st.lists(st.sampled_from(["search", "shell"]), max_size=2),
        "direction": st.sampled_from(["request", "response"]),
        "client_ip": st.sampled_from(["10.0.0.1", "10.66.1.1", "192.168.1.9", "8.8.8.8", "", "not-an-ip"]),
    },
    optional={"canary_leak": st.booleans(), "path": st.text(max_size=5)},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(shield_input, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_cached_decisions_equal_uncached_evaluation(inputs: list[dict[str, Any]], rng: Any) -> None:
    # Each input is asked twice in a shuffled order, so later asks are cache hits.
    sequence = inputs * 2
    rng.shuffle(sequence)
    for document in sequence:
        assert CACHED.evaluate(document) == UNCACHED.evaluate(document)


def test_repeated_input_is_a_hit_and_callers_get_private_copies() -> None:
    engine = PolicyEngine.default()
    assert engine.cache is not None
    document = {"tenant": "acme", "risk": 0.95, "attack": True, "detections": []}
    first = engine.evaluate(document)
    first.reasons.append("tampered")
    first.headers["X"] = "y"
    second = engine.evaluate(document)
    assert (engine.cache.hits, engine.cache.misses) == (1, 1)
    assert second.decision == "block" and second.reasons == ["attack"] and "X" not in second.headers
    assert engine.cached(document) == second
    assert engine.cached({**document, "risk": 0.96}) is None  # a different input is never answered from the cache


def _bool_vs_number_bundle() -> PolicyBundle:
    rego = (
        "package shield\nimport rego.v1\n"
        'decision := {"decision": "block", "reasons": ["bool"], "redact": [], "status": 403, "headers": {}} '
        "if input.flag == true\n"
        'else := {"decision": "challenge", "reasons": [json.marshal(input.flag)], "redact": [], "status": 401, '
        '"headers": {}} if input.flag\n'
        'else := {"decision": "allow", "reasons": [], "redact": [], "status": null, "headers": {}}\n'
    )
    return PolicyBundle(files={"shield/decision.rego": rego.encode()}, source="test")


def test_values_python_finds_equal_keep_their_own_entries() -> None:
    engine = PolicyEngine(_bool_vs_number_bundle())
    # True == 1 == 1.0 in Python, but rego-cpp receives a boolean, an integer and a float.
    assert engine.evaluate({"flag": True}).reasons == ["bool"]
    assert engine.evaluate({"flag": 1}).reasons == ["1"]
    assert engine.evaluate({"flag": 1.0}).decision == "challenge"
    assert len({cache_key(v) for v in (True, 1, 1.0, "1", [1], {1}, {1: 1}, {"1": 1})}) == 8
    assert cache_key({"a": [1, 2], "b": None}) == cache_key({"a": [1, 2], "b": None})


def test_values_without_an_exact_key_are_evaluated_uncached() -> None:
    class Tenant(str):
        pass

    engine = PolicyEngine.default()
    assert engine.cache is not None
    document = {"tenant": Tenant("acme"), "risk": 0.95, "attack": True}
    assert engine.evaluate(document).decision == "block"
    assert engine.evaluate(document).decision == "block"
    assert len(engine.cache) == 0 and engine.cache.hits == 0


def test_fail_mode_decisions_are_not_cached() -> None:
    rego = (
        "package shield\nimport rego.v1\n"
        'decision := {"decision": "allow", "reasons": [], "redact": [], "status": null, "headers": {}} '
        "if 1 / input.n > 0\n"
    )
    engine = PolicyEngine(PolicyBundle(files={"shield/decision.rego": rego.encode()}, source="test"))
    assert engine.cache is not None
    for _ in range(2):
        decision = engine.evaluate({"n": 0})
        assert decision.fail_mode_applied and decision.decision == "block"
    assert len(engine.cache) == 0
    assert engine.evaluate({"n": 1}).decision == "allow" and len(engine.cache) == 1


def test_nondeterministic_builtins_disable_the_cache() -> None:
    clock = (
        "package shield\nimport rego.v1\n"
        'decision := {"decision": "block", "reasons": ["night"], "redact": [], "status": 403, "headers": {}} '
        "if time.now_ns() < 0\n"
        'else := {"decision": "allow", "reasons": [], "redact": [], "status": null, "headers": {}}\n'
    )
    engine = PolicyEngine(PolicyBundle(files={"shield/decision.rego": clock.encode()}, source="test"))
    assert engine.nondeterministic == ["time.now_ns"] and engine.cache is None
    assert engine.evaluate({}).decision == "allow"
    assert engine.cached({}) is None
    calls = ["x := http.send({})", 'y := rand.intn("k", 3)', 'z := uuid.rfc4122("a")']
    assert nondeterministic_builtins(calls) == ["http.send", "rand.intn", "uuid.rfc4122"]
    # Mentions in comments and strings, and look-alike names, are not calls.
    assert nondeterministic_builtins(['# time.now_ns()\nx := "http.send"\ny := my.time.now_ns_x']) == []
    assert PolicyEngine.default().nondeterministic == []


def test_activation_starts_with_an_empty_cache() -> None:
    holder = PolicyHolder(PolicyEngine(make_bundle("1", limit=0.5)))
    manager = PolicyManager(holder, require_signature=False)
    document = {"risk": 0.3}
    assert holder.evaluate(document).decision == "allow"
    assert holder.cached(document) is not None
    manager.activate(make_bundle("2", limit=0.1), actor="test")
    assert holder.cached(document) is None  # the new bundle's engine has its own cache
    assert holder.evaluate(document).decision == "block"
    assert holder.cached(document) is not None and holder.cached(document).decision == "block"  # type: ignore[union-attr]


def test_holder_cached_is_none_while_a_candidate_is_staged() -> None:
    holder = PolicyHolder(PolicyEngine(make_bundle("1")))
    seen: list[dict[str, Any]] = []
    holder.on_input = seen.append
    document = {"risk": 0.2}
    holder.evaluate(document)
    assert holder.cached(document) is not None and len(seen) == 2  # a cached answer is still sampled
    holder.set_candidate(PolicyEngine(make_bundle("2", limit=0.1)))
    assert holder.cached(document) is None  # every input must reach the candidate through evaluate()


def test_cache_is_bounded_least_recently_used_first() -> None:
    cache: DecisionCache[str] = DecisionCache(2)
    cache.put(b"a", "A")
    cache.put(b"b", "B")
    assert cache.get(b"a") == "A"
    cache.put(b"c", "C")
    assert cache.get(b"b") is None and cache.get(b"a") == "A" and cache.get(b"c") == "C" and len(cache) == 2
    engine = PolicyEngine(make_bundle("1"), cache_entries=3)
    for risk in range(10):
        engine.evaluate({"risk": risk / 10})
    assert engine.cache is not None and len(engine.cache) == 3
    assert PolicyEngine(make_bundle("1"), cache_entries=0).cache is None


def test_shared_evaluation_hands_out_the_cached_decision_and_private_evaluation_a_copy() -> None:
    engine = PolicyEngine.default()
    document = {"tenant": "acme", "detections": [], "attack": True, "verdict": "block", "risk": 0.97}
    first = engine.evaluate(document, shared=True)  # a miss: the returned object is the one cached
    assert first.decision == "block"
    assert engine.evaluate(document, shared=True) is first
    private = engine.evaluate(document)
    assert private == first and private is not first and private.reasons is not first.reasons
    private.reasons.append("changed by a caller")
    assert engine.evaluate(document, shared=True).reasons == first.reasons == ["attack"]
    # The default stays private on a miss too: the caller's object is not the cached one.
    other = {**document, "risk": 0.98}
    mine = engine.evaluate(other)
    mine.reasons.append("changed by a caller")
    assert engine.evaluate(other, shared=True).reasons == ["attack"]
