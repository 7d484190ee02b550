"""`python -m shieldstorm.storm.example_agent --port 8765`: serve HelpBot over HTTP with uvicorn.

`--stdin` answers one request read from standard input instead (a prompt, or JSON `{"messages": [...]}`),
for Storm's subprocess adapter.
"""

from __future__ import annotations

import argparse
import json
import sys

from shieldstorm.errors import ShieldStormError


def answer_stdin(raw: str) -> str:
    """HelpBot's answer to one stdin request: JSON with `messages`, or plain prompt text."""
    from shieldstorm.storm.example_agent import respond

    stripped = raw.strip()
    if stripped.startswith("{"):
        try:
            payload = json.loads(stripped)
        except json.JSONDecodeError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("messages"), list):
            return respond(payload["messages"])
    return respond([{"role": "user", "content": raw.rstrip("\n")}])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fragile HelpBot example agent (OpenAI-compatible).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--stdin", action="store_true", help="answer one request from stdin and exit")
    args = parser.parse_args(argv)
    if args.stdin:
        try:
            sys.stdout.write(answer_stdin(sys.stdin.read()) + "\n")
        except ShieldStormError as exc:
            sys.stderr.write(f"error: {exc}\n")
            raise SystemExit(exc.exit_code) from None
        return

    import uvicorn

    from shieldstorm.storm.example_agent import create_app

    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
