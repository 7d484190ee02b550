"""`shieldstorm scan`: scan a text, a file, stdin, or a JSONL stream for injections, PII and secrets."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console

from shieldstorm.errors import InputError, ShieldStormError

PatternsOpt = Annotated[
    list[Path] | None,
    typer.Option("--patterns", "-p", help="Extra pattern directory (repeatable); may override or disable built-ins."),
]


def _read_all(stream: IO[bytes], limit_chars: int, label: str) -> bytes:
    # UTF-8 needs at most 4 bytes per character: never read more than the cap can accept.
    limit = limit_chars * 4
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{label} is larger than the input limit of {limit_chars:,} characters (--max-input-chars)")
    return data


def _exit_code(verdicts: set[str]) -> int:
    return 1 if verdicts & {"review", "block"} else 0


def scan(
    text: Annotated[str | None, typer.Argument(help='Text to scan, or "-" for standard input.')] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Scan this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    jsonl: Annotated[
        bool,
        typer.Option("--jsonl", help="Batch: one input per line (JSON object with `text`, or a plain line)."),
    ] = False,
    patterns: PatternsOpt = None,
    no_builtins: Annotated[bool, typer.Option("--no-builtins", help="Only use --patterns directories.")] = False,
    engine: Annotated[str, typer.Option(help="Matcher: auto, hyperscan or re2.")] = "auto",
    max_input_chars: Annotated[int, typer.Option(help="Largest input accepted (characters).", min=1)] = 1_000_000,
) -> None:
    """Scan text for prompt injection, jailbreaks, PII and secrets. Exit 0 allow, 1 review/block, 2 error."""
    from shieldstorm.detect.cli_support import build_detector, print_result

    if engine not in ("auto", "hyperscan", "re2"):
        raise InputError(f"unknown engine {engine!r}; use auto, hyperscan or re2")
    sources = sum(x is not None for x in (text, file))
    if sources != 1:
        raise InputError('give exactly one input: TEXT, "-" (stdin) or --file F')
    if as_json and jsonl:
        raise InputError("--json and --jsonl are exclusive")
    detector = build_detector(
        patterns,
        builtins=not no_builtins,
        engine=engine,
        max_input_chars=None if max_input_chars == 1_000_000 else max_input_chars,
    )

    if jsonl:
        if file is not None:
            try:
                with file.open("rb") as fh:
                    code = _scan_jsonl(detector, fh)
            except OSError as exc:
                raise InputError(f"cannot read {file}: {exc.strerror}") from None
        elif text == "-":
            code = _scan_jsonl(detector, sys.stdin.buffer)
        else:
            raise InputError('--jsonl reads a stream: use "-" (stdin) or --file F')
        raise typer.Exit(code)

    if file is not None:
        try:
            with file.open("rb") as fh:
                data: bytes | str = _read_all(fh, detector.config.max_input_chars, str(file))
        except OSError as exc:
            raise InputError(f"cannot read {file}: {exc.strerror}") from None
    elif text == "-":
        data = _read_all(sys.stdin.buffer, detector.config.max_input_chars, "standard input")
    else:
        assert text is not None
        data = text
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"input is not valid UTF-8 (bad byte at offset {exc.start})") from None
    result = detector.scan(data)
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        print_result(Console(), result, source=data)
    raise typer.Exit(_exit_code({result.verdict.value}))


def _scan_jsonl(detector: object, stream: IO[bytes]) -> int:
    """Stream: read one line, write one result line, flush. Memory stays constant for any line count."""
    from shieldstorm.detect.detector import Detector

    assert isinstance(detector, Detector)
    out = sys.stdout
    verdicts: set[str] = set()
    errors = 0
    limit = detector.config.max_input_chars * 4
    for lineno, line, too_long in _lines(stream, limit):
        try:
            if too_long:
                raise InputError(f"line {lineno} is larger than the input limit")
            try:
                decoded = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"line {lineno} is not valid UTF-8 (bad byte at offset {exc.start})") from None
            item = _jsonl_text(decoded)
            result = detector.scan(item)
            verdicts.add(result.verdict.value)
            out.write(result.model_dump_json())
        except ShieldStormError as exc:
            errors += 1
            out.write(json.dumps({"error": str(exc), "line": lineno}))
        out.write("\n")
        out.flush()
    if errors:
        # The per-line errors are in the output stream (in order); one line on stderr says why the exit code is 2.
        sys.stderr.write(
            f"error: {errors} input line(s) could not be scanned (see the \"error\" lines in the output)\n"
        )
        return 2
    return _exit_code(verdicts)


def _lines(stream: IO[bytes], limit: int) -> Iterator[tuple[int, bytes, bool]]:
    """Lines without their newline; an over-long line is skipped in chunks, never held in memory."""
    lineno = 0
    while True:
        raw = stream.readline(limit + 2)
        if not raw:
            return
        lineno += 1
        too_long = False
        while not raw.endswith(b"\n") and len(raw) > limit:
            too_long = True
            raw = stream.readline(limit + 2)
            if not raw:
                break
        yield lineno, (b"" if too_long else raw.rstrip(b"\r\n")), too_long


def _jsonl_text(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError:
            return line  # not JSON after all: scan the line as plain text
        if isinstance(obj, dict):
            value = obj.get("text")
            if not isinstance(value, str):
                raise InputError("JSON line has no string field `text`")
            return value
    return line


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
