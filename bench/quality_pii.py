"""PII/secret detection quality on Faker-generated text, through the real `Detector`.

For every pattern-detectable entity type the script embeds generated values in sentences of the
locale's language (en_US, en_GB, de_DE, fr_FR, es_ES, it_IT, en_IN, en_CA), surrounded by Faker
filler text, and adds PII-free documents (Faker prose plus non-PII numbers: prices, dates, times,
versions, ISBNs, order numbers, UUIDs ...) for false positives. Scoring is span-overlap based:

* a gold value is found (recall) when a finding with the same entity overlaps its span;
* a finding is a true positive when it overlaps a gold value of the same entity, otherwise it is a
  false positive for its own entity (several findings on one gold value count once).

Faker generates some identifiers that deliberately fail their check (en_GB NINOs use the reserved
prefix ZZ, en_IN "Aadhaar" numbers are random 12 digits, en_IN IBANs have a wrong length). Those
are not used as positives; they are scanned separately and reported as "checksum rejections":
the share of such invalid numbers that is (correctly) not reported as that entity.

Usage: `python bench/quality_pii.py [--per-entity N] [--negatives N] [--seed S] [--engine E] [--json] [--examples]`.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import string
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faker import Faker

from shieldstorm.detect import Detector, DetectorConfig
from shieldstorm.detect.validators import (
    _DE_ID_CHARS,
    VALIDATORS,
    _icao_check,
    iso7064_mod11_10_ok,
    luhn_ok,
    verhoeff_ok,
)

SEED = 20261123
LOCALES: dict[str, str] = {
    "en_US": "en",
    "en_GB": "en",
    "de_DE": "de",
    "fr_FR": "fr",
    "es_ES": "es",
    "it_IT": "it",
    "en_IN": "en",
    "en_CA": "en",
}
# A finding of the alias entity on a gold value counts as correct: a JWT sent as a bearer token is both.
ALIASES: dict[str, set[str]] = {"JWT": {"ACCESS_TOKEN"}}

Gen = Callable[[Faker, random.Random], str]


# --- value generators for identifiers Faker does not produce (or produces invalid on purpose) -------


def _nino(_: Faker, rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    while first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
        second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    digits = "".join(rng.choice(string.digits) for _ in range(6))
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{first}{second}{digits}{suffix}"


def _nhs(_: Faker, rng: random.Random) -> str:
    while True:
        body = str(rng.randint(4, 7)) + "".join(rng.choice(string.digits) for _ in range(8))
        check = (11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11) % 11
        if check != 10:
            number = body + str(check)
            return f"{number[:3]} {number[3:6]} {number[6:]}" if rng.random() < 0.7 else number


def _de_tax_id(_: Faker, rng: random.Random) -> str:
    while True:
        digits = rng.sample(string.digits, 10)
        digits[rng.randrange(1, 10)] = digits[rng.randrange(0, 10)]
        body = "".join(digits)
        if body[0] == "0":
            continue
        for check in string.digits:
            if iso7064_mod11_10_ok(body + check) and VALIDATORS["de_tax_id"](body + check):
                return body + check


def _de_id_card(_: Faker, rng: random.Random) -> str:
    alphabet = sorted(_DE_ID_CHARS)
    letters = [c for c in alphabet if c.isalpha()]
    serial = rng.choice(letters) + "".join(rng.choice(alphabet) for _ in range(8))
    return serial + str(_icao_check(serial))


def _aadhaar(_: Faker, rng: random.Random) -> str:
    body = str(rng.randint(2, 9)) + "".join(rng.choice(string.digits) for _ in range(10))
    number = next(body + c for c in string.digits if verhoeff_ok(body + c))
    return f"{number[:4]} {number[4:8]} {number[8:]}" if rng.random() < 0.7 else number


def _pan(_: Faker, rng: random.Random) -> str:
    up = string.ascii_uppercase
    return (
        "".join(rng.choice(up) for _ in range(3))
        + rng.choice("PCHFATBLJG")
        + rng.choice(up)
        + "".join(rng.choice(string.digits) for _ in range(4))
        + rng.choice(up)
    )


def _npi(_: Faker, rng: random.Random) -> str:
    body = rng.choice("12") + "".join(rng.choice(string.digits) for _ in range(8))
    return next(body + c for c in string.digits if luhn_ok("80840" + body + c))


def _dea(_: Faker, rng: random.Random) -> str:
    d = [rng.randrange(10) for _ in range(6)]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return rng.choice("ABFGMP") + rng.choice(string.ascii_uppercase) + "".join(map(str, d)) + str(check)


def _mrn(_: Faker, rng: random.Random) -> str:
    return rng.choice(["", "", "MR", "HX-"]) + str(rng.randint(1_000_000, 99_999_999))


def _driver_license(_: Faker, rng: random.Random) -> str:
    return rng.choice(string.ascii_uppercase) + str(rng.randint(1_000_000, 9_999_999))


def _token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _aws_key(_: Faker, rng: random.Random) -> str:
    return rng.choice(["AKIA", "ASIA"]) + _token(rng, 16, string.ascii_uppercase + "234567")


def _openai_key(_: Faker, rng: random.Random) -> str:
    return "sk-proj-" + _token(rng, 48, string.ascii_letters + string.digits + "_-")


def _github_token(_: Faker, rng: random.Random) -> str:
    return "ghp_" + _token(rng, 36)


def _jwt(fake: Faker, rng: random.Random) -> str:
    def enc(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")

    header = enc({"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    payload = enc({"sub": fake.uuid4(), "name": fake.name(), "iat": rng.randint(1_500_000_000, 1_800_000_000)})
    return f"{header}.{payload}.{_token(rng, 43, string.ascii_letters + string.digits + '_-')}"


def _conn_string(fake: Faker, rng: random.Random) -> str:
    scheme = rng.choice(["postgres", "postgresql", "mysql", "mongodb", "redis", "amqp"])
    password = fake.password(length=12, special_chars=False)
    return f"{scheme}://{fake.user_name()}:{password}@{fake.hostname()}:{rng.randint(1000, 9999)}/{fake.word()}"


def _password(fake: Faker, _: random.Random) -> str:
    return str(fake.password(length=rng_len(fake)))


def rng_len(fake: Faker) -> int:
    return int(fake.random_int(10, 16))


def _gps(fake: Faker, rng: random.Random) -> str:
    lat, lon = float(fake.latitude()), float(fake.longitude())
    return f"{lat:.6f}, {lon:.6f}" if rng.random() < 0.7 else f"{lat:.5f},{lon:.5f}"


def _ip(fake: Faker, rng: random.Random) -> str:
    return str(fake.ipv4() if rng.random() < 0.7 else fake.ipv6())


def _street(fake: Faker, _: random.Random) -> str:
    return str(fake.street_address()).replace("\n", ", ")


_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
}


def _dob(fake: Faker, rng: random.Random) -> str:
    born = fake.date_of_birth(minimum_age=1, maximum_age=95)
    locale = str(fake.locales[0]) if fake.locales else "en_US"
    lang = LOCALES.get(locale, "en")
    month_name = _MONTHS[lang].split()[born.month - 1]
    styles = {
        "en_US": [f"{born.month:02d}/{born.day:02d}/{born.year}", f"{month_name} {born.day}, {born.year}"],
        "en_CA": [born.isoformat(), f"{month_name} {born.day}, {born.year}"],
        "de_DE": [f"{born.day:02d}.{born.month:02d}.{born.year}", f"{born.day}. {month_name} {born.year}"],
    }.get(locale, [f"{born.day:02d}/{born.month:02d}/{born.year}", f"{born.day} {month_name} {born.year}"])
    return rng.choice([*styles, born.isoformat()])


def _faker(method: str, *args: Any) -> Gen:
    def gen(fake: Faker, _: random.Random) -> str:
        return str(getattr(fake, method)(*args))

    return gen


ALL = tuple(LOCALES)
# entity -> (locales, generator)
GENERATORS: dict[str, tuple[tuple[str, ...], Gen]] = {
    "EMAIL": (ALL, _faker("email")),
    "PHONE_NUMBER": (ALL, _faker("phone_number")),
    "CREDIT_CARD": (ALL, _faker("credit_card_number")),
    "IBAN": (("en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "en_US"), _faker("iban")),
    "SWIFT_BIC": (ALL, _faker("swift")),
    "IP_ADDRESS": (ALL, _ip),
    "MAC_ADDRESS": (ALL, _faker("mac_address")),
    "GPS_COORDINATES": (ALL, _gps),
    "DATE_OF_BIRTH": (ALL, _dob),
    "ADDRESS": (ALL, _street),
    "PASSPORT": (ALL, _faker("passport_number")),
    "US_SSN": (("en_US",), _faker("ssn")),
    "US_ITIN": (("en_US",), _faker("itin")),
    "US_EIN": (("en_US",), _faker("ein")),
    "ABA_ROUTING": (("en_US",), _faker("aba")),
    "DRIVERS_LICENSE": (("en_US",), _driver_license),
    "US_NPI": (("en_US",), _npi),
    "US_DEA": (("en_US",), _dea),
    "MEDICAL_RECORD_NUMBER": (("en_US", "en_GB"), _mrn),
    "UK_NINO": (("en_GB",), _nino),
    "UK_NHS": (("en_GB",), _nhs),
    "POSTAL_CODE": (("en_GB", "en_CA"), _faker("postcode")),
    "DE_TAX_ID": (("de_DE",), _de_tax_id),
    "DE_ID_CARD": (("de_DE",), _de_id_card),
    "FR_NIR": (("fr_FR",), _faker("ssn")),
    "ES_NIF": (("es_ES",), _faker("nif")),
    "ES_NIE": (("es_ES",), _faker("nie")),
    "IT_FISCAL_CODE": (("it_IT",), _faker("ssn")),
    "IT_VAT": (("it_IT",), _faker("company_vat")),
    "IN_AADHAAR": (("en_IN",), _aadhaar),
    "IN_PAN": (("en_IN",), _pan),
    "CA_SIN": (("en_CA",), _faker("ssn")),
    "PASSWORD": (ALL, _password),
    "AWS_ACCESS_KEY_ID": (ALL, _aws_key),
    "API_KEY": (ALL, _openai_key),
    "ACCESS_TOKEN": (ALL, _github_token),
    "JWT": (ALL, _jwt),
    "CONNECTION_STRING": (ALL, _conn_string),
}

# Sentence templates per entity and language ({v}: the value, {name}: a Faker name). English is the fallback.
TEMPLATES: dict[str, dict[str, list[str]]] = {
    "EMAIL": {
        "en": ["You can email {name} at {v}.", "Contact: {v}", "Send the report to {v} before Friday.", "{name} <{v}>"],
        "de": ["Schreiben Sie an {v}.", "E-Mail: {v}", "{name} ist unter {v} erreichbar."],
        "fr": ["Écrivez-moi à {v}.", "Courriel : {v}", "{name} répond à {v}."],
        "es": ["Escríbeme a {v}.", "Correo: {v}", "{name} usa {v}."],
        "it": ["Scrivimi a {v}.", "Email: {v}", "{name} risponde a {v}."],
    },
    "PHONE_NUMBER": {
        "en": [
            "Call me at {v} tomorrow.",
            "My phone number is {v}.",
            "{name}, tel. {v}",
            "Mobile: {v}",
            "Reach the front desk on {v}.",
            "{name}: {v}",
        ],
        "de": ["Rufen Sie mich unter {v} an.", "Telefon: {v}", "Meine Handynummer ist {v}.", "{name}: {v}"],
        "fr": ["Appelez-moi au {v}.", "Téléphone : {v}", "Mon portable : {v}", "{name} : {v}"],
        "es": ["Llámame al {v}.", "Teléfono: {v}", "Mi móvil es {v}.", "{name}: {v}"],
        "it": ["Chiamami al {v}.", "Telefono: {v}", "Il mio cellulare è {v}.", "{name}: {v}"],
    },
    "CREDIT_CARD": {
        "en": ["Please charge my card {v}.", "Card number: {v}, exp 04/29", "I paid with {v} yesterday."],
        "de": ["Kreditkartennummer: {v}", "Bitte belasten Sie die Karte {v}."],
        "fr": ["Numéro de carte : {v}", "Débitez ma carte {v}."],
        "es": ["Número de tarjeta: {v}", "Cargue mi tarjeta {v}."],
        "it": ["Numero di carta: {v}", "Addebitate la carta {v}."],
    },
    "IBAN": {
        "en": ["Please transfer the money to IBAN {v}.", "My account: {v}", "Pay {name} on {v}."],
        "de": ["Bitte überweisen Sie den Betrag auf {v}.", "IBAN: {v}"],
        "fr": ["Virement sur le compte {v}.", "IBAN : {v}"],
        "es": ["Transfiera a la cuenta {v}.", "IBAN: {v}"],
        "it": ["Bonifico sul conto {v}.", "IBAN: {v}"],
    },
    "SWIFT_BIC": {
        "en": ["The SWIFT code is {v}.", "BIC: {v}", "Use SWIFT/BIC {v} for the wire."],
        "de": ["BIC: {v}", "Der BIC lautet {v}."],
        "fr": ["Code BIC : {v}", "BIC {v}"],
        "es": ["Código SWIFT: {v}", "BIC {v}"],
        "it": ["Codice BIC: {v}", "SWIFT {v}"],
    },
    "IP_ADDRESS": {
        "en": ["Login from {v} was blocked.", "Server IP: {v}", "{name} connected from {v}."],
        "de": ["Anmeldung von {v} blockiert.", "IP-Adresse: {v}"],
        "fr": ["Connexion depuis {v} refusée.", "Adresse IP : {v}"],
        "es": ["Acceso desde {v} bloqueado.", "Dirección IP: {v}"],
        "it": ["Accesso da {v} bloccato.", "Indirizzo IP: {v}"],
    },
    "MAC_ADDRESS": {
        "en": ["Device MAC {v} joined the network.", "Hardware address: {v}"],
        "de": ["Gerät mit MAC {v} verbunden."],
        "fr": ["Adresse MAC : {v}"],
        "es": ["Dirección MAC: {v}"],
        "it": ["Indirizzo MAC: {v}"],
    },
    "GPS_COORDINATES": {
        "en": ["Meet me at {v}.", "Coordinates: {v}", "The package was dropped at {v}."],
        "de": ["Treffpunkt: {v}", "Koordinaten: {v}"],
        "fr": ["Rendez-vous à {v}.", "Coordonnées : {v}"],
        "es": ["Nos vemos en {v}.", "Coordenadas: {v}"],
        "it": ["Ci vediamo a {v}.", "Coordinate: {v}"],
    },
    "DATE_OF_BIRTH": {
        "en": ["Date of birth: {v}", "I was born on {v}.", "DOB {v}", "{name}, born {v}, applied."],
        "de": ["Geburtsdatum: {v}", "{name}, geboren am {v}."],
        "fr": ["Date de naissance : {v}", "{name}, né le {v}."],
        "es": ["Fecha de nacimiento: {v}", "{name}, nacido el {v}."],
        "it": ["Data di nascita: {v}", "{name}, nato il {v}."],
    },
    "ADDRESS": {
        "en": ["I live at {v}.", "Ship it to {v}, please.", "Our office is at {v}."],
        "de": ["Ich wohne in der {v}.", "Adresse: {v}", "Lieferung an {v}."],
        "fr": ["J'habite au {v}.", "Adresse : {v}", "Livraison au {v}."],
        "es": ["Vivo en {v}.", "Dirección: {v}", "Envío a {v}."],
        "it": ["Abito in {v}.", "Indirizzo: {v}", "Consegna in {v}."],
    },
    "PASSPORT": {
        "en": ["Passport number: {v}", "My passport no. is {v}.", "{name} travels on passport {v}."],
        "de": ["Reisepassnummer: {v}", "Mein Reisepass hat die Nummer {v}."],
        "fr": ["Numéro de passeport : {v}", "Passeport n° {v}"],
        "es": ["Número de pasaporte: {v}", "Pasaporte {v}"],
        "it": ["Numero di passaporto: {v}", "Passaporto {v}"],
    },
    "US_SSN": {"en": ["My SSN is {v}.", "Social Security Number: {v}", "{name}'s social security number is {v}."]},
    "US_ITIN": {"en": ["ITIN: {v}", "Her taxpayer identification number is {v}."]},
    "US_EIN": {"en": ["EIN: {v}", "Our employer identification number is {v}."]},
    "ABA_ROUTING": {"en": ["Routing number: {v}", "ABA {v} for direct deposit."]},
    "DRIVERS_LICENSE": {"en": ["Driver's license number: {v}", "DL# {v}"]},
    "US_NPI": {"en": ["Provider NPI: {v}", "Dr. {name}, NPI {v}"]},
    "US_DEA": {"en": ["DEA number: {v}", "Prescriber {name} (DEA {v})"]},
    "MEDICAL_RECORD_NUMBER": {"en": ["MRN: {v}", "Patient ID {v} was admitted.", "Medical record number {v}"]},
    "UK_NINO": {"en": ["My National Insurance number is {v}.", "NI number: {v}", "NINO {v}"]},
    "UK_NHS": {"en": ["NHS number: {v}", "Her NHS number is {v}."]},
    "POSTAL_CODE": {"en": ["Postcode: {v}", "The postal code is {v}.", "{name}, {v}"]},
    "DE_TAX_ID": {"de": ["Steuer-ID: {v}", "Meine Steueridentifikationsnummer lautet {v}."]},
    "DE_ID_CARD": {"de": ["Ausweisnummer: {v}", "Personalausweis-Nr. {v}", "Ausweis {v} liegt vor."]},
    "FR_NIR": {"fr": ["Numéro de sécurité sociale : {v}", "Mon NIR est {v}.", "{name}, n° SS {v}"]},
    "ES_NIF": {"es": ["Mi DNI es {v}.", "NIF: {v}", "{name} ({v})"]},
    "ES_NIE": {"es": ["NIE: {v}", "Mi número de extranjero es {v}."]},
    "IT_FISCAL_CODE": {"it": ["Codice fiscale: {v}", "Il mio codice fiscale è {v}.", "{name}, CF {v}"]},
    "IT_VAT": {"it": ["Partita IVA: {v}", "P.IVA {v}"]},
    "IN_AADHAAR": {"en": ["Aadhaar number: {v}", "My Aadhaar is {v}.", "UID {v}"]},
    "IN_PAN": {"en": ["PAN: {v}", "My PAN card number is {v}."]},
    "CA_SIN": {"en": ["SIN: {v}", "My social insurance number is {v}."]},
    "PASSWORD": {
        "en": ["My password is {v}", "password: {v}", "Login with user {name} and password {v}"],
        "de": ["Das Passwort lautet {v}", "Passwort: {v}"],
        "fr": ["Le mot de passe est {v}", "Mot de passe : {v}"],
        "es": ["La contraseña es {v}", "Contraseña: {v}"],
        "it": ["La password è {v}", "Password: {v}"],
    },
    "AWS_ACCESS_KEY_ID": {"en": ["aws_access_key_id = {v}", "The key {v} was leaked."]},
    "API_KEY": {"en": ["OPENAI_API_KEY={v}", "use the key {v} for the demo"]},
    "ACCESS_TOKEN": {"en": ["export GITHUB_TOKEN={v}", "token {v} pushed to the repo"]},
    "JWT": {"en": ["Authorization: Bearer {v}", "session={v}", "The token {v} expired."]},
    "CONNECTION_STRING": {"en": ["DATABASE_URL={v}", "connect with {v}"]},
}

# PII-free sentences with numbers that resemble identifiers (false-positive bait).
NEGATIVE_TEMPLATES = [
    "The order total was {price} for {qty} items.",
    "Meeting on {date} at {time} in room {room}.",
    "Version {version} was released on {date}.",
    "Invoice #{invoice} is due in {qty} days.",
    "The temperature reached {temp} degrees at {time}.",
    "See chapter {qty}, page {page}.",
    "ISBN {isbn}",
    "Tracking code {uuid}",
    "Product EAN {ean}",
    "Build {build} passed {qty} of {qty2} tests in {secs} s.",
    "Population grew by {pct}% to {population}.",
    "Call back in {qty} minutes.",
    "Score {price} to {qty}; attendance {population}.",
    "Order number {order} shipped.",
    "Reference {ref}",
]


@dataclass(frozen=True)
class Doc:
    locale: str
    text: str
    gold: tuple[tuple[str, int, int], ...]


def _embed(fake: Faker, rng: random.Random, entity: str, value: str, lang: str, bare: bool = False) -> Doc:
    table = TEMPLATES[entity]
    templates = table.get(lang) or table.get("en") or next(iter(table.values()))
    template = rng.choice(templates)
    if bare:  # no cue words at all: shows which entity types depend on context
        template = "{name}: {v}"
    before, after = template.split("{v}", 1)
    name = str(fake.name())
    before, after = before.replace("{name}", name), after.replace("{name}", name)
    lead = str(fake.sentence()) + " " if rng.random() < 0.7 else ""
    tail = " " + str(fake.sentence()) if rng.random() < 0.7 else ""
    text = lead + before + value + after + tail
    start = len(lead) + len(before)
    return Doc(str(fake.locales[0]), text, ((entity, start, start + len(value)),))


def _negative(fake: Faker, rng: random.Random) -> str:
    template = rng.choice(NEGATIVE_TEMPLATES)
    values = {
        "price": f"{rng.uniform(1, 5000):.2f}",
        "qty": str(rng.randint(1, 400)),
        "qty2": str(rng.randint(400, 900)),
        "date": fake.date(),
        "time": fake.time(),
        "room": str(rng.randint(100, 999)),
        "version": f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}",
        "invoice": str(rng.randint(10_000, 9_999_999)),
        "temp": f"{rng.uniform(-20, 45):.1f}",
        "page": str(rng.randint(1, 900)),
        "isbn": fake.isbn13(),
        "uuid": fake.uuid4(),
        "ean": fake.ean13(),
        "build": str(rng.randint(1000, 99999)),
        "secs": f"{rng.uniform(0.1, 900):.2f}",
        "pct": f"{rng.uniform(0, 30):.1f}",
        "population": f"{rng.randint(1000, 99_000_000):,}",
        "order": str(rng.randint(1_000_000, 99_999_999)),
        "ref": fake.bothify("??-####-??").upper(),
    }
    return " ".join([str(fake.paragraph(nb_sentences=3)), template.format(**values)])


# Faker values that fail their check on purpose: they must not be reported as that entity.
def _invalid_samples(seed: int, n: int) -> list[tuple[str, str]]:
    samples: list[tuple[str, str]] = []
    gb, india = Faker("en_GB"), Faker("en_IN")
    gb.seed_instance(seed)
    india.seed_instance(seed)
    for _ in range(n):
        samples.append(("UK_NINO", f"My National Insurance number is {gb.ssn()}."))
        aadhaar = str(india.aadhaar_id())
        if not VALIDATORS["verhoeff"](aadhaar):
            samples.append(("IN_AADHAAR", f"Aadhaar number: {aadhaar}"))
        iban = str(india.iban())
        if not VALIDATORS["iban"](iban):
            samples.append(("IBAN", f"IBAN {iban}"))
    return samples


def build_corpus(per_entity: int, negatives: int, seed: int = SEED, bare: bool = False) -> tuple[list[Doc], list[str]]:
    # Some Faker providers (es_ES nif/nie) draw from the global `random`: seed it too, then restore it.
    state = random.getstate()
    random.seed(seed)
    try:
        return _build_corpus(per_entity, negatives, seed, bare)
    finally:
        random.setstate(state)


def _build_corpus(per_entity: int, negatives: int, seed: int, bare: bool) -> tuple[list[Doc], list[str]]:
    rng = random.Random(seed)
    fakers: dict[str, Faker] = {}
    for index, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed + index)
        fakers[locale] = fake
    docs: list[Doc] = []
    for entity, (locales, gen) in GENERATORS.items():
        for i in range(per_entity):
            locale = locales[i % len(locales)]
            fake = fakers[locale]
            docs.append(_embed(fake, rng, entity, gen(fake, rng), LOCALES[locale], bare))
    negative_texts = [
        _negative(fakers[loc], rng) for i in range(negatives) for loc in [list(LOCALES)[i % len(LOCALES)]]
    ]
    return docs, negative_texts


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


# One finding as the scorer sees it: (entity, start, end, label for examples).
Hit = tuple[str, int, int, str]


def score_findings(docs: list[Doc], texts: list[str], hits: list[list[Hit]]) -> dict[str, dict[str, Any]]:
    """Span-overlap precision/recall per entity (see module docstring). `texts` = docs then negatives."""
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    support: dict[str, int] = defaultdict(int)
    fp_examples: dict[str, list[str]] = defaultdict(list)
    fn_examples: dict[str, list[str]] = defaultdict(list)
    for index, findings in enumerate(hits):
        gold = docs[index].gold if index < len(docs) else ()
        for entity, g0, g1 in gold:
            support[entity] += 1
            accepted = {entity} | ALIASES.get(entity, set())
            if any(e in accepted and _overlaps(s, t, g0, g1) for e, s, t, _ in findings):
                tp[entity] += 1
            else:
                fn[entity] += 1
                if len(fn_examples[entity]) < 5:
                    fn_examples[entity].append(texts[index])
        for entity, start, end, label in findings:
            if any(
                (e == entity or entity in ALIASES.get(e, set())) and _overlaps(start, end, g0, g1) for e, g0, g1 in gold
            ):
                continue
            fp[entity] += 1
            if len(fp_examples[entity]) < 5:
                fp_examples[entity].append(f"{label} {texts[index][start:end]!r} in {texts[index][:160]!r}")

    stats: dict[str, dict[str, Any]] = {}
    for entity in sorted(set(support) | set(fp)):
        found, wrong, missed = tp[entity], fp[entity], fn[entity]
        precision = found / (found + wrong) if found + wrong else (1.0 if support[entity] else 0.0)
        recall = found / (found + missed) if found + missed else 0.0
        stats[entity] = {
            "support": support[entity],
            "tp": found,
            "fp": wrong,
            "fn": missed,
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "fp_examples": fp_examples[entity],
            "fn_examples": fn_examples[entity],
        }
    return stats


def pii_quality(
    per_entity: int = 120,
    negatives: int = 800,
    seed: int = SEED,
    detector: Detector | None = None,
    bare: bool = False,
    corpus: tuple[list[Doc], list[str]] | None = None,
) -> dict[str, Any]:
    """Per-entity precision/recall through `Detector` on Faker text (see module docstring).

    `bare=True` drops every cue word ("{name}: {value}") to show which entity types need context.
    `corpus` reuses a corpus from `build_corpus` (e.g. to compare engines on identical documents)."""
    detector = detector or Detector.default()
    docs, negative_texts = corpus if corpus is not None else build_corpus(per_entity, negatives, seed, bare)
    texts = [d.text for d in docs] + negative_texts
    t0 = time.perf_counter()
    results = detector.scan_many(texts)
    elapsed = time.perf_counter() - t0
    hits = [
        [(str(f.entity), f.start, f.end, f.pattern_id) for f in r.findings if f.kind in ("pii", "secret") and f.entity]
        for r in results
    ]
    per_entity_stats = score_findings(docs, texts, hits)

    invalid = _invalid_samples(seed, max(per_entity // 2, 10))
    rejected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (entity, _text), result in zip(invalid, detector.scan_many([t for _, t in invalid]), strict=True):
        rejected[entity][1] += 1
        if not any(f.entity == entity for f in result.findings):
            rejected[entity][0] += 1

    # Hard negatives: random digit strings (6-19 digits) used as order numbers. A share of them passes
    # a check digit by chance (Luhn: 1 in 10), which no pattern can tell apart from a real card.
    id_rng = random.Random(seed)
    random_ids = [
        "Order number " + str(id_rng.randint(1, 9)) + "".join(id_rng.choices(string.digits, k=length - 1)) + " shipped."
        for length in range(6, 20)
        for _ in range(max(per_entity // 2, 10))
    ]
    random_flagged: dict[str, int] = defaultdict(int)
    flagged_docs = 0
    for result in detector.scan_many(random_ids):
        entities = {str(f.entity) for f in result.findings if f.kind in ("pii", "secret") and f.entity}
        flagged_docs += bool(entities)
        for entity in entities:
            random_flagged[entity] += 1

    return {
        "random_ids": {"documents": len(random_ids), "flagged": flagged_docs, "by_entity": dict(random_flagged)},
        "engine": detector.engine,
        "seed": seed,
        "bare": bare,
        "locales": list(LOCALES),
        "documents": len(docs),
        "negative_documents": len(negative_texts),
        "scan_seconds": round(elapsed, 3),
        "entities": per_entity_stats,
        "checksum_rejections": {e: {"rejected": r, "total": t} for e, (r, t) in sorted(rejected.items())},
    }


# Presidio entity names -> ours, for the entity types both sides cover.
PRESIDIO_ENTITIES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "MAC_ADDRESS": "MAC_ADDRESS",
    "US_SSN": "US_SSN",
    "US_ITIN": "US_ITIN",
    "ABA_ROUTING_NUMBER": "ABA_ROUTING",
    "US_PASSPORT": "PASSPORT",
    "UK_PASSPORT": "PASSPORT",
    "ES_PASSPORT": "PASSPORT",
    "IT_PASSPORT": "PASSPORT",
    "DE_PASSPORT": "PASSPORT",
    "IN_PASSPORT": "PASSPORT",
    "US_DRIVER_LICENSE": "DRIVERS_LICENSE",
    "UK_NHS": "UK_NHS",
    "UK_NINO": "UK_NINO",
    "UK_POSTCODE": "POSTAL_CODE",
    "CA_POSTAL_CODE": "POSTAL_CODE",
    "CA_SIN": "CA_SIN",
    "ES_NIF": "ES_NIF",
    "ES_NIE": "ES_NIE",
    "IT_FISCAL_CODE": "IT_FISCAL_CODE",
    "IT_VAT_CODE": "IT_VAT",
    "IN_AADHAAR": "IN_AADHAAR",
    "IN_PAN": "IN_PAN",
    "DE_TAX_ID": "DE_TAX_ID",
    "DE_ID_CARD": "DE_ID_CARD",
    "US_NPI": "US_NPI",
    "MEDICAL_LICENSE": "US_DEA",
}


def presidio_quality(
    per_entity: int = 120, negatives: int = 800, seed: int = SEED, min_score: float = 0.0
) -> dict[str, Any]:
    """The same corpus through Presidio's predefined recognizers that need no NLP model (pattern
    recognizers plus the phonenumbers-based PhoneRecognizer), scored on the shared entity types."""
    import logging

    import presidio_analyzer.predefined_recognizers as predefined

    # The e-mail recognizer's tldextract tries to download the public-suffix list; offline it falls back
    # to its bundled snapshot after logging a traceback.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)

    recognizers = []
    for name in dir(predefined):
        if not name.endswith("Recognizer"):
            continue
        try:
            recognizer = getattr(predefined, name)()
        except Exception:  # recognizers that need a model, a service or an optional package
            continue
        entities = [e for e in recognizer.supported_entities if e in PRESIDIO_ENTITIES]
        if entities:
            recognizers.append((recognizer, entities))
    docs, negative_texts = build_corpus(per_entity, negatives, seed)
    texts = [d.text for d in docs] + negative_texts
    t0 = time.perf_counter()
    hits: list[list[Hit]] = []
    for text in texts:
        found: list[Hit] = []
        for recognizer, entities in recognizers:
            for r in recognizer.analyze(text, entities, None) or []:
                if r.score >= min_score:
                    found.append((PRESIDIO_ENTITIES[r.entity_type], r.start, r.end, r.entity_type))
        hits.append(found)
    elapsed = time.perf_counter() - t0
    shared = set(PRESIDIO_ENTITIES.values())
    stats = {e: v for e, v in score_findings(docs, texts, hits).items() if e in shared}
    return {
        "engine": "presidio",
        "min_score": min_score,
        "seed": seed,
        "scan_seconds": round(elapsed, 3),
        "entities": stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--per-entity", type=int, default=120)
    parser.add_argument("--negatives", type=int, default=800)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--engine", choices=["auto", "hyperscan", "re2"], default="auto")
    parser.add_argument("--bare", action="store_true", help="values without cue words ('{name}: {value}')")
    parser.add_argument("--presidio", action="store_true", help="also score Presidio's pattern recognizers")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--examples", action="store_true", help="print up to 5 FP/FN examples per entity")
    args = parser.parse_args(argv)
    detector = Detector(config=DetectorConfig(engine=args.engine))
    report = pii_quality(args.per_entity, args.negatives, args.seed, detector=detector, bare=args.bare)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(
        f"engine={report['engine']} seed={report['seed']} documents={report['documents']} "
        f"negatives={report['negative_documents']} scan={report['scan_seconds']}s"
    )
    print(f"{'entity':24} {'support':>7} {'tp':>5} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7}")
    below = []
    for entity, s in report["entities"].items():
        flag = "" if s["precision"] >= 0.95 and s["recall"] >= 0.95 else "  < 95%"
        if flag:
            below.append(entity)
        print(
            f"{entity:24} {s['support']:7d} {s['tp']:5d} {s['fp']:4d} {s['fn']:4d} "
            f"{s['precision']:9.3f} {s['recall']:7.3f}{flag}"
        )
        if args.examples:
            for example in s["fp_examples"]:
                print(f"    FP {example}")
            for example in s["fn_examples"]:
                print(f"    FN {example!r}")
    ids = report["random_ids"]
    print(
        f"random 6-19 digit order numbers reported as PII: {ids['flagged']}/{ids['documents']} "
        f"({ids['flagged'] / max(ids['documents'], 1):.1%}) {ids['by_entity']}"
    )
    for entity, r in report["checksum_rejections"].items():
        print(f"invalid Faker {entity}: {r['rejected']}/{r['total']} correctly not reported")
    print("all entities >= 95% precision and recall" if not below else f"below target: {', '.join(below)}")
    if args.presidio:
        low = presidio_quality(args.per_entity, args.negatives, args.seed, min_score=0.0)
        high = presidio_quality(args.per_entity, args.negatives, args.seed, min_score=0.5)
        print(f"\nPresidio pattern recognizers (no NLP model), same corpus, scan={low['scan_seconds']}s")
        print(f"{'entity':24} {'shieldstorm P/R':>16} {'presidio P/R score>=0':>22} {'score>=0.5':>12}")
        for entity, b in low["entities"].items():
            ours = report["entities"].get(entity, {"precision": 0.0, "recall": 0.0})
            h = high["entities"].get(entity, {"precision": 0.0, "recall": 0.0})
            print(
                f"{entity:24} {ours['precision']:10.3f}/{ours['recall']:.3f} "
                f"{b['precision']:16.3f}/{b['recall']:.3f} {h['precision']:6.3f}/{h['recall']:.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
