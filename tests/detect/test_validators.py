"""Validators: published known-valid/invalid numbers plus property tests of the check-digit schemes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shieldstorm.detect.validators import (
    _DNI_LETTERS,
    VALIDATORS,
    iso7064_mod11_10_ok,
    luhn_ok,
    verhoeff_ok,
)

# (validator, text, expected) — sources: card-network test numbers, SWIFT IBAN registry examples,
# CMS NPI example, NHS Digital examples, HMRC/DWP NINO rules, Agencia Tributaria DNI algorithm,
# Agenzia delle Entrate codice fiscale example, BZSt Steuer-IdNr example, BMI Personalausweis sample.
KNOWN = [
    ("luhn", "4111 1111 1111 1111", True),
    ("luhn", "5555-5555-5555-4444", True),
    ("luhn", "378282246310005", True),
    ("luhn", "6011111111111117", True),
    ("luhn", "4111111111111112", False),
    ("luhn", "0000000000000000", False),
    ("luhn", "12345", False),
    ("iban", "GB82 WEST 1234 5698 7654 32", True),
    ("iban", "DE89370400440532013000", True),
    ("iban", "FR1420041010050500013M02606", True),
    ("iban", "gb82west12345698765432", True),
    ("iban", "GB82WEST12345698765433", False),
    ("iban", "GB82WEST1234569876543", False),  # one character short for GB
    ("iban", "QQ82WEST12345698765432", False),
    ("aba", "011000015", True),
    ("aba", "021000021", True),
    ("aba", "121000358", True),
    ("aba", "021000022", False),
    ("aba", "991000020", False),  # prefix 99 is not a Federal Reserve district
    ("swift", "DEUTDEFF", True),
    ("swift", "DEUTDEFF500", True),
    ("swift", "NWBKGB2L", True),
    ("swift", "DEUTQQFF", False),
    ("swift", "DEUTDEF", False),
    ("ssn", "536-22-1234", True),
    ("ssn", "078-05-1120", False),  # the Woolworth wallet number
    ("ssn", "000-12-3456", False),
    ("ssn", "666-12-3456", False),
    ("ssn", "912-12-3456", False),
    ("ssn", "123-00-4567", False),
    ("ssn", "123-45-0000", False),
    ("itin", "912-70-1234", True),
    ("itin", "912-40-1234", False),
    ("itin", "812-70-1234", False),
    ("ein", "12-3456789", True),
    ("ein", "07-3456789", False),
    ("npi", "1234567893", True),
    ("npi", "1234567890", False),
    ("npi", "3234567893", False),
    ("dea", "AB1234563", True),
    ("dea", "BJ6125341", True),
    ("dea", "AB1234564", False),
    ("dea", "IB1234563", False),  # I is not a registrant type
    ("us_mbi", "1EG4-TE5-MK73", True),
    ("us_mbi", "1SG4-TE5-MK73", False),
    ("nhs", "943 476 5919", True),
    ("nhs", "401-023-2137", True),
    ("nhs", "9434765918", False),
    ("nhs", "1111111111", False),
    ("uk_nino", "AB 12 34 56 C", True),
    ("uk_nino", "QQ123456C", False),
    ("uk_nino", "GB123456A", False),
    ("uk_nino", "AO123456A", False),
    ("uk_nino", "AB123456E", False),
    ("ca_sin", "130 692 544", True),
    ("ca_sin", "130 692 545", False),
    ("ca_sin", "046 454 286", False),  # the government's published sample: a 0 prefix is never issued
    ("es_dni", "12345678Z", True),
    ("es_dni", "12345678-z", True),
    ("es_dni", "12345678A", False),
    ("es_nie", "X1234567L", True),
    ("es_nie", "Y1234567X", True),
    ("es_nie", "X1234567T", False),
    ("fr_nir", "2 55 08 14 168 025 38", True),
    ("fr_nir", "1 84 12 76 451 089 46", True),
    ("fr_nir", "1 84 12 76 451 089 47", False),
    ("fr_nir", "2 69 05 2A 123 456 88", True),
    ("fr_nir", "2 69 05 2A 123 456 21", False),
    ("fr_siren", "732 829 320", True),
    ("fr_siren", "732 829 321", False),
    ("it_codice_fiscale", "RSSMRA85T10A562S", True),
    ("it_codice_fiscale", "rssmra85t10a562s", True),
    ("it_codice_fiscale", "RSSMRA85T10A562T", False),
    ("it_codice_fiscale", "RSSMRA85Z10A562S", False),  # Z is not a month letter
    ("it_partita_iva", "07643520567", True),
    ("it_partita_iva", "07643520568", False),
    ("de_tax_id", "86095742719", True),
    ("de_tax_id", "65929970489", True),
    ("de_tax_id", "86095742718", False),
    ("de_tax_id", "11111111116", False),  # violates the digit-frequency rule
    ("de_personalausweis", "T220001293", True),
    ("de_personalausweis", "L01X00T471", True),
    ("de_personalausweis", "T220001294", False),
    ("de_personalausweis", "A220001293", False),  # A is not in the ID-card alphabet
    ("verhoeff", "2341 2341 2346", True),
    ("verhoeff", "2341 2341 2347", False),
    ("verhoeff", "0341 2341 2346", False),
    ("in_pan", "ABCPE1234F", True),
    ("in_pan", "ABCDE1234F", False),  # D is not a holder type
    ("ipv4", "192.168.1.254", True),
    ("ipv4", "8.8.8.8", True),
    ("ipv4", "256.1.1.1", False),
    ("ipv4", "01.2.3.4", False),
    ("ipv4", "0.0.0.0", False),
    ("ipv6", "2001:db8::8a2e:370:7334", True),
    ("ipv6", "fe80::1", True),
    ("ipv6", "::", False),
    ("ipv6", "2001:db8::g", False),
    ("mac", "00:1A:2B:3C:4D:5E", True),
    ("mac", "00-1a-2b-3c-4d-5e", True),
    ("mac", "FF:FF:FF:FF:FF:FF", False),
    ("gps", "40.7128, -74.0060", True),
    ("gps", "-33.8688,151.2093", True),
    ("gps", "48°51'24\"N 2°21'03\"E", True),
    ("gps", "91.5, 10.2", False),
    ("gps", "45.1, 181.0", False),
    ("gps", "12, 45", False),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5"
        "MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        True,
    ),
    ("jwt", "eyJub3QiOiJqd3QifQ.eyJzdWIiOiIxIn0.c2ln", False),  # header has no alg
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", False),  # payload is not JSON
    ("jwt", "abc.def.ghi", False),
    ("date_of_birth", "1985-03-12", True),
    ("date_of_birth", "12/03/1985", True),
    ("date_of_birth", "03/31/1985", True),
    ("date_of_birth", "12.03.1985", True),
    ("date_of_birth", "12 March 1985", True),
    ("date_of_birth", "March 12, 1985", True),
    ("date_of_birth", "12 mars 1985", True),
    ("date_of_birth", "31/02/1985", False),
    ("date_of_birth", "1850-01-01", False),
    ("date_of_birth", "2999-01-01", False),
    ("password_value", "S3cure!pass", True),
    ("password_value", "hunter2hunter", True),
    ("password_value", "********", False),
    ("password_value", "required", False),
    ("password_value", "<your-password>", False),
    ("entropy_token", "sk-proj-4fJx9QeLmN2pRtUvWxYz", True),
    ("entropy_token", "sk-xxxxxxxxxxxxxxxxxxxxxxxx", False),
]


@pytest.mark.parametrize(("name", "text", "expected"), KNOWN, ids=[f"{n}-{t}" for n, t, _ in KNOWN])
def test_known_values(name: str, text: str, expected: bool) -> None:
    assert VALIDATORS[name](text) is expected


def test_required_names_exist() -> None:
    required = {"luhn", "iban", "aba", "npi", "dea", "verhoeff", "nhs", "ssn"}
    assert required <= VALIDATORS.keys()
    assert all(callable(v) for v in VALIDATORS.values())


@pytest.mark.parametrize("name", sorted(VALIDATORS))
@given(text=st.text(max_size=64))
@settings(max_examples=60, deadline=None)
def test_validators_never_raise(name: str, text: str) -> None:
    assert VALIDATORS[name](text) in (True, False)


# --- property tests: build a valid number, then show every single-digit change is caught ----------


def _luhn_complete(body: str) -> str:
    for check in "0123456789":
        if luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable: one Luhn check digit always fits")


def _changes(number: str, positions: range | list[int]) -> list[str]:
    out = []
    for position in positions:
        for digit in "0123456789":
            if digit != number[position]:
                out.append(number[:position] + digit + number[position + 1 :])
    return out


@given(body=st.text("0123456789", min_size=11, max_size=17))
@settings(max_examples=80, deadline=None)
def test_luhn_valid_numbers_pass_and_single_digit_changes_fail(body: str) -> None:
    number = _luhn_complete("4" + body)
    assert VALIDATORS["luhn"](number)
    assert VALIDATORS["luhn"](" ".join(number[i : i + 4] for i in range(0, len(number), 4)))
    for changed in _changes(number, range(len(number))):
        assert not luhn_ok(changed)


@given(body=st.text("0123456789", min_size=11, max_size=11))
@settings(max_examples=80, deadline=None)
def test_verhoeff_catches_single_digit_changes_and_adjacent_swaps(body: str) -> None:
    number = next(body_ + c for body_ in ["2" + body[1:]] for c in "0123456789" if verhoeff_ok(body_ + c))
    assert VALIDATORS["verhoeff"](number)
    for changed in _changes(number, range(len(number))):
        assert not verhoeff_ok(changed)
    for i in range(len(number) - 1):
        if number[i] != number[i + 1]:
            swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
            assert not verhoeff_ok(swapped)


_IBAN_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _iban_complete(country: str, bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


@given(
    country=st.sampled_from(["DE", "GB", "FR", "ES", "IT", "NL", "CH"]),
    data=st.data(),
)
@settings(max_examples=80, deadline=None)
def test_iban_generated_valid_and_any_substitution_fails(country: str, data: st.DataObject) -> None:
    from shieldstorm.detect.validators import IBAN_LENGTHS

    length = IBAN_LENGTHS[country] - 4
    bban = data.draw(st.text("0123456789", min_size=length, max_size=length))
    number = _iban_complete(country, bban)
    assert VALIDATORS["iban"](number)
    assert VALIDATORS["iban"](" ".join(number[i : i + 4] for i in range(0, len(number), 4)))
    position = data.draw(st.integers(2, len(number) - 1))
    replacement = data.draw(st.sampled_from("0123456789").filter(lambda c: c != number[position]))
    assert not VALIDATORS["iban"](number[:position] + replacement + number[position + 1 :])
    assert not VALIDATORS["iban"](number[:-1])


@given(body=st.text("0123456789", min_size=8, max_size=8))
@settings(max_examples=80, deadline=None)
def test_aba_single_digit_changes_fail(body: str) -> None:
    body = "0" + body[1:]  # prefix 0x is always a Federal Reserve district
    weights = (3, 7, 1) * 3
    candidates = [body + c for c in "0123456789"]
    number = next(b for b in candidates if sum(int(d) * w for d, w in zip(b, weights, strict=True)) % 10 == 0)
    if number == "000000000":
        return
    assert VALIDATORS["aba"](number)
    for changed in _changes(number, range(2, 9)):
        assert not VALIDATORS["aba"](changed)


@given(body=st.text("0123456789", min_size=8, max_size=8), first=st.sampled_from("12"))
@settings(max_examples=80, deadline=None)
def test_npi_valid_and_single_digit_changes_fail(body: str, first: str) -> None:
    stem = first + body
    number = next(stem + c for c in "0123456789" if luhn_ok("80840" + stem + c))
    assert VALIDATORS["npi"](number)
    for changed in _changes(number, range(1, 10)):
        assert not VALIDATORS["npi"](changed)


@given(body=st.text("0123456789", min_size=9, max_size=9))
@settings(max_examples=80, deadline=None)
def test_nhs_single_digit_changes_fail(body: str) -> None:
    body = "4" + body[1:]
    total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    if check == 10:  # never issued
        assert not VALIDATORS["nhs"](body + "0")
        return
    number = body + str(check)
    if len(set(number)) == 1:
        return
    assert VALIDATORS["nhs"](number)
    for changed in _changes(number, range(10)):
        assert not VALIDATORS["nhs"](changed)


@given(
    registrant=st.sampled_from("ABFGMP"),
    second=st.sampled_from("ABCXYZ9"),
    body=st.text("0123456789", min_size=6, max_size=6),
)
@settings(max_examples=80, deadline=None)
def test_dea_valid_and_weight_one_changes_fail(registrant: str, second: str, body: str) -> None:
    d = [int(c) for c in body]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    number = f"{registrant}{second}{body}{check}"
    assert VALIDATORS["dea"](number)
    # Weight-1 positions and the check digit catch every change (weight 2 misses a change by 5).
    for changed in _changes(number, [2, 4, 6, 8]):
        assert not VALIDATORS["dea"](changed)


@given(number=st.integers(0, 99_999_999), prefix=st.sampled_from(["", "X", "Y", "Z"]))
@settings(max_examples=80, deadline=None)
def test_dni_nie_control_letter(number: int, prefix: str) -> None:
    body = f"{number:07d}"[-7:] if prefix else f"{number:08d}"
    value = int(str("XYZ".index(prefix)) + body) if prefix else int(body)
    letter = _DNI_LETTERS[value % 23]
    assert VALIDATORS["es_dni"](f"{prefix}{body}{letter}")
    wrong = _DNI_LETTERS[(value + 1) % 23]
    assert not VALIDATORS["es_dni"](f"{prefix}{body}{wrong}")


@given(body=st.text("0123456789", min_size=10, max_size=10))
@settings(max_examples=80, deadline=None)
def test_iso7064_single_digit_changes_fail(body: str) -> None:
    number = next(body + c for c in "0123456789" if iso7064_mod11_10_ok(body + c))
    for changed in _changes(number, range(11)):
        assert not iso7064_mod11_10_ok(changed)


@given(body=st.text("0123456789", min_size=7, max_size=7), first=st.sampled_from("1234567"))
@settings(max_examples=80, deadline=None)
def test_ca_sin_luhn(body: str, first: str) -> None:
    number = _luhn_complete(first + body)
    assert VALIDATORS["ca_sin"](f"{number[:3]} {number[3:6]} {number[6:]}")
    for changed in _changes(number, range(1, 9)):
        assert not VALIDATORS["ca_sin"](changed)


@given(st.integers(1, 12), st.integers(1, 28), st.integers(1901, 2020))
@settings(max_examples=80, deadline=None)
def test_date_of_birth_accepts_real_dates_in_common_formats(month: int, day: int, year: int) -> None:
    for text in (f"{year}-{month:02d}-{day:02d}", f"{day:02d}.{month:02d}.{year}", f"{month}/{day}/{year}"):
        assert VALIDATORS["date_of_birth"](text), text
