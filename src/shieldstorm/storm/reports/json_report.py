"""The JSON report: the complete `StormRun`, readable back by `storm report` without loss."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from shieldstorm.errors import InputError
from shieldstorm.storm.models import StormRun


def to_json(run: StormRun) -> str:
    return run.model_dump_json(indent=2) + "\n"


def write_json(run: StormRun, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(run), encoding="utf-8")
    return path


def from_json(text: str, source: str = "<json>") -> StormRun:
    try:
        return StormRun.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise InputError(f"{source}: not a storm JSON report ({where}: {first['msg']})") from None


def read_json(path: Path) -> StormRun:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    try:
        json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path}: invalid JSON: {exc}") from None
    return from_json(text, str(path))
