"""The pattern-detection engine shared by Storm and Shield."""

from shieldstorm.detect.config import DetectorConfig
from shieldstorm.detect.detector import Detector
from shieldstorm.detect.models import Finding, Kind, Redaction, Replacement, ScanResult, Severity, Verdict
from shieldstorm.detect.redact import RedactionVault

__all__ = [
    "Detector",
    "DetectorConfig",
    "Finding",
    "Kind",
    "Redaction",
    "RedactionVault",
    "Replacement",
    "ScanResult",
    "Severity",
    "Verdict",
]
