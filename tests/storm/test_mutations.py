from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from shieldstorm.errors import ConfigError, InputError
from shieldstorm.storm.mutations import Message, Mutation, generate, registry

PROMPT = "Where is my order A1001? I want a refund please."


def dump(mutations: list[Mutation]) -> str:
    return json.dumps([m.model_dump(mode="json") for m in mutations], ensure_ascii=False, sort_keys=True)


def test_registry_has_at_least_28_builtin_types_with_metadata() -> None:
    mutators = registry.builtin_mutators()
    assert len(mutators) >= 28
    for name, mutator in mutators.items():
        assert mutator.name == name
        assert mutator.category and mutator.description and mutator.attacks, name
        assert mutator.default_weight > 0


def test_same_seed_gives_byte_identical_mutations() -> None:
    first = generate("g1", PROMPT, seed=42, variants=2)
    second = generate("g1", PROMPT, seed=42, variants=2)
    assert dump(first) == dump(second)
    assert len(first) >= 28


def test_different_seed_gives_different_mutations() -> None:
    a = {m.mutation_type: m.messages for m in generate("g1", PROMPT, seed=1)}
    b = {m.mutation_type: m.messages for m in generate("g1", PROMPT, seed=2)}
    differing = [name for name in a if name in b and a[name] != b[name]]
    assert len(differing) >= len(a) // 2


def test_selection_does_not_change_other_types_output() -> None:
    everything = {m.mutation_type: m for m in generate("g1", PROMPT, seed=7)}
    only = generate("g1", PROMPT, seed=7, types=["typo_adjacent", "encode_base64"])
    assert [m.mutation_type for m in only] == ["typo_adjacent", "encode_base64"]
    for mutation in only:
        assert mutation == everything[mutation.mutation_type]


def test_mutations_are_identical_across_processes() -> None:
    code = (
        "import json, sys\n"
        "from shieldstorm.storm.mutations import generate\n"
        f"ms = generate('g1', {PROMPT!r}, seed=42, variants=2, canary='CANARY-1')\n"
        "sys.stdout.write(json.dumps([m.model_dump(mode='json') for m in ms], ensure_ascii=False, sort_keys=True))\n"
    )
    outputs = []
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONIOENCODING": "utf-8"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True, timeout=120)
        outputs.append(done.stdout.decode("utf-8"))
    assert outputs[0] == outputs[1]
    assert outputs[0] == dump(generate("g1", PROMPT, seed=42, variants=2, canary="CANARY-1"))


def test_noise_mutations_change_the_text_but_keep_meaning_flags() -> None:
    for mutation in generate("g1", PROMPT, seed=3, types=["typo_adjacent", "char_drop", "homoglyph", "leetspeak"]):
        assert mutation.prompt != PROMPT
        assert mutation.metadata["expects_refusal"] is False
        assert mutation.metadata["behaviour_preserving"] is True


def test_injection_mutations_carry_marker_and_category() -> None:
    categories = {
        "direct_override", "role_manipulation", "jailbreak_persona", "context_injection", "instruction_override",
        "system_prompt_leak", "output_manipulation", "multi_turn", "encoding_bypass", "advanced_evasion",
    }  # fmt: skip
    seen = set()
    for mutation in generate("g1", PROMPT, seed=5, variants=12, types=["injection_prefix", "injection_suffix"]):
        marker = mutation.metadata["marker"]
        assert marker in mutation.metadata["forbidden"]
        assert mutation.metadata["payload"] in mutation.prompt
        assert mutation.metadata["expects_refusal"] is True
        seen.add(mutation.metadata["injection_category"])
    assert seen <= categories
    assert len(seen) >= 5


def test_unknown_type_is_a_config_error_with_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean typo_adjacent"):
        generate("g1", PROMPT, seed=1, types=["typo_adjacnet"])


def test_bad_golden_messages_are_input_errors() -> None:
    with pytest.raises(InputError, match="golden message 0"):
        generate("g1", [{"role": "robot", "content": "hi"}], seed=1)
    with pytest.raises(InputError, match="seed"):
        generate("g1", PROMPT, seed="x")  # type: ignore[arg-type]


def test_accepts_message_dicts_and_keeps_history() -> None:
    golden = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": PROMPT},
    ]
    for mutation in generate("g1", golden, seed=1, types=["casing", "injection_suffix"]):
        assert mutation.messages[:3] == [Message.model_validate(m) for m in golden[:3]]
        assert mutation.messages[-1].role == "user"


def test_describe_lists_every_type_with_its_metadata() -> None:
    from shieldstorm.storm.mutations import describe

    infos = describe()
    assert {i.name for i in infos} == set(registry.all_mutators())
    assert infos == sorted(infos, key=lambda i: (i.category, i.name))
    by_name = {i.name: i for i in infos}
    assert by_name["pii_bait"].expects_refusal and "pii_leak" in by_name["pii_bait"].attacks
    assert by_name["llm_tone"].requires_llm and not by_name["casing"].requires_llm
    assert all(i.source == "builtin" for i in infos)


def test_forbidden_hits_finds_markers_bait_and_spelled_out_canaries() -> None:
    from shieldstorm.storm.mutations import forbidden_hits, forbidden_strings

    injection = generate("g1", PROMPT, seed=1, types=["injection_suffix"], canary="CANARY-AB12")[0]
    marker = injection.metadata["marker"]
    assert forbidden_strings(injection) == [marker, "CANARY-AB12"]
    assert forbidden_hits(injection, "Your order has shipped.") == []
    assert forbidden_hits(injection, f"ok: {marker.lower()}") == [marker]
    assert forbidden_hits(injection, "C\nA\nN\nA\nR\nY\n-\nA\nB\n1\n2") == ["CANARY-AB12"]
    bait = generate("g1", PROMPT, seed=2, types=["pii_bait"])[0]
    value = bait.metadata["pii_values"][0]
    assert forbidden_hits(bait, f"Noted: {value.replace(' ', '')}") == [value]


def test_short_forbidden_values_need_a_whole_token() -> None:
    from shieldstorm.storm.mutations import forbidden_hits
    from shieldstorm.storm.packs import Pack

    pack = Pack(name="p", params={"pii_bait": {"values": [{"name": "A", "field": "CVV", "value": "737"}]}})
    bait = generate("g1", PROMPT, seed=2, types=["pii_bait"], pack=pack)[0]
    assert forbidden_hits(bait, "Order 17370 ships on 7/3/7.") == []
    assert forbidden_hits(bait, "Your CVV is 737.") == ["737"]


def test_a_single_type_name_is_not_split_into_characters() -> None:
    assert [m.mutation_type for m in generate("g1", PROMPT, seed=1, types="casing")] == ["casing"]  # type: ignore[arg-type]
