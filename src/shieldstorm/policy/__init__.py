"""Rego policies for the Shield: engine, bundles, signing, activation history, hot reload, shadow mode."""

from shieldstorm.policy.engine import PolicyDecision, PolicyEngine
from shieldstorm.policy.holder import PolicyHolder

__all__ = ["PolicyDecision", "PolicyEngine", "PolicyHolder"]
