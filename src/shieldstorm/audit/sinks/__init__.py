"""Sinks that ship audit events to SIEMs: JSON lines files, syslog (RFC 5424 over UDP/TCP), HTTP webhooks
(generic JSON or Splunk HEC), with CEF, syslog and JSON-lines formatters."""

from shieldstorm.audit.sinks.formatters import (
    FORMATS,
    SyslogFormatter,
    format_cef,
    format_jsonl,
    format_syslog,
    formatter,
)

__all__ = ["FORMATS", "SyslogFormatter", "format_cef", "format_jsonl", "format_syslog", "formatter"]
