"""SIEM sinks against real loopback receivers: HTTP (failing the first N requests), UDP and TCP syslog, files."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from shieldstorm.audit.events import AuditEvent
from shieldstorm.audit.sinks import (
    FileSink,
    JsonLinesSink,
    RetryPolicy,
    SinkEntry,
    SinkError,
    SyslogFormatter,
    SyslogSink,
    WebhookSink,
    format_cef,
    format_jsonl,
    forward,
)
from shieldstorm.errors import ConfigError
from tests.audit.helpers import make_event, open_log
from tests.services import free_port

FAST = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, seed=7)


@dataclass
class Receiver:
    """A loopback HTTP receiver that answers `failures` (a list of statuses) first, then 200."""

    failures: list[int] = field(default_factory=list)
    hec: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[bytes] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append({"headers": dict(request.headers), "path": request.path})
        if self.failures:
            status = self.failures.pop(0)
            headers = {"Retry-After": "0"} if status == 429 else {}
            return web.Response(status=status, text="try later", headers=headers)
        self.accepted.append(body)
        if self.hec:
            return web.json_response({"text": "Success", "code": 0})
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


def entries(count: int) -> list[SinkEntry]:
    return [SinkEntry(index, make_event(index)) for index in range(count)]


async def test_webhook_retries_failures_then_delivers_everything_once_in_order(receiver: Receiver) -> None:
    receiver.failures = [503, 502, 429]
    sink = WebhookSink(receiver.url + "/hook", token="secret-token", retry=FAST, batch_size=4)
    try:
        await sink.emit(entries(7))
    finally:
        await sink.aclose()
    assert sink.requests_sent == 3 + 2  # three refused attempts, then two batches (4 + 3)
    delivered = [item for body in receiver.accepted for item in json.loads(body)["events"]]
    assert [item["index"] for item in delivered] == list(range(7))
    assert delivered[3]["event"]["event_id"] == "evt-00000003"
    first_batch_keys = {r["headers"]["Idempotency-Key"] for r in receiver.requests[:4]}
    assert len(first_batch_keys) == 1, "a retried batch must carry the same idempotency key"
    assert receiver.requests[-1]["headers"]["Authorization"] == "Bearer secret-token"


async def test_splunk_hec_mode(receiver: Receiver) -> None:
    receiver.hec = True
    receiver.failures = [500]
    sink = WebhookSink(
        receiver.url + "/services/collector/event", mode="splunk_hec", token="hec-token", retry=FAST,
        splunk_index="security", host="gw-1",
    )
    try:
        await sink.emit(entries(3))
    finally:
        await sink.aclose()
    assert len(receiver.accepted) == 1
    headers = receiver.requests[-1]["headers"]
    assert headers["Authorization"] == "Splunk hec-token"
    assert receiver.requests[-1]["path"] == "/services/collector/event"
    decoder, text, items = json.JSONDecoder(), receiver.accepted[0].decode(), []
    position = 0
    while position < len(text):  # HEC batches are JSON objects one after another
        item, position = decoder.raw_decode(text, position)
        items.append(item)
        position += len(text[position:]) - len(text[position:].lstrip())
    assert [item["event"]["index"] for item in items] == [0, 1, 2]
    assert items[0]["sourcetype"] == "shieldstorm:audit" and items[0]["index"] == "security"
    assert items[0]["host"] == "gw-1" and isinstance(items[0]["time"], float)


async def test_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.failures = [400]
    sink = WebhookSink(receiver.url, retry=FAST)
    try:
        with pytest.raises(SinkError, match="HTTP 400"):
            await sink.emit(entries(2))
    finally:
        await sink.aclose()
    assert sink.requests_sent == 1 and receiver.accepted == []


async def test_gives_up_after_max_attempts(receiver: Receiver) -> None:
    receiver.failures = [503] * 10
    sink = WebhookSink(receiver.url, retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02))
    try:
        with pytest.raises(SinkError, match="gave up after 3 attempts"):
            await sink.emit(entries(1))
    finally:
        await sink.aclose()
    assert sink.requests_sent == 3


async def test_unreachable_receiver_fails_after_retries_without_leaking_token() -> None:
    sink = WebhookSink(f"http://127.0.0.1:{free_port()}/", token="do-not-print", retry=FAST)
    try:
        with pytest.raises(SinkError) as caught:
            await sink.emit(entries(1))
    finally:
        await sink.aclose()
    assert sink.requests_sent == FAST.max_attempts and "do-not-print" not in str(caught.value)


def test_webhook_config_errors() -> None:
    with pytest.raises(ConfigError):
        WebhookSink("ftp://x")
    with pytest.raises(ConfigError):
        WebhookSink("http://x", mode="splunk_hec")


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=8.0, seed=3)
    delays = list(policy.delays())
    assert len(delays) == 7
    caps = [min(8.0, 0.5 * 2**n) for n in range(7)]
    assert all(0 <= delay <= cap for delay, cap in zip(delays, caps, strict=True))
    assert delays == list(RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=8.0, seed=3).delays())
    assert delays != list(RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=8.0, seed=4).delays())
    samples = [d for seed in range(200) for d in RetryPolicy(3, 1.0, 10.0, seed=seed).delays()]
    assert max(samples[1::2]) > 1.0  # the second delay's window doubled to [0, 2]


RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (?P<host>\S+) (?P<app>\S+) (?P<proc>\S+) "
    r"(?P<msgid>\S+) (?P<sd>\[.*?[^\\]\]) \ufeff(?P<msg>.*)$",
    re.DOTALL,
)


def test_syslog_rfc5424_format_and_escaping() -> None:
    event = make_event(5, note='quote " bracket ] back \\ slash')
    event = AuditEvent(**{**event.model_dump(), "correlation_id": 'a"]b'})
    line = SyslogFormatter(hostname="gw 1")(event, 5)
    match = RFC5424.match(line)
    assert match, line
    assert int(match["pri"]) == 13 * 8 + 6  # facility log audit, "allow" -> informational
    assert match["host"] == "gw_1" and match["app"] == "shieldstorm" and match["msgid"] == "shield.decision"
    assert 'correlation_id="a\\"\\]b"' in match["sd"] and 'index="5"' in match["sd"]
    assert json.loads(match["msg"])["note"] == 'quote " bracket ] back \\ slash'
    blocked = AuditEvent(event_type="shield.decision", data={"decision": "block"})
    assert SyslogFormatter(hostname="h")(blocked, None).startswith(f"<{13 * 8 + 4}>1 ")


def test_cef_format_and_escaping() -> None:
    event = AuditEvent(
        event_type="shield.decision", actor="gate|way", tenant="a=b", data={"decision": "block", "why": "x\ny"}
    )
    line = format_cef(event, 9)
    header = re.split(r"(?<!\\)\|", line, maxsplit=7)
    assert header[:7] == ["CEF:0", "ShieldStorm", "ShieldStorm", header[3], "shield.decision",
                          "shield.decision block", "8"]
    extension = header[7]
    assert "suser=gate|way" in extension and "cs1=a\\=b" in extension and "cn1=9" in extension
    assert "\n" not in line and '"why":"x\\\\ny"' in extension


async def test_file_sink_appends_lines(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "siem" / "audit.jsonl")
    items = entries(5)
    await sink.emit(items[:3])
    await sink.emit(items[3:])
    lines = (tmp_path / "siem" / "audit.jsonl").read_text().splitlines()
    assert lines == [format_jsonl(e.event, e.index) for e in items]
    cef = FileSink(tmp_path / "audit.cef", formatter=format_cef, fsync=False)
    await cef.emit(entries(2))
    assert (tmp_path / "audit.cef").read_text().count("CEF:0|") == 2


async def test_syslog_udp_and_tcp_senders() -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    sender = SyslogSink("127.0.0.1", udp.getsockname()[1], protocol="udp")
    await sender.emit(entries(3))
    await sender.aclose()
    datagrams = [udp.recv(65535).decode() for _ in range(3)]
    udp.close()
    assert [RFC5424.match(d)["sd"].endswith(f'index="{i}"]') for i, d in enumerate(datagrams)] == [True] * 3  # type: ignore[index]

    frames: list[bytes] = []
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while len(frames) < 4:  # RFC 6587 octet counting: "<length> <message>"
            length = int((await reader.readuntil(b" "))[:-1])
            frames.append(await reader.readexactly(length))
        done.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tcp = SyslogSink("127.0.0.1", port, protocol="tcp", retry=FAST)
    try:
        await tcp.emit(entries(4))
        await asyncio.wait_for(done.wait(), 5)
    finally:
        await tcp.aclose()
        server.close()
        await server.wait_closed()
    assert [RFC5424.match(f.decode()) is not None for f in frames] == [True] * 4
    with pytest.raises(SinkError):
        closed = SyslogSink("127.0.0.1", free_port(), protocol="tcp", retry=RetryPolicy(2, 0.01, 0.01))
        await closed.emit(entries(1))


async def test_forward_ships_a_real_log_in_order(tmp_path: Path) -> None:
    log = open_log(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    try:
        log.append_many([make_event(i) for i in range(12)])
        sink = JsonLinesSink(tmp_path / "out.jsonl", fsync=False)
        assert await forward(log, sink, batch=5) == 12
        assert await forward(log, sink, start=12) == 12
        assert await forward(log, sink, start=10, stop=11) == 11
    finally:
        log.close()
    indices = [json.loads(line)["index"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert indices == [*range(12), 10]
