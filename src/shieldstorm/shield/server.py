"""Serving: uvicorn (uvloop + httptools) for the Shield and the admin API, optional HTTP/3 via hypercorn + aioquic.

TLS: certificate files from `server.tls`; TLS 1.3 only; with `client_ca_file` set, client certificates are
required (mTLS). The admin API listens on its own port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import sys
from typing import Any

import uvicorn

from shieldstorm.errors import ConfigError, ServiceUnavailableError
from shieldstorm.shield.app import ShieldApp, create_app
from shieldstorm.shield.config import ShieldConfig
from shieldstorm.shield.metrics import configure_tracing


def uvicorn_config(app: Any, config: ShieldConfig, *, host: str, port: int, log_level: str = "warning",
                   tls: bool = True) -> uvicorn.Config:
    server = config.server
    options: dict[str, Any] = {}
    if tls and server.tls is not None:
        options.update(ssl_certfile=str(server.tls.cert_file), ssl_keyfile=str(server.tls.key_file))
        if server.tls.client_ca_file is not None:
            options.update(ssl_ca_certs=str(server.tls.client_ca_file), ssl_cert_reqs=ssl.CERT_REQUIRED)
    uv = uvicorn.Config(app, host=host, port=port, loop="uvloop", http="httptools", lifespan="on",
                        log_level=log_level, access_log=False, server_header=False, proxy_headers=False,
                        timeout_keep_alive=30, h11_max_incomplete_event_size=server.max_header_bytes, **options)
    try:
        uv.load()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"server.tls: {exc}") from exc
    if uv.ssl is not None:
        uv.ssl.minimum_version = ssl.TLSVersion.TLSv1_3
    return uv


def check_listen(host: str, port: int, what: str) -> None:
    """Fail with one clear line (not uvicorn's log + exit) when the address cannot be bound."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServiceUnavailableError(f"{what}: cannot listen on {host}:{port}: {exc.strerror}") from exc


async def serve(config: ShieldConfig, *, log_level: str = "warning", ready: asyncio.Event | None = None) -> None:
    """Run the Shield (and the admin API, and the QUIC listener when configured) until cancelled."""
    check_listen(config.server.host, config.server.port, "server")
    if config.admin.enabled:
        check_listen(config.admin.host, config.admin.port, "admin")
    configure_tracing()
    shield = ShieldApp(config)
    app = create_app(config, shield)
    servers: list[Any] = [uvicorn.Server(uvicorn_config(app, config, host=config.server.host,
                                                        port=config.server.port, log_level=log_level))]
    if config.admin.enabled:
        from shieldstorm.shield.admin import create_admin_app

        admin_app = create_admin_app(shield)
        servers.append(uvicorn.Server(uvicorn_config(admin_app, config, host=config.admin.host,
                                                     port=config.admin.port, log_level=log_level, tls=False)))
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    if config.server.quic_port is not None:
        tasks.append(asyncio.create_task(serve_quic(app, config)))
    if ready is not None:
        while not all(getattr(s, "started", True) for s in servers):
            await asyncio.sleep(0.02)
        ready.set()
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


# Whenever another thread holds the GIL (the audit writer, the policy reload poller, a background shadow
# evaluation), the event loop thread waits for it, by default up to 5 ms (the interpreter's switch interval):
# a request-latency tail. 0.5 ms bounds it. (It was added when new policy inputs were evaluated on a worker
# thread; they are now evaluated inline, docs/shield.md.)
GIL_SWITCH_SECONDS = 0.0005


def run(config: ShieldConfig, *, log_level: str = "warning") -> None:
    """Serve until cancelled on a uvloop event loop.

    uvicorn's `loop="uvloop"` only applies when uvicorn creates the loop itself; `serve()` runs several servers
    inside one loop that the caller creates, so the caller must choose uvloop (asyncio.run would give the
    pure-Python selector loop: about 10 % more CPU per proxied request, measured with bench/shield.py).
    """
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    with event_loop_runner() as runner:
        runner.run(serve(config, log_level=log_level))


def event_loop_runner() -> asyncio.Runner:
    """An asyncio runner whose loop is uvloop's (the loop uvicorn would pick with `loop="uvloop"`)."""
    import uvloop

    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


async def serve_quic(app: Any, config: ShieldConfig) -> None:
    """HTTP/3 listener. Needs `pip install 'shieldstorm[quic]'`."""
    try:
        from hypercorn.asyncio import serve as hypercorn_serve
        from hypercorn.config import Config as HypercornConfig
    except ImportError as exc:
        raise ConfigError("server.quic_port needs the quic extra: pip install 'shieldstorm[quic]'") from exc
    assert config.server.tls is not None
    hconfig = HypercornConfig()
    hconfig.quic_bind = [f"{config.server.host}:{config.server.quic_port}"]
    hconfig.bind = []  # TCP is served by uvicorn; hypercorn only serves QUIC here
    hconfig.certfile = str(config.server.tls.cert_file)
    hconfig.keyfile = str(config.server.tls.key_file)
    hconfig.alpn_protocols = ["h3"]
    await hypercorn_serve(app, hconfig, mode="asgi")
