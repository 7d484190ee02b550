"""Mutation packs: named selections and parametrisations of mutation types (YAML in this package)."""

from shieldstorm.storm.packs.loader import Pack, list_packs, load_pack

__all__ = ["Pack", "list_packs", "load_pack"]
