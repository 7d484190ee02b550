"""Sinks that ship audit events to SIEMs: JSON lines files, syslog (RFC 5424 over UDP/TCP), HTTP webhooks
(generic JSON or Splunk HEC), with CEF, syslog and JSON-lines formatters; retries with backoff and full jitter."""

from shieldstorm.audit.sinks.base import RetryPolicy, Sink, SinkEntry, SinkError
from shieldstorm.audit.sinks.file import FileSink, JsonLinesSink
from shieldstorm.audit.sinks.formatters import (
    FORMATS,
    SyslogFormatter,
    format_cef,
    format_jsonl,
    format_syslog,
    formatter,
)
from shieldstorm.audit.sinks.forward import forward
from shieldstorm.audit.sinks.syslog import SyslogSink
from shieldstorm.audit.sinks.webhook import WebhookSink

__all__ = [
    "FORMATS",
    "FileSink",
    "JsonLinesSink",
    "RetryPolicy",
    "Sink",
    "SinkEntry",
    "SinkError",
    "SyslogFormatter",
    "SyslogSink",
    "WebhookSink",
    "format_cef",
    "format_jsonl",
    "format_syslog",
    "formatter",
    "forward",
]
