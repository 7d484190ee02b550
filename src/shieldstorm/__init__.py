"""ShieldStorm: test AI agents before you ship (Storm) and protect them in production (Shield)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Detector", "DetectorConfig", "RedactionVault", "ScanResult", "__version__"]

if TYPE_CHECKING:
    from shieldstorm.detect import Detector, DetectorConfig, RedactionVault, ScanResult


def __getattr__(name: str) -> Any:
    # Lazy so that `import shieldstorm` (e.g. for the CLI's --help) does not compile the pattern database.
    if name in {"Detector", "DetectorConfig", "RedactionVault", "ScanResult"}:
        from shieldstorm import detect

        return getattr(detect, name)
    raise AttributeError(name)
