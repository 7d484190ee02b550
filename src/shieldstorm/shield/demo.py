"""`shieldstorm demo`: the example agent, Storm against it directly and through the Shield, one HTML report.

Everything runs on loopback with embedded defaults. The agent and the Shield are real subprocesses on free ports
(so the demo exercises `shieldstorm shield serve` exactly as a user runs it); Storm runs in this process.
`Children` owns the subprocesses: whatever happens (Ctrl-C, SIGTERM, an error), they are terminated, waited for
and killed if need be, and on Linux they also get SIGTERM from the kernel if this process dies abruptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import yaml

from shieldstorm.errors import ServiceUnavailableError

REFUSAL_MARKERS = ("I can't help with that request.",)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Children:
    """Subprocesses that never outlive the demo."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        handle = log.open("wb")
        try:
            process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        finally:
            handle.close()
        self.processes.append(process)
        self.logs.append(log)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 5
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(deadline - time.monotonic(), 0.1))
            if process.poll() is None:
                process.kill()
                process.wait()

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Any:
    """SIGTERM unwinds like Ctrl-C, so `finally` blocks (and Children.stop) run."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


async def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 50.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
                raise ServiceUnavailableError(f"{url} exited with code {process.returncode}: {' '.join(tail)}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.1)
    raise ServiceUnavailableError(f"{url} did not become ready within {timeout:.0f} s")


def bot_profile() -> dict[str, Any]:
    text = resources.files("shieldstorm.storm.example_agent").joinpath("data/bot.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def storm_config(agent_url: str, seed: int) -> Any:
    from shieldstorm.storm.config import parse_config

    template = resources.files("shieldstorm.storm").joinpath("data/storm.init.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(template)
    bot = bot_profile()
    data["name"] = "shieldstorm-demo"
    data["agent"] = {"type": "openai", "url": f"{agent_url}/v1", "model": "helpbot-1", "timeout": 10}
    data["system_prompt"] = bot["system_prompt"]
    data["canary"] = bot["canary"]
    data["history"] = {"enabled": False}
    data.setdefault("run", {})["seed"] = seed
    data["run"]["concurrency"] = 8  # two servers and Storm share this machine: less queueing, steadier latency
    return parse_config(data, source="demo")


def shield_config(agent_url: str, port: int, admin_port: int, canary: str) -> dict[str, Any]:
    return {
        "mode": "openai",
        "upstream": {"url": agent_url},
        "server": {"host": "127.0.0.1", "port": port},
        "admin": {"enabled": True, "host": "127.0.0.1", "port": admin_port},
        # Storm fires a few hundred requests in a second or two from one principal: a normal burst here.
        "rate_limit": {"per_principal": {"rate": 5000, "burst": 5000}, "per_tenant": {"rate": 5000, "burst": 5000}},
        "response": {"canaries": [canary]},
    }


def classify(output: str) -> str:
    if any(marker in output for marker in REFUSAL_MARKERS):
        return "blocked"
    if "[" in output and "_" in output and "]" in output and any(
            token in output for token in ("[EMAIL", "[CREDIT", "[US_SSN", "[SSN", "[PHONE", "[CARD")):
        return "redacted"
    return "passed through"


def compare(direct: Any, shielded: Any) -> list[dict[str, Any]]:
    """Cases whose outcome differs between the two runs, with what the Shield did to them."""
    by_id = {r.id: r for r in shielded.results}
    rows = []
    for before in direct.results:
        after = by_id.get(before.id)
        if after is None or before.passed == after.passed:
            continue
        rows.append({
            "id": before.id, "mutation_type": before.mutation_type, "golden_id": before.golden_id,
            "direct": "pass" if before.passed else "fail", "shielded": "pass" if after.passed else "fail",
            "failed_checks": ", ".join(sorted({f.invariant for f in before.failures})),
            "shield_action": classify(after.output) if not after.error else f"error: {after.error[:80]}",
            "direct_output": before.output[:240], "shielded_output": after.output[:240],
        })
    return sorted(rows, key=lambda r: (r["direct"] == "pass", r["mutation_type"], r["id"]))


def render_report(direct: Any, shielded: Any, decisions: list[dict[str, Any]], elapsed: float) -> str:
    import jinja2

    from shieldstorm import __version__

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("shieldstorm.shield", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    request_decisions = [d for d in decisions if d.get("direction") == "request"]
    response_decisions = [d for d in decisions if d.get("direction") == "response"]
    categories = Counter(c for d in decisions if d["action"] != "allow" for c in d.get("categories") or [])
    section = environment.get_template("demo_stopped.html.j2").render(
        changed=compare(direct, shielded),
        actions=Counter(d["action"] for d in request_decisions),
        response_actions=Counter(d["action"] for d in response_decisions),
        categories=categories.most_common(),
    )
    with contextlib.suppress(ImportError):
        from shieldstorm.storm.reports.html import render_comparison  # type: ignore[import-untyped,unused-ignore]

        page = str(render_comparison([("Direct", direct), ("Through the Shield", shielded)]))
        if "</body>" in page:
            return page.replace("</body>", section + "</body>", 1)
    return environment.get_template("demo_report.html.j2").render(
        direct=direct, shielded=shielded, section=section, elapsed=elapsed, version=__version__,
    )


async def run_demo(output: Path, *, children: Children, seed: int = 42, progress: bool = True,
                   say: Any = print) -> Path:
    from shieldstorm.storm.runner import run_storm

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="shieldstorm-demo-"))
    agent_port, shield_port, admin_port = free_port(), free_port(), free_port()
    agent_url, shield_url = f"http://127.0.0.1:{agent_port}", f"http://127.0.0.1:{shield_port}"
    admin_token = secrets.token_urlsafe(24)
    bot = bot_profile()
    config_path = workdir / "shield.yaml"
    config_path.write_text(yaml.safe_dump(shield_config(agent_url, shield_port, admin_port, bot["canary"])))
    env = {**os.environ, "SHIELDSTORM_ADMIN_TOKEN": admin_token}

    say(f"starting the example agent on {agent_url} and the Shield on {shield_url} ...")
    agent = children.start([sys.executable, "-m", "shieldstorm.storm.example_agent", "--port", str(agent_port)],
                           workdir / "agent.log", env)
    shield = children.start([sys.executable, "-m", "shieldstorm", "shield", "serve", "-c", str(config_path)],
                            workdir / "shield.log", env)
    await asyncio.gather(wait_healthy(f"{agent_url}/healthz", agent, workdir / "agent.log"),
                         wait_healthy(f"{shield_url}/readyz", shield, workdir / "shield.log"))

    config = storm_config(agent_url, seed)
    say("storm: direct against the agent ...")
    direct = await run_storm(config, seed=seed, progress=progress)
    say("storm: through the Shield ...")
    shielded = await run_storm(config, seed=seed, target_url=f"{shield_url}/v1", progress=progress)
    async with aiohttp.ClientSession() as session, session.get(
        f"http://127.0.0.1:{admin_port}/decisions?limit=1000", headers={"Authorization": f"Bearer {admin_token}"}
    ) as response:
        decisions = await response.json() if response.status == 200 else []

    html = render_report(direct, shielded, decisions, time.perf_counter() - started)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    say(f"score direct: {direct.score:.1%}   through the Shield: {shielded.score:.1%}   "
        f"({time.perf_counter() - started:.1f} s)")
    return output
