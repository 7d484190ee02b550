from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shieldstorm.audit.canonical import CanonicalJSONError, canonical_json
from shieldstorm.audit.events import AuditEvent, leaf_record


def test_keys_sorted_no_whitespace_utf8() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()


def test_keys_sort_by_utf16_code_units() -> None:
    # U+1F600 is a surrogate pair (0xD83D...) in UTF-16, which sorts before U+FB01 (0xFB01); code points disagree.
    encoded = canonical_json({"\ufb01": 1, "\U0001f600": 2})
    assert encoded == '{"\U0001f600":2,"\ufb01":1}'.encode()


def test_numbers() -> None:
    encoded = canonical_json([1.0, -0.0, 1e21, 1e-7, 0.5, 10**30])
    assert encoded == b"[1,0,1e+21,1e-7,0.5,1000000000000000000000000000000]"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), {1: "x"}, {"a": object()}, "\ud800"])
def test_rejects_what_json_cannot_carry(bad: object) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json(bad)


def test_control_characters_escaped_like_json_stringify() -> None:
    assert canonical_json("a\nb\x01\"\\") == b'"a\\nb\\u0001\\"\\\\"'


def test_event_round_trip_and_rfc3339_utc() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    event = AuditEvent(event_type="shield.decision", timestamp=moment, actor="gw", tenant="t1", data={"x": 1})
    encoded = event.canonical()
    decoded = json.loads(encoded)
    assert decoded["timestamp"] == "2026-01-02T01:04:05.000006Z"
    assert AuditEvent.from_canonical(encoded) == event
    assert AuditEvent.from_canonical(encoded).canonical() == encoded
    assert event.timestamp.tzinfo == UTC


def test_event_validation() -> None:
    with pytest.raises(ValidationError):
        AuditEvent(event_type="Not A Type")
    with pytest.raises(ValidationError):
        AuditEvent(event_type="shield.decision", timestamp=datetime(2026, 1, 1))  # naive
    with pytest.raises(ValidationError):
        AuditEvent.model_validate({"event_type": "shield.decision", "unknown": 1})
    with pytest.raises(CanonicalJSONError):
        AuditEvent(event_type="shield.decision", data={"score": float("nan")}).canonical()


def test_leaf_record_is_canonical() -> None:
    event = AuditEvent(event_type="admin.action", data={"k": "v"})
    record = leaf_record(event.canonical(), 7)
    assert record == canonical_json({"event": json.loads(event.canonical()), "index": 7})


def test_fast_path_gives_the_same_bytes_as_the_exact_encoder() -> None:
    """canonical_json takes the C encoder when it is provably identical; compare it with the exact encoder."""
    from shieldstorm.audit import canonical

    samples = [
        {"b": [1, 2.5, None, True, "x\u2028y\n\x01"], "a": {"z": 0.0001, "y": -123.456}},
        {"k": 1e-5, "n": 3.0},  # exponent / integral floats: exact path
        {"é": 1, "a": "b"},  # non-ASCII key: exact path
        ["\ufb01", 12345678901234567890, {"q": []}],
    ]
    for sample in samples:
        exact: list[str] = []
        canonical._encode(sample, exact)
        assert canonical_json(sample) == "".join(exact).encode()
    event = AuditEvent(event_type="shield.decision", tenant="t", data={"risk": 0.25, "é": [1.0, 2e-9]})
    exact = []
    canonical._encode(event.to_json_dict(), exact)
    assert event.canonical() == "".join(exact).encode()
    assert event.to_json_dict() == event.model_dump()
