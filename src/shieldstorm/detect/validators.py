"""Checksum and structure validators for PII and secret patterns.

A pattern names a validator (``validator: luhn``); the engine calls ``VALIDATORS[name](span)`` with the
matched span (the ``value`` group when the regex has one) and drops the finding when it returns False.
So a number that fails its check digit is never reported as that entity.

Every validator takes the raw span and strips separators (spaces, dashes, dots, slashes) itself, never
raises, and is pure and cheap: it runs only on regex hits, never on the whole text.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable

Validator = Callable[[str], bool]

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
_NON_DIGIT = re.compile(r"[^0-9]")


def _digits(text: str) -> str:
    return _NON_DIGIT.sub("", text)


def _alnum(text: str) -> str:
    return _NON_ALNUM.sub("", text).upper()


# --- generic check-digit schemes -------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) over a string of digits, check digit last."""
    if not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_ok(digits: str) -> bool:
    """Verhoeff dihedral-group check over a string of digits, check digit last."""
    if not (digits.isascii() and digits.isdigit()):
        return False
    check = 0
    for index, char in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[index % 8][ord(char) - 48]]
    return check == 0


def iso7064_mod11_10_ok(digits: str) -> bool:
    """ISO 7064 MOD 11,10 (German tax id), check digit last."""
    if not (digits.isascii() and digits.isdigit()) or len(digits) < 2:
        return False
    product = 10
    for char in digits[:-1]:
        total = (int(char) + product) % 10
        if total == 0:
            total = 10
        product = (total * 2) % 11
    check = 11 - product
    if check == 10:
        check = 0
    return check == int(digits[-1])


def _icao_check(chars: str) -> int:
    """ICAO 9303 / German ID check digit: weights 7,3,1; A=10 ... Z=35, '<' = 0."""
    total = 0
    for index, char in enumerate(chars):
        if char.isdigit():
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - 55
        else:
            value = 0
        total += value * (7, 3, 1)[index % 3]
    return total % 10


# --- financial -------------------------------------------------------------------------------------


def luhn(text: str) -> bool:
    """Payment card numbers (and anything else that is 12-19 digits with a Luhn check)."""
    digits = _digits(text)
    return 12 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1


# Lengths from the SWIFT IBAN registry: a wrong length is rejected before the (costlier) mod-97.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban(text: str) -> bool:
    """IBAN: known country, registry length, ISO 13616 mod-97 == 1."""
    value = _alnum(text)
    country = value[:2]
    if IBAN_LENGTHS.get(country) != len(value) or not value[2:4].isdigit():
        return False
    rearranged = value[4:] + value[:4]
    try:
        number = int("".join(str(int(char, 36)) for char in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def aba(text: str) -> bool:
    """US ABA routing number: valid Federal Reserve prefix and the 3-7-1 weighted checksum."""
    digits = _digits(text)
    if len(digits) != 9:
        return False
    prefix = int(digits[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 10 == 0 and digits != "000000000"


_ISO_COUNTRY_CODES = (
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW
    BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ
    FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ
    IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH
    MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD
    TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW"""
)
ISO_COUNTRIES = frozenset(_ISO_COUNTRY_CODES.split())


def swift(text: str) -> bool:
    """SWIFT/BIC (ISO 9362): 4-letter bank, ISO country, 2-char location, optional 3-char branch."""
    value = _alnum(text)
    if len(value) not in (8, 11):
        return False
    return value[:4].isalpha() and value[4:6] in ISO_COUNTRIES and value[6:].isalnum()


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check


def btc_address(text: str) -> bool:
    """Bitcoin address: base58check (double SHA-256) for 1.../3..., bech32/bech32m checksum for bc1..."""
    value = text.strip()
    if value[:3].lower() == "bc1":
        lowered = value.lower()
        data = lowered[3:]
        if any(c not in _BECH32 for c in data) or len(data) < 8:
            return False
        hrp = "bc"
        expanded = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]
        return _bech32_polymod(expanded + [_BECH32.index(c) for c in data]) in (1, 0x2BC830A3)
    if any(c not in _B58 for c in value) or not 26 <= len(value) <= 35:
        return False
    number = 0
    for char in value:
        number = number * 58 + _B58.index(char)
    raw = number.to_bytes(25, "big") if number < 1 << 200 else b""
    if len(raw) != 25:
        return False
    digest = hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()
    return digest[:4] == raw[-4:]


# --- United States ---------------------------------------------------------------------------------

# Numbers published in advertising or used as examples, never issued to a person.
_SSN_BLOCKLIST = frozenset({"078051120", "219099999", "123456789", "457555462"})


def ssn(text: str) -> bool:
    """US SSN: rejects area 000/666/9xx, group 00, serial 0000 and famous example numbers."""
    digits = _digits(text)
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits not in _SSN_BLOCKLIST


def itin(text: str) -> bool:
    """US ITIN: 9xx area and group 50-65, 70-88, 90-92 or 94-99."""
    digits = _digits(text)
    if len(digits) != 9 or digits[0] != "9":
        return False
    group = int(digits[3:5])
    return 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99


# IRS campus prefixes that have been assigned (all others are invalid).
_EIN_PREFIXES = frozenset(
    [f"{n:02d}" for n in (*range(1, 7), *range(10, 17), *range(20, 28), *range(30, 49), *range(50, 69))]
    + [f"{n:02d}" for n in (*range(71, 78), *range(80, 89), *range(90, 96), 98, 99)]
)


def ein(text: str) -> bool:
    """US Employer Identification Number: 9 digits with an assigned IRS prefix."""
    digits = _digits(text)
    return len(digits) == 9 and digits[:2] in _EIN_PREFIXES and digits[2:] != "0000000"


def npi(text: str) -> bool:
    """US National Provider Identifier: 10 digits, starts 1 or 2, Luhn over '80840' + number."""
    digits = _digits(text)
    return len(digits) == 10 and digits[0] in "12" and luhn_ok("80840" + digits)


_DEA_REGISTRANTS = frozenset("ABCDEFGHJKLMPRSTUX")


def dea(text: str) -> bool:
    """US DEA registration: registrant-type letter, letter (or 9), 6 digits and a check digit."""
    value = _alnum(text)
    if len(value) != 9 or value[0] not in _DEA_REGISTRANTS:
        return False
    if not (value[1].isalpha() or value[1] == "9") or not value[2:].isdigit():
        return False
    d = [int(c) for c in value[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


_MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"  # Medicare Beneficiary Identifier excludes S, L, O, I, B, Z


def us_mbi(text: str) -> bool:
    """US Medicare Beneficiary Identifier: 11 chars, position rules of CMS (no check digit)."""
    v = _alnum(text)
    if len(v) != 11:
        return False
    numeric, alpha = "0123456789", _MBI_LETTERS
    alnum = numeric + alpha
    rules = (
        "123456789", alnum, alnum, numeric, alpha, alnum, numeric, alpha, alpha, numeric, numeric
    )  # fmt: skip
    return all(char in allowed for char, allowed in zip(v, rules, strict=True))


# --- United Kingdom --------------------------------------------------------------------------------


def nhs(text: str) -> bool:
    """UK NHS number: 10 digits, mod-11 with weights 10..2 (a check value of 10 is never issued)."""
    digits = _digits(text)
    if len(digits) != 10 or len(set(digits)) == 1:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def uk_nino(text: str) -> bool:
    """UK National Insurance number: prefix rules of HMRC, 6 digits, suffix A-D."""
    value = _alnum(text)
    if len(value) == 8:  # the suffix letter is optional in some systems
        value += "A"
    if len(value) != 9 or not value[2:8].isdigit() or value[8] not in "ABCD":
        return False
    first, second = value[0], value[1]
    if first in "DFIQUV" or second in "DFIOQUV" or not first.isalpha() or not second.isalpha():
        return False
    return value[:2] not in _NINO_BAD_PREFIXES


# --- Canada ----------------------------------------------------------------------------------------


def ca_sin(text: str) -> bool:
    """Canadian Social Insurance Number: 9 digits, Luhn, first digit not 0 or 8 (never assigned)."""
    digits = _digits(text)
    return len(digits) == 9 and digits[0] not in "08" and luhn_ok(digits)


# --- Spain -----------------------------------------------------------------------------------------

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni(text: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter): mod-23 control letter."""
    value = _alnum(text)
    if len(value) != 9 or not value[-1].isalpha():
        return False
    body = value[:-1]
    if body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
    if not body.isdigit():
        return False
    return _DNI_LETTERS[int(body) % 23] == value[-1]


# --- France ----------------------------------------------------------------------------------------


def fr_nir(text: str) -> bool:
    """French social security number (NIR/INSEE): structure and key = 97 - (number mod 97)."""
    value = _alnum(text)
    if len(value) != 15 or value[0] not in "12378":
        return False
    body, key = value[:13], value[13:]
    if not key.isdigit():
        return False
    month = body[3:5]
    if not month.isdigit() or not (1 <= int(month) <= 12 or 20 <= int(month) <= 42 or 50 <= int(month) <= 99):
        return False
    # Corsica: departments 2A/2B count as 19/18 in the key computation.
    numeric = body.replace("2A", "19", 1) if body[5:7] == "2A" else body
    numeric = numeric.replace("2B", "18", 1) if body[5:7] == "2B" else numeric
    if not numeric.isdigit():
        return False
    return 97 - int(numeric) % 97 == int(key)


def fr_siren(text: str) -> bool:
    """French company id SIREN (9 digits) or SIRET (14 digits): Luhn."""
    digits = _digits(text)
    return len(digits) in (9, 14) and luhn_ok(digits) and len(set(digits)) > 1


# --- Italy -----------------------------------------------------------------------------------------

_CF_ODD = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        # digits, then letters; A..J reuse the digit values
        (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21,
         2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23),
        strict=True,
    )
)
_CF_MONTHS = "ABCDEHLMPRST"
_CF_OMOCODE = "LMNPQRSTUV"  # digit substitutes used when two people share a code
_CF_DIGIT_POSITIONS = (6, 7, 9, 10, 12, 13, 14)


def it_codice_fiscale(text: str) -> bool:
    """Italian fiscal code: 16 chars, month letter, day 1-31/41-71, omocodia digits and check char."""
    value = _alnum(text)
    if len(value) != 16 or not value[:6].isalpha() or not value[15].isalpha() or not value[11].isalpha():
        return False
    if value[8] not in _CF_MONTHS:
        return False
    for position in _CF_DIGIT_POSITIONS:
        if not (value[position].isdigit() or value[position] in _CF_OMOCODE):
            return False
    day_chars = "".join(str(_CF_OMOCODE.index(c)) if c.isalpha() else c for c in value[9:11])
    day = int(day_chars)
    if not (1 <= day <= 31 or 41 <= day <= 71):
        return False
    total = 0
    for index, char in enumerate(value[:15]):
        total += _CF_ODD[char] if index % 2 == 0 else (int(char) if char.isdigit() else ord(char) - 65)
    return chr(65 + total % 26) == value[15]


def it_partita_iva(text: str) -> bool:
    """Italian VAT number (partita IVA): 11 digits, Luhn."""
    digits = _digits(text)
    return len(digits) == 11 and luhn_ok(digits) and digits[:7] != "0000000"


# --- Germany ---------------------------------------------------------------------------------------


def de_tax_id(text: str) -> bool:
    """German tax id (Steuer-IdNr): 11 digits, digit-frequency rule and ISO 7064 MOD 11,10."""
    digits = _digits(text)
    if len(digits) != 11 or digits[0] == "0":
        return False
    counts = Counter(digits[:10])
    repeated = [d for d, n in counts.items() if n > 1]
    # Exactly one digit occurs twice or three times; a triple may not be three in a row.
    if len(repeated) != 1 or counts[repeated[0]] > 3:
        return False
    if counts[repeated[0]] == 3 and repeated[0] * 3 in digits[:10]:
        return False
    return iso7064_mod11_10_ok(digits)


_DE_ID_CHARS = frozenset("CFGHJKLMNPRTVWXYZ0123456789")


def de_personalausweis(text: str) -> bool:
    """German identity card / passport serial: 9 chars of the restricted alphabet + 7-3-1 check digit."""
    value = _alnum(text)
    if len(value) != 10 or not value[9].isdigit() or not value[0].isalpha():
        return False
    if any(char not in _DE_ID_CHARS for char in value[:9]):
        return False
    return _icao_check(value[:9]) == int(value[9])


# --- India -----------------------------------------------------------------------------------------


def verhoeff(text: str) -> bool:
    """Aadhaar: 12 digits, not starting 0 or 1, Verhoeff check digit."""
    digits = _digits(text)
    return len(digits) == 12 and digits[0] not in "01" and verhoeff_ok(digits)


_PAN_HOLDER_TYPES = frozenset("ABCFGHJLPT")


def in_pan(text: str) -> bool:
    """Indian PAN: 5 letters (4th = holder type), 4 digits, 1 letter."""
    value = _alnum(text)
    return (
        len(value) == 10
        and value[:5].isalpha()
        and value[5:9].isdigit()
        and value[9].isalpha()
        and value[3] in _PAN_HOLDER_TYPES
    )


# --- contact -------------------------------------------------------------------------------------


def phone(text: str) -> bool:
    """Phone number: 7-15 digits (E.164 maximum) once a '(0)' trunk marker and an extension are dropped."""
    value = re.split(r"(?i)\s*(?:x|ext\.?|extension)\s*\d", text.replace("(0)", ""), maxsplit=1)[0]
    digits = _digits(value)
    return 7 <= len(digits) <= 15 and len(set(digits)) > 2


def phone_national(text: str) -> bool:
    """National number with trunk prefix 0: 10-11 digits (9-digit bank codes, dates, 12-digit cards don't count)."""
    digits = _digits(text)
    return digits.startswith("0") and 10 <= len(digits) <= 11 and len(set(digits)) > 2


# --- network and location --------------------------------------------------------------------------


def ipv4(text: str) -> bool:
    """Dotted-quad IPv4 with octets 0-255 and no leading zeros; rejects the placeholder 0.0.0.0."""
    parts = text.strip().split(".")
    if not text.isascii() or len(parts) != 4 or not all(part.isdigit() and len(part) <= 3 for part in parts):
        return False
    if any(len(part) > 1 and part[0] == "0" for part in parts):
        return False
    return all(int(part) <= 255 for part in parts) and text.strip() != "0.0.0.0"  # noqa: S104 - a placeholder, not a bind


def ipv6(text: str) -> bool:
    """IPv6 address (with optional zone-less compression); needs at least two groups to exclude '::'."""
    value = text.strip().strip("[]")
    try:
        address = ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return value.count(":") >= 2 and not address.is_unspecified


def mac(text: str) -> bool:
    """MAC-48 address; rejects all-zero and broadcast addresses typed as placeholders."""
    value = _alnum(text)
    if len(value) != 12:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return value not in ("000000000000", "FFFFFFFFFFFF")


_NUMBER = re.compile(r"[-+]?[0-9]{1,3}(?:\.[0-9]+)?")
_DMS = re.compile(r"([0-9]{1,3})°\s*([0-9]{1,2})['′]\s*(?:([0-9]{1,2}(?:\.[0-9]+)?)(?:[\"″]|′′|''))?\s*([NSEWnsew])")


def gps(text: str) -> bool:
    """GPS coordinate pair: decimal degrees (lat ±90, lon ±180, both with decimals) or DMS with hemispheres."""
    dms = _DMS.findall(text)
    if len(dms) == 2:
        lat_deg, lon_deg = int(dms[0][0]), int(dms[1][0])
        ok_hemis = dms[0][3].upper() in "NS" and dms[1][3].upper() in "EW"
        return ok_hemis and lat_deg <= 90 and lon_deg <= 180 and int(dms[0][1]) < 60 and int(dms[1][1]) < 60
    numbers = _NUMBER.findall(text)
    if len(numbers) != 2 or not all("." in n for n in numbers):
        return False
    lat, lon = float(numbers[0]), float(numbers[1])
    return -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0 and not (lat == 0.0 and lon == 0.0)


# --- credentials -----------------------------------------------------------------------------------


def _b64url_json(segment: str) -> object:
    padded = segment + "=" * (-len(segment) % 4)
    raw = base64.urlsafe_b64decode(padded.encode("ascii"))
    return json.loads(raw.decode("utf-8"))


def jwt(text: str) -> bool:
    """JSON Web Token (JWS compact): header and payload are base64url JSON objects, header has `alg`."""
    parts = text.strip().split(".")
    if len(parts) not in (3, 5):
        return False
    try:
        header = _b64url_json(parts[0])
        payload = _b64url_json(parts[1]) if len(parts) == 3 else {}
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return False
    return isinstance(header, dict) and "alg" in header and isinstance(payload, dict)


def entropy_token(text: str) -> bool:
    """A secret-looking token: mixes character classes and is not one repeated character or a placeholder."""
    value = text.strip()
    lowered = value.lower()
    if any(word in lowered for word in ("xxxx", "example", "your_", "your-", "placeholder", "<", "****")):
        return False
    classes = sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
    )
    return len(set(value)) >= 6 and classes >= 2


def password_value(text: str) -> bool:
    """The value after 'password:' looks like a real password, not prose or a placeholder."""
    # Trailing sentence punctuation is prose, not part of the judgement ("password is required.").
    value = text.strip().strip("'\"`").rstrip(".,;:!?)")
    lowered = value.lower()
    if len(value) < 6 or lowered in {"password", "required", "optional", "changeme", "none", "null", "true", "false"}:
        return False
    if any(word in lowered for word in ("****", "xxxx", "<", "${", "{{", "redacted", "hidden", "example")):
        return False
    # Ordinary words ("password: forgotten") are prose; real passwords mix classes.
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    return classes >= 2


# --- dates -----------------------------------------------------------------------------------------

_MONTHS = {
    name: index
    for index, names in enumerate(
        (
            ("jan", "january", "januar", "janvier", "enero", "gennaio", "jänner"),
            ("feb", "february", "februar", "février", "fevrier", "febrero", "febbraio"),
            ("mar", "march", "märz", "maerz", "mars", "marzo"),
            ("apr", "april", "avril", "abril", "aprile"),
            ("may", "mai", "mayo", "maggio"),
            ("jun", "june", "juni", "juin", "junio", "giugno"),
            ("jul", "july", "juli", "juillet", "julio", "luglio"),
            ("aug", "august", "août", "aout", "agosto"),
            ("sep", "sept", "september", "septembre", "septiembre", "settembre"),
            ("oct", "october", "oktober", "octobre", "octubre", "ottobre"),
            ("nov", "november", "novembre", "noviembre"),
            ("dec", "december", "dezember", "décembre", "decembre", "diciembre", "dicembre"),
        ),
        start=1,
    )
    for name in names
}
_DATE_TOKENS = re.compile(r"[0-9]+|[^\W\d_]+")


def _plausible(year: int, month: int, day: int) -> bool:
    if not 1900 <= year <= _dt.date.today().year:
        return False
    try:
        born = _dt.date(year, month, day)
    except ValueError:
        return False
    return born <= _dt.date.today()


def date_of_birth(text: str) -> bool:
    """A real calendar date with a plausible birth year (1900..today), in numeric or month-name formats."""
    tokens = _DATE_TOKENS.findall(text.lower())
    numbers = [int(t) for t in tokens if t.isascii() and t.isdigit()]
    months = [_MONTHS[t] for t in tokens if t in _MONTHS]
    if months and len(numbers) == 2:
        day, year = (numbers[0], numbers[1]) if numbers[1] > 31 else (numbers[1], numbers[0])
        return _plausible(year, months[0], day)
    if len(numbers) != 3:
        return False
    a, b, c = numbers
    if a > 31:  # ISO order: year-month-day
        return _plausible(a, b, c)
    # Day-first (Europe) or month-first (US): accept when either reading is a real date.
    return _plausible(c, b, a) or _plausible(c, a, b)


VALIDATORS: dict[str, Validator] = {
    "luhn": luhn,
    "iban": iban,
    "aba": aba,
    "swift": swift,
    "btc_address": btc_address,
    "ssn": ssn,
    "itin": itin,
    "ein": ein,
    "npi": npi,
    "dea": dea,
    "us_mbi": us_mbi,
    "nhs": nhs,
    "uk_nino": uk_nino,
    "ca_sin": ca_sin,
    "es_dni": es_dni,
    "es_nie": es_dni,
    "fr_nir": fr_nir,
    "fr_siren": fr_siren,
    "it_codice_fiscale": it_codice_fiscale,
    "it_partita_iva": it_partita_iva,
    "de_tax_id": de_tax_id,
    "de_personalausweis": de_personalausweis,
    "verhoeff": verhoeff,
    "aadhaar": verhoeff,
    "in_pan": in_pan,
    "phone": phone,
    "phone_national": phone_national,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "mac": mac,
    "gps": gps,
    "jwt": jwt,
    "entropy_token": entropy_token,
    "password_value": password_value,
    "date_of_birth": date_of_birth,
}
