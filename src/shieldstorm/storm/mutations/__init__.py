"""Deterministic, offline prompt mutations (an LLM is optional, never required)."""

from shieldstorm.storm.mutations.base import Message, Mutation, MutationContext, Mutator

__all__ = ["Message", "Mutation", "MutationContext", "Mutator"]
