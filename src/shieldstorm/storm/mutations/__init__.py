"""Deterministic, offline prompt mutations (an LLM is optional, never required)."""

from shieldstorm.storm.mutations import registry
from shieldstorm.storm.mutations.base import Message, Mutation, MutationContext, Mutator
from shieldstorm.storm.mutations.generate import generate

__all__ = ["Message", "Mutation", "MutationContext", "Mutator", "generate", "registry"]
