"""The bundled example agent: HelpBot, a fragile rule-based support bot (callable and HTTP app).

Use it as a Python callable (`shieldstorm.storm.example_agent:respond`) or over HTTP with
`python -m shieldstorm.storm.example_agent --port 8765` (OpenAI-compatible `/v1/chat/completions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shieldstorm.storm.example_agent.bot import ContextLengthExceeded, arespond, canary, respond, system_prompt

if TYPE_CHECKING:
    from starlette.applications import Starlette


def create_app() -> Starlette:
    """The OpenAI-compatible ASGI app (imported lazily so the callable needs no web stack)."""
    from shieldstorm.storm.example_agent.app import create_app as _create_app

    return _create_app()


__all__ = ["ContextLengthExceeded", "arespond", "canary", "create_app", "respond", "system_prompt"]
