"""Storm runner throughput: mutations/s against a local trivial HTTP agent, default concurrency vs 1.

The agent is a minimal ASGI app under uvicorn (httptools, uvloop) in its own process, so the figure measures
Storm (generation, HTTP client, invariant checks, scoring), not the agent. Usage:

    .venv/bin/python bench/storm.py [--golden 20] [--variants 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AGENT = """
import json

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    prompt = json.loads(body)["prompt"]
    reply = json.dumps({"output": "Thanks! Your request (%d chars) is being handled." % len(prompt)}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": reply})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("agent did not start")


async def raw_aiohttp(port: int, total: int, connections: int) -> float:
    """The same number of POSTs with a bare aiohttp session: the ceiling of any aiohttp-based runner here."""
    import json

    import aiohttp

    remaining = [total]
    url = f"http://127.0.0.1:{port}/agent"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                async with session.post(url, data=b'{"prompt": "hello"}') as response:
                    json.loads(await response.read())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return total / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--golden", type=int, default=20)
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine: figures vary)")

    from shieldstorm.storm.config import parse_config
    from shieldstorm.storm.generation import build_mutations
    from shieldstorm.storm.pipeline import run_async
    from shieldstorm.storm.runner import run_storm

    workdir = Path(tempfile.mkdtemp(prefix="storm-bench-"))
    (workdir / "trivial_agent.py").write_text(AGENT, encoding="utf-8")
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "trivial_agent:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--http",
            "httptools",
            "--loop",
            "uvloop",
        ],
        cwd=workdir,
    )
    try:
        wait_for(port)
        config = parse_config(
            {
                "agent": {"type": "http", "url": f"http://127.0.0.1:{port}/agent", "response_path": "output"},
                "golden": [
                    f"Golden question number {i}: where is my order and can I get a refund?" for i in range(args.golden)
                ],
                "mutations": {"variants": args.variants},
                "invariants": [
                    {"type": "output_not_empty"},
                    {"type": "not_contains", "value": "CANARY-1234", "severity": "critical"},
                    {"type": "regex", "pattern": r"request \(\d+ chars\)"},
                    {"type": "latency", "max_ms": 5000},
                ],
                "run": {"baseline": False, "bootstrap_samples": 200},
                "history": {"enabled": False},
            },
            base_dir=workdir,
        )
        mutations = build_mutations(config, 42)
        print(
            f"workload: {len(mutations)} mutations ({args.golden} golden x every rule-based type x "
            f"{args.variants} variants), 4 invariants, agent uvicorn on loopback, cpus={os.cpu_count()}"
        )
        results: dict[int, list[float]] = {}
        for concurrency in (16, 1):
            rates, cpu = [], []
            for _ in range(args.repeat):
                started, cpu_started = time.perf_counter(), time.process_time()
                run = run_async(run_storm(config, concurrency=concurrency, progress=False, mutations=mutations))
                elapsed = time.perf_counter() - started
                assert run.total == len(mutations) and run.score_card.agent_errors == 0
                rates.append(run.total / elapsed)
                cpu.append((time.process_time() - cpu_started) / run.total * 1e6)
            results[concurrency] = rates
            print(
                f"concurrency {concurrency:>2}: median {statistics.median(rates):8.0f} mutations/s "
                f"(runs: {', '.join(f'{r:.0f}' for r in rates)}); Storm CPU {statistics.median(cpu):.0f} us/mutation"
            )
        ratio = statistics.median(results[16]) / statistics.median(results[1])
        print(f"ratio concurrency 16 / concurrency 1: {ratio:.2f}x")
        raw = [run_async(raw_aiohttp(port, len(mutations), 16)) for _ in range(args.repeat)]
        print(f"ceiling: bare aiohttp client, same agent, 16 connections, no Storm work: "
              f"median {statistics.median(raw):.0f} requests/s; Storm reaches "
              f"{statistics.median(results[16]) / statistics.median(raw):.0%} of it")
        started = time.perf_counter()
        build_mutations(config, 42)
        print(f"generation alone: {len(mutations) / (time.perf_counter() - started):.0f} mutations/s")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
