"""`python -m shieldstorm.storm.example_agent --port 8765`: serve HelpBot over HTTP with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from shieldstorm.storm.example_agent import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fragile HelpBot example agent (OpenAI-compatible).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()
