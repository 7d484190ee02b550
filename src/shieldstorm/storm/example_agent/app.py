"""HelpBot over HTTP: an OpenAI-compatible chat completions endpoint (with `stream: true` SSE)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from shieldstorm.errors import InputError
from shieldstorm.storm.example_agent.bot import ContextLengthExceeded, plan_tool_call, respond

MODEL = "helpbot-1"
MAX_BODY_BYTES = 1_000_000


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "code": code}}, status)


def _completion_id(messages: list[dict[str, Any]]) -> str:
    # Deterministic per conversation, so identical requests get identical responses.
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    return f"chatcmpl-{digest[:24]}"


async def _read_request(request: Request) -> tuple[list[dict[str, Any]], bool, str, list[Any]] | JSONResponse:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"request body exceeds {MAX_BODY_BYTES} bytes", "body_too_large")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "request body is not valid JSON", "invalid_json")
    if not isinstance(payload, dict):
        return _error(400, "request body must be a JSON object", "invalid_request")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        return _error(400, "'messages' must be a list of {role, content} objects", "invalid_messages")
    tools = payload.get("tools") or []
    if not isinstance(tools, list):
        return _error(400, "'tools' must be a list", "invalid_tools")
    return messages, bool(payload.get("stream", False)), str(payload.get("model") or MODEL), tools


async def chat_completions(request: Request) -> Response:
    parsed = await _read_request(request)
    if isinstance(parsed, JSONResponse):
        return parsed
    messages, stream, model, tools = parsed
    try:
        tool_call = plan_tool_call(messages, tools)
        answer = "" if tool_call is not None else respond(messages)
    except ContextLengthExceeded as exc:
        return _error(400, str(exc), "context_length_exceeded")
    except InputError as exc:
        return _error(400, str(exc), "invalid_messages")
    completion_id = _completion_id(messages)
    created = int(time.time())
    if stream:
        chunks = _stream(completion_id, created, model, answer, tool_call)
        return StreamingResponse(chunks, media_type="text/event-stream")
    message: dict[str, Any] = {"role": "assistant", "content": answer}
    finish = "stop"
    if tool_call is not None:
        message = {"role": "assistant", "content": None, "tool_calls": [tool_call]}
        finish = "tool_calls"
    prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
    completion_tokens = len(answer.split())
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


async def _stream(
    completion_id: str, created: int, model: str, answer: str, tool_call: dict[str, Any] | None
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant"}, None)
    if tool_call is not None:
        yield chunk({"tool_calls": [{"index": 0, **tool_call}]}, None)
        yield chunk({}, "tool_calls")
        yield "data: [DONE]\n\n"
        return
    # Word-sized pieces, like a model's tokens; joined they are exactly the answer.
    words = answer.split(" ")
    for index, word in enumerate(words):
        yield chunk({"content": word if index == 0 else " " + word}, None)
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "model": MODEL})


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "shieldstorm"}]})


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
