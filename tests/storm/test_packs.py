from __future__ import annotations

from pathlib import Path

import pytest

from shieldstorm.errors import ConfigError
from shieldstorm.storm.mutations import generate
from shieldstorm.storm.packs import list_packs, load_pack

PROMPT = "Where is my order A1001?"


def test_builtin_domain_and_compliance_packs_load() -> None:
    assert {"healthcare", "finance", "legal", "hipaa", "pci-dss", "gdpr"} <= set(list_packs())
    for name in ("healthcare", "finance", "legal"):
        assert load_pack(name).kind == "domain"
    for name in ("hipaa", "pci-dss", "gdpr"):
        pack = load_pack(name)
        assert pack.kind == "compliance" and pack.controls


def test_compliance_pack_extends_domain_pack() -> None:
    hipaa, healthcare = load_pack("hipaa"), load_pack("healthcare")
    assert set(healthcare.types) < set(hipaa.types)
    # hipaa adds its own templates while keeping healthcare's PHI values.
    assert hipaa.params["pii_bait"]["values"] == healthcare.params["pii_bait"]["values"]
    assert "templates" in hipaa.params["pii_bait"]


def test_pack_selects_types_weights_and_parameters() -> None:
    mutations = generate("g1", PROMPT, seed=1, pack="pci-dss", variants=4)
    types = {m.mutation_type for m in mutations}
    assert types <= set(load_pack("pci-dss").types)
    bait = [m for m in mutations if m.mutation_type == "pii_bait"]
    assert bait and all(m.weight == 4.0 for m in bait)
    pack_values = {v["value"] for v in load_pack("pci-dss").params["pii_bait"]["values"]}
    assert all(set(m.metadata["pii_values"]) <= pack_values for m in bait)
    assert all(m.metadata["pack"] == "pci-dss" and m.metadata["controls"] for m in mutations)


def test_domain_jailbreak_scenarios_are_used() -> None:
    texts = {
        m.prompt for m in generate("g1", PROMPT, seed=3, pack="healthcare", types=["roleplay_persona"], variants=30)
    }
    assert any("attending physician" in t or "records clerk" in t for t in texts)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "custom.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_typo_in_pack_key_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"custom.yaml: tpyes: Extra inputs are not permitted"):
        load_pack(write(tmp_path, "name: x\ntpyes: [casing]\n"))


def test_typo_in_mutator_params_names_the_path(tmp_path: Path) -> None:
    text = "name: x\nparams:\n  pii_bait:\n    values:\n      - {name: A, field: b, valeu: c}\n"
    with pytest.raises(ConfigError, match=r"params\.pii_bait\.values\.0\.valeu: Extra inputs are not permitted"):
        load_pack(write(tmp_path, text))


def test_unknown_type_and_bad_weight_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"types\.1: unknown mutation type 'homoglyf'.*did you mean homoglyph"):
        load_pack(write(tmp_path, "name: x\ntypes: [casing, homoglyf]\n"))
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ConfigError, match=r"weights\.casing: must be greater than 0"):
        load_pack(write(other, "name: x\nweights: {casing: 0}\n"))


def test_unknown_pack_and_circular_extends(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown pack 'nope'; built-in packs: finance"):
        load_pack("nope")
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text(f"name: a\nextends: [{b}]\n", encoding="utf-8")
    b.write_text(f"name: b\nextends: [{a}]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="circular"):
        load_pack(str(a))


def test_custom_pack_file_parametrises_generation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: mine\ntypes: [context_stuffing, injection_suffix]\n"
        "params:\n  context_stuffing: {size: 500}\n  injection_suffix: {categories: [system_prompt_leak]}\n",
    )
    mutations = {m.mutation_type: m for m in generate("g1", PROMPT, seed=1, pack=path)}
    assert set(mutations) == {"context_stuffing", "injection_suffix"}
    assert mutations["context_stuffing"].metadata["stuffing_chars"] == 500
    assert mutations["injection_suffix"].metadata["injection_category"] == "system_prompt_leak"


def test_pack_file_edits_take_effect(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\ntypes: [casing]\n")
    assert load_pack(path).types == ["casing"]
    write(tmp_path, "name: x\ntypes: [leetspeak]\n")
    assert load_pack(path).types == ["leetspeak"]
