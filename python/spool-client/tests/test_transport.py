"""Both transports against a real gateway, through a proxy that cuts responses at random bytes."""

from __future__ import annotations

import asyncio
import json
import os
import random
from typing import Iterable, List, Tuple

import httpx
import pytest
from conftest import CutProxy, Spool

from spool_client import AsyncResumingTransport, ReconnectInfo, ResumingTransport, RetryOptions, stream_chat
from spool_client._sse import SseEvent, SseParser

# Replay a run with SPOOL_CHAOS_SEED=<seed in the failure message>.
SEED = int(os.environ.get("SPOOL_CHAOS_SEED", random.randrange(2**31)))
STREAMS = 12
#: The gateway sends ``retry: 1000``; a 20 ms cap keeps dozens of resumes fast.
FAST = RetryOptions(initial_delay=0.001, max_delay=0.02, max_attempts=50)


def request_body(prompt: str) -> dict:
    return {"model": "sim", "messages": [{"role": "user", "content": prompt}], "stream": True}


def text_of(chunks: Iterable[bytes]) -> str:
    """The content deltas of a chat completion stream, joined."""
    parser = SseParser()
    text = ""
    for chunk in chunks:
        for item in parser.feed(chunk):
            if isinstance(item, SseEvent) and item.data != "[DONE]":
                for choice in json.loads(item.data)["choices"]:
                    text += choice["delta"].get("content") or ""
    return text


def plans(tag: str) -> List[Tuple[str, List[int]]]:
    rng = random.Random(f"{SEED}-{tag}")
    return [
        (f"python {tag} stream {index} seed {SEED}", [rng.randint(0, 1500) for _ in range(rng.randint(2, 4))])
        for index in range(STREAMS)
    ]


def uncut_texts(spool: Spool, prompts: Iterable[str]) -> List[str]:
    """What each prompt streams over a perfect network (its own generation, before the count starts)."""
    with httpx.Client(timeout=30) as client:
        texts = []
        for prompt in prompts:
            with client.stream("POST", f"{spool.base_url}/chat/completions", json=request_body(prompt)) as response:
                texts.append(text_of(response.iter_bytes()))
        return texts


def test_sync_transport_delivers_the_uncut_text_from_one_generation_through_random_cuts(spool: Spool) -> None:
    drawn = plans("sync")
    expected = uncut_texts(spool, [prompt for prompt, _ in drawn])
    before = spool.generations()
    cuts = 0
    texts = []
    for prompt, offsets in drawn:
        proxy = CutProxy(spool.gateway_port, offsets)
        try:
            transport = ResumingTransport(retry=FAST)
            with httpx.Client(transport=transport, timeout=30) as client:
                with client.stream("POST", f"{proxy.url}/chat/completions", json=request_body(prompt)) as response:
                    assert response.status_code == 200
                    texts.append(text_of(response.iter_bytes()))
            assert transport.last_stream_id is not None
        finally:
            proxy.close()
        cuts += proxy.cuts
    context = f"seed {SEED}"
    assert texts == expected, context
    assert spool.generations() - before == STREAMS, context
    assert cuts >= STREAMS * 2, context


def test_async_transport_delivers_the_uncut_text_from_one_generation_through_random_cuts(spool: Spool) -> None:
    drawn = plans("async")
    expected = uncut_texts(spool, [prompt for prompt, _ in drawn])
    before = spool.generations()
    proxies = [CutProxy(spool.gateway_port, offsets) for _, offsets in drawn]

    async def one(prompt: str, proxy: CutProxy) -> str:
        async with httpx.AsyncClient(transport=AsyncResumingTransport(retry=FAST), timeout=30) as client:
            async with client.stream("POST", f"{proxy.url}/chat/completions", json=request_body(prompt)) as response:
                return text_of([chunk async for chunk in response.aiter_bytes()])

    async def run_all() -> List[str]:
        return list(await asyncio.gather(*(one(prompt, proxy) for (prompt, _), proxy in zip(drawn, proxies))))

    try:
        texts = asyncio.run(run_all())
    finally:
        for proxy in proxies:
            proxy.close()
    context = f"seed {SEED}"
    assert texts == expected, context
    assert spool.generations() - before == STREAMS, context
    assert sum(proxy.cuts for proxy in proxies) >= STREAMS * 2, context


def test_stream_chat_yields_each_delta_once_across_cuts(spool: Spool) -> None:
    prompt = f"stream_chat seed {SEED}"
    (expected,) = uncut_texts(spool, [prompt])
    proxy = CutProxy(spool.gateway_port, [300, 700, 1100])
    try:
        request = {"model": "sim", "messages": [{"role": "user", "content": prompt}]}
        assert "".join(stream_chat(proxy.url, request, retry=FAST)) == expected
    finally:
        proxy.close()
    assert proxy.cuts == 3


def test_passes_non_streaming_requests_through_untouched(spool: Spool) -> None:
    seen: List[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    transport = ResumingTransport(httpx.MockTransport(record))
    with httpx.Client(transport=transport) as client:
        response = client.post("http://gateway.test/v1/chat/completions", json={"model": "sim", "messages": []})
    assert response.json() == {"ok": True}
    assert "idempotency-key" not in seen[0].headers
    assert transport.last_stream_id is None


def test_closing_the_response_ends_the_stream_without_a_reconnect(spool: Spool) -> None:
    reconnects: List[ReconnectInfo] = []
    proxy = CutProxy(spool.gateway_port, [])
    try:
        transport = ResumingTransport(retry=FAST, on_reconnect=reconnects.append)
        with httpx.Client(transport=transport, timeout=30) as client:
            with client.stream("POST", f"{proxy.url}/chat/completions", json=request_body("close")) as response:
                first = next(response.iter_bytes())
                assert first
        assert reconnects == []
        assert proxy.connections == 1
    finally:
        proxy.close()


@pytest.mark.parametrize("status", [404, 410])
def test_a_resume_answered_404_or_410_fails_with_its_code(status: int) -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = b"retry: 1000\n\nid: 1\ndata: {}\n\n"
            # The body ends before [DONE]: the transport must resume, and the resume is refused.
            return httpx.Response(200, headers={"content-type": "text/event-stream", "x-stream-id": "s1"}, content=body)
        assert request.url.path == "/v1/streams/s1"
        assert request.headers["last-event-id"] == "1"
        return httpx.Response(status, json={"error": {"message": "gone"}})

    transport = ResumingTransport(httpx.MockTransport(gateway), retry=FAST)
    with httpx.Client(transport=transport) as client:
        with client.stream("POST", "http://gateway.test/v1/chat/completions", json=request_body("x")) as response:
            with pytest.raises(httpx.TransportError) as raised:
                response.read()
    assert getattr(raised.value, "code") == ("stream_not_found" if status == 404 else "stream_expired")


class BreakingStream(httpx.SyncByteStream):
    """A body that sends ``parts`` and then fails with ``error`` (what a stalled or cut socket raises)."""

    def __init__(self, parts: List[bytes], error: Exception) -> None:
        self._parts = parts
        self._error = error
        self.closed = False

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from self._parts
        raise self._error

    def close(self) -> None:
        self.closed = True


SSE = {"content-type": "text/event-stream", "x-stream-id": "s1"}
EVENTS = [
    b"id: 1\nevent: message_start\ndata: {}\n\n",
    b'id: 2\nevent: content_block_delta\ndata: {"a":\ndata: 1}\n\n',
    b"id: 3\nevent: message_stop\ndata: {}\n\n",
]


def test_a_read_timeout_mid_event_resumes_after_the_last_whole_event() -> None:
    seen: List[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            parts = [b"retry: 1000\n\n" + EVENTS[0], EVENTS[1][:20]]
            stream = BreakingStream(parts, httpx.ReadTimeout("no byte for 45 s"))
            return httpx.Response(200, headers=SSE, stream=stream)
        return httpx.Response(200, headers=SSE, content=b"retry: 1000\n\n" + b"".join(EVENTS[1:]))

    reconnects: List[ReconnectInfo] = []
    transport = ResumingTransport(httpx.MockTransport(gateway), retry=FAST, on_reconnect=reconnects.append)
    with httpx.Client(transport=transport) as client:
        with client.stream("POST", "http://gateway.test/v1/messages", json=request_body("x")) as response:
            body = response.read()
    # The resume restates `retry:`; the reader gets it once.
    assert body == b"retry: 1000\n\n" + b"".join(EVENTS)
    assert [(info.attempt, info.last_event_id, type(info.reason)) for info in reconnects] == [(1, "1", httpx.ReadTimeout)]
    assert seen[1].method == "GET" and seen[1].url.path == "/v1/streams/s1"
    assert seen[1].headers["last-event-id"] == "1"
    assert "idempotency-key" in seen[0].headers and "idempotency-key" not in seen[1].headers
    stats = transport.stats()
    assert stats is not None and (stats.reconnects, stats.events, stats.last_event_id) == (1, 3, "3")
    assert stats.bytes_spliced == len(b"".join(EVENTS[1:]))


@pytest.mark.parametrize("cancel_on_abort", [False, True])
def test_closing_mid_stream_sends_delete_only_with_cancel_on_abort(cancel_on_abort: bool) -> None:
    methods: List[str] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        if request.method == "POST":
            return httpx.Response(200, headers=SSE, stream=BreakingStream([EVENTS[0]], httpx.ReadError("cut")))
        return httpx.Response(204)

    transport = ResumingTransport(httpx.MockTransport(gateway), retry=FAST, cancel_on_abort=cancel_on_abort)
    with httpx.Client(transport=transport) as client:
        with client.stream("POST", "http://gateway.test/v1/messages", json=request_body("x")) as response:
            assert next(response.iter_bytes()) == EVENTS[0]
    assert methods == (["POST", "DELETE"] if cancel_on_abort else ["POST"])


def test_async_transport_resumes_after_a_cut_mid_event() -> None:
    class AsyncBreakingStream(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield EVENTS[0] + EVENTS[1][:10]
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    async def gateway(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, headers=SSE, stream=AsyncBreakingStream())
        assert request.headers["last-event-id"] == "1"
        return httpx.Response(200, headers=SSE, content=b"".join(EVENTS[1:]))

    async def run() -> bytes:
        transport = AsyncResumingTransport(httpx.MockTransport(gateway), retry=FAST)
        async with httpx.AsyncClient(transport=transport) as client:
            async with client.stream("POST", "http://gateway.test/v1/messages", json=request_body("x")) as response:
                return await response.aread()

    assert asyncio.run(run()) == b"".join(EVENTS)
