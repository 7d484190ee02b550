"""The built-in PII/secret pattern database: coverage, schema conventions, checksum rejection and
redaction placeholders, through the real Detector under both matching engines."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import pytest

from shieldstorm.detect import Detector
from shieldstorm.detect.loader import load_pattern_set
from shieldstorm.detect.redact import RedactionVault
from shieldstorm.detect.validators import VALIDATORS
from tests.detect.conftest import ENGINES

CATEGORIES = {"identification", "financial", "contact", "health", "location", "biometric", "credentials", "sensitive"}
BUILTIN = load_pattern_set((), builtins=True)
PII = {pid: p for pid, p in BUILTIN.patterns.items() if p.kind.value in ("pii", "secret")}


def test_at_least_60_pii_and_secret_patterns_in_all_eight_categories() -> None:
    assert len(PII) >= 60
    per_category = Counter(p.category for p in PII.values())
    assert set(per_category) == CATEGORIES, per_category
    assert all(per_category[c] >= 3 for c in CATEGORIES), per_category


@pytest.mark.parametrize("pattern_id", sorted(PII))
def test_pattern_conventions(pattern_id: str) -> None:
    pattern = PII[pattern_id]
    assert pattern.entity is not None and re.fullmatch(r"[A-Z][A-Z0-9_]+", pattern.entity)
    assert (pattern.kind.value == "secret") == (pattern.category == "credentials")
    assert pattern.compliance, "every PII/secret pattern names its compliance regime"
    assert pattern.validator is None or pattern.validator in VALIDATORS
    for expression in pattern.expressions:
        assert expression.regex is not None
        groups = re.findall(r"\(\?P<(\w+)>", expression.regex)
        assert groups in ([], ["value"]), f"only one named group, `value`, may mark the span: {groups}"


REQUIRED_ENTITIES = {
    # identification
    "US_SSN", "PASSPORT", "DRIVERS_LICENSE", "UK_NINO", "UK_NHS", "DE_ID_CARD", "FR_NIR", "ES_NIF", "ES_NIE",
    "IT_FISCAL_CODE", "IN_AADHAAR", "IN_PAN", "CA_SIN",
    # financial
    "CREDIT_CARD", "IBAN", "BANK_ACCOUNT", "ABA_ROUTING", "SWIFT_BIC",
    # contact
    "EMAIL", "PHONE_NUMBER", "ADDRESS", "POSTAL_CODE",
    # health
    "MEDICAL_RECORD_NUMBER", "HEALTH_INSURANCE_ID", "US_NPI", "US_DEA",
    # location
    "GPS_COORDINATES", "IP_ADDRESS", "MAC_ADDRESS",
    # biometric
    "BIOMETRIC_ID",
    # credentials
    "API_KEY", "ACCESS_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "JWT", "PRIVATE_KEY", "PASSWORD",
    "CONNECTION_STRING",
    # sensitive
    "US_EIN", "US_ITIN", "DE_TAX_ID", "DATE_OF_BIRTH",
}  # fmt: skip


def test_required_entities_are_covered() -> None:
    missing = REQUIRED_ENTITIES - {p.entity for p in PII.values()}
    assert not missing


def test_major_credential_providers_are_covered() -> None:
    examples = " ".join(" ".join(p.examples) for p in PII.values() if p.category == "credentials")
    markers = ["sk-proj-", "sk-ant-", "AKIA", "ASIA", "ghp_", "github_pat_", "glpat-", "xoxb-", "sk_live_", "AIza"]
    markers += ["SG.", "npm_", "pypi-", "hf_", "AccountKey=", "-----BEGIN", "eyJ", "postgres://"]
    for marker in markers:
        assert marker in examples, marker


# (entity, text that must be reported as the entity, the same text with the check digit broken)
CHECKSUM_CASES = [
    ("CREDIT_CARD", "card 4111 1111 1111 1111 on file", "card 4111 1111 1111 1112 on file"),
    ("IBAN", "IBAN DE89 3704 0044 0532 0130 00", "IBAN DE89 3704 0044 0532 0130 01"),
    ("ABA_ROUTING", "routing number 021000021", "routing number 021000022"),
    ("US_NPI", "NPI 1234567893", "NPI 1234567894"),
    ("US_DEA", "DEA AB1234563", "DEA AB1234564"),
    ("IN_AADHAAR", "Aadhaar 2341 2341 2346", "Aadhaar 2341 2341 2347"),
    ("UK_NHS", "NHS number 943 476 5919", "NHS number 943 476 5918"),
    ("US_SSN", "SSN 536-22-1234", "SSN 666-22-1234"),
    ("CA_SIN", "SIN 130 692 544", "SIN 130 692 545"),
    ("ES_NIF", "DNI 12345678Z", "DNI 12345678A"),
    ("FR_NIR", "NIR 1 84 12 76 451 089 46", "NIR 1 84 12 76 451 089 47"),
    ("IT_FISCAL_CODE", "CF RSSMRA85T10A562S", "CF RSSMRA85T10A562T"),
    ("DE_TAX_ID", "Steuer-ID 86095742719", "Steuer-ID 86095742718"),
    ("UK_NINO", "NINO AB123456C", "NINO QQ123456C"),
    ("IP_ADDRESS", "from 192.168.1.254 today", "from 192.168.1.256 today"),
    ("DATE_OF_BIRTH", "date of birth: 12.03.1985", "date of birth: 31.02.1985"),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("entity", "valid", "invalid"), CHECKSUM_CASES, ids=[c[0] for c in CHECKSUM_CASES])
def test_failed_check_is_not_reported_as_that_entity(
    engine: str, entity: str, valid: str, invalid: str, make_detector: Callable[..., Detector]
) -> None:
    detector = make_detector(engine, (), builtins=True)
    assert entity in {f.entity for f in detector.scan(valid).findings}
    assert entity not in {f.entity for f in detector.scan(invalid).findings}


@pytest.mark.parametrize("engine", ENGINES)
def test_spans_mark_the_value_not_the_cue(engine: str, make_detector: Callable[..., Detector]) -> None:
    detector = make_detector(engine, (), builtins=True)
    text = "Ruf an: Passwort lautet Sommer2024! und IBAN DE89370400440532013000."
    by_entity = {f.entity: f for f in detector.scan(text).findings}
    assert by_entity["PASSWORD"].text == "Sommer2024!"
    assert by_entity["IBAN"].text == "DE89370400440532013000"
    assert text[by_entity["IBAN"].start : by_entity["IBAN"].end] == "DE89370400440532013000"


@pytest.mark.parametrize("engine", ENGINES)
def test_redaction_uses_entity_placeholders_and_restores(engine: str, make_detector: Callable[..., Detector]) -> None:
    detector = make_detector(engine, (), builtins=True)
    text = (
        "Mail jane.doe@example.com or call (415) 555-2671; card 4111 1111 1111 1111; "
        "key AKIAY34FZKBOKMUTVV7A; again jane.doe@example.com"
    )
    vault = RedactionVault()
    redaction = detector.redact(text, vault=vault)
    assert "jane.doe@example.com" not in redaction.text and "4111" not in redaction.text
    for placeholder in ("[EMAIL_1]", "[PHONE_NUMBER_1]", "[CREDIT_CARD_1]", "[AWS_ACCESS_KEY_ID_1]"):
        assert placeholder in redaction.text
    assert redaction.text.count("[EMAIL_1]") == 2  # the same value keeps its placeholder
    assert vault.restore(redaction.text) == text


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("text", ["9" * 10_000, "0" * 10_000, "1 " * 5_000, "a@" * 5_000, "4" * 16 + "-" * 5000])
def test_degenerate_inputs_produce_no_pii(engine: str, text: str, make_detector: Callable[..., Detector]) -> None:
    detector = make_detector(engine, (), builtins=True)
    entities = {f.entity for f in detector.scan(text).findings if f.kind.value == "pii"}
    assert not entities & {"CREDIT_CARD", "EMAIL", "US_SSN", "IN_AADHAAR", "PHONE_NUMBER", "IBAN"}


@pytest.mark.parametrize("engine", ENGINES)
def test_width_and_zero_width_obfuscation_is_seen_through(engine: str, make_detector: Callable[..., Detector]) -> None:
    detector = make_detector(engine, (), builtins=True)
    # Zero-width characters inside a card number and full-width digits in an SSN are folded away;
    # the reported span still indexes the caller's original text.
    text = "card 4111\u200b1111 1111 1111 and SSN ５３６-２２-１２３４."
    findings = {f.entity: f for f in detector.scan(text).findings}
    card, ssn = findings["CREDIT_CARD"], findings["US_SSN"]
    assert text[card.start : card.end] == "4111\u200b1111 1111 1111"
    assert text[ssn.start : ssn.end] == "５３６-２２-１２３４"


@pytest.mark.parametrize("engine", ENGINES)
def test_multilingual_cues(engine: str, make_detector: Callable[..., Detector]) -> None:
    detector = make_detector(engine, (), builtins=True)
    cases = {
        "Mein Reisepass hat die Nummer P07002534.": "PASSPORT",
        "Der BIC lautet MTOTDEFF.": "SWIFT_BIC",
        "Numéro de passeport : R27905014": "PASSPORT",
        "Mi móvil es 612345678.": "PHONE_NUMBER",
        "Il mio cellulare è 3534869076.": "PHONE_NUMBER",
        "fecha de nacimiento: 12/03/1985": "DATE_OF_BIRTH",
        "geboren am 24. März 1937": "DATE_OF_BIRTH",
        "La contraseña es Verano2024!": "PASSWORD",
    }
    for text, entity in cases.items():
        assert entity in {f.entity for f in detector.scan(text).findings}, text
