"""Deterministic, offline prompt mutations (an LLM is optional, never required)."""

from shieldstorm.storm.mutations import registry
from shieldstorm.storm.mutations.base import Message, Mutation, MutationContext, Mutator
from shieldstorm.storm.mutations.describe import MutatorInfo, describe
from shieldstorm.storm.mutations.generate import agenerate, generate
from shieldstorm.storm.mutations.leaks import forbidden_hits, forbidden_strings
from shieldstorm.storm.mutations.llm import LLMSettings

__all__ = [
    "LLMSettings",
    "Message",
    "Mutation",
    "MutationContext",
    "Mutator",
    "MutatorInfo",
    "agenerate",
    "describe",
    "forbidden_hits",
    "forbidden_strings",
    "generate",
    "registry",
]
