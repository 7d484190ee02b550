"""TLS 1.3 from certificate files, mTLS from clients and to upstreams (certificates generated per test)."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.services import free_port
from tests.shield.certs import make_pki
from tests.shield.conftest import ShieldFactory, base_config


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


async def test_tls13_with_required_client_certificates(tmp_path: Path, start_shield: ShieldFactory):
    pki = make_pki(tmp_path)
    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    hello = web.Application()
    hello.router.add_get("/x", ok)
    runner = web.AppRunner(hello)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    config = base_config(f"http://127.0.0.1:{port}", server={"tls": {
        "cert_file": str(pki.server_cert), "key_file": str(pki.server_key), "client_ca_file": str(pki.ca)}})
    shield = await start_shield(config)
    try:
        good = client_context(pki.ca, pki.client_cert, pki.client_key)
        async with aiohttp.ClientSession() as session, session.get(shield.url + "/x", ssl=good) as response:
            assert response.status == 200
        without_cert = client_context(pki.ca)
        with pytest.raises(aiohttp.ClientError):
            async with aiohttp.ClientSession() as session, session.get(shield.url + "/x", ssl=without_cert) as r:
                await r.read()
        only_tls12 = client_context(pki.ca, pki.client_cert, pki.client_key)
        only_tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(aiohttp.ClientError):
            async with aiohttp.ClientSession() as session, session.get(shield.url + "/x", ssl=only_tls12) as r:
                await r.read()
    finally:
        await runner.cleanup()


async def test_mtls_to_the_upstream(tmp_path: Path, start_shield: ShieldFactory):
    pki = make_pki(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    server_context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    server_context.verify_mode = ssl.CERT_REQUIRED
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        seen.append(dict(x[0] for x in peer["subject"])["commonName"] if peer else "")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/x", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_context).start()
    try:
        config = base_config(f"https://127.0.0.1:{port}", upstream={
            "url": f"https://127.0.0.1:{port}", "ca_file": str(pki.ca), "client_cert": str(pki.client_cert),
            "client_key": str(pki.client_key)})
        shield = await start_shield(config)
        async with aiohttp.ClientSession() as session, session.get(shield.url + "/x") as response:
            assert response.status == 200
        assert seen == ["test-client"]
        plain = await start_shield(base_config(f"https://127.0.0.1:{port}", upstream={
            "url": f"https://127.0.0.1:{port}", "ca_file": str(pki.ca)}))
        async with aiohttp.ClientSession() as session, session.get(plain.url + "/x") as response:
            assert response.status == 502  # no client certificate: the upstream refuses the handshake
    finally:
        await runner.cleanup()
