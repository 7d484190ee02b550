"""The pattern-detection engine shared by Storm and Shield."""

from shieldstorm.detect.models import Finding, Kind, ScanResult, Severity, Verdict

__all__ = ["Finding", "Kind", "ScanResult", "Severity", "Verdict"]
