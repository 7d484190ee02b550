"""Errors that reach a user as one clear line (CLI exit code 2, HTTP 4xx), never as a traceback."""

from __future__ import annotations


class ShieldStormError(Exception):
    """Base class: the message is shown to the user as-is, on one line."""

    exit_code = 2


class InputError(ShieldStormError):
    """The user's input (text, file, request body) is unusable: too large, not UTF-8, malformed."""


class ConfigError(ShieldStormError):
    """A configuration file or value is invalid; the message names the key's path."""


class ServiceUnavailableError(ShieldStormError):
    """A required external service (LLM endpoint, database) cannot be reached."""


class ScanError(ShieldStormError):
    """The detection engine could not complete a scan. Never read as "no findings": callers block
    (fail closed)."""
