"""httpx transports that resume Spool streams: :class:`ResumingTransport` and :class:`AsyncResumingTransport`."""

from __future__ import annotations

import time
from typing import AsyncIterator, Callable, Generic, Iterator, Optional, TypeVar

import httpx

from ._policy import Backoff, ReconnectInfo, RetryOptions, StreamStats
from ._session import RECOVERABLE_ERRORS, ResumeUrl, Session, Settings, response_for
from ._sse import DEFAULT_MAX_EVENT_LENGTH

try:
    from anyio import sleep as _async_sleep
except ImportError:  # pragma: no cover - httpx brings anyio; asyncio is the fallback
    from asyncio import sleep as _async_sleep


def _premature_end(session: Session) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(f"The stream {session.stats.stream_id} ended before its last event.")


Wrapped = TypeVar("Wrapped", httpx.BaseTransport, httpx.AsyncBaseTransport)


class _Base(Generic[Wrapped]):
    def __init__(
        self,
        transport: Optional[Wrapped] = None,
        *,
        retry: Optional[RetryOptions] = None,
        idle_timeout: float = 45.0,
        cancel_on_abort: bool = False,
        match: Optional[Callable[[httpx.URL], bool]] = None,
        resume_url: Optional[ResumeUrl] = None,
        max_event_length: int = DEFAULT_MAX_EVENT_LENGTH,
        on_reconnect: Optional[Callable[[ReconnectInfo], None]] = None,
    ) -> None:
        """Wraps ``transport`` (default: httpx's own). ``retry``: reconnect tuning (@spool/client's
        defaults); ``idle_timeout``: seconds without a byte before a connection is replaced;
        ``cancel_on_abort``: ``DELETE`` the stream when the response is closed early; ``match``: which
        URLs to resume (default all); ``resume_url``: where a stream resumes (default ``…/streams/{id}``);
        ``max_event_length``: one event's bound in bytes; ``on_reconnect``: called before each wait."""
        self._settings = Settings(
            retry=retry,
            idle_timeout=idle_timeout,
            cancel_on_abort=cancel_on_abort,
            match=match,
            resume_url=resume_url,
            max_event_length=max_event_length,
            on_reconnect=on_reconnect,
        )
        self._transport: Wrapped = transport if transport is not None else self._default_transport()
        self._latest: Optional[Session] = None

    def _default_transport(self) -> Wrapped:
        raise NotImplementedError

    @property
    def last_stream_id(self) -> Optional[str]:
        """The stream id of the latest resumable response, to store for a later resume."""
        return None if self._latest is None else self._latest.stats.stream_id

    @property
    def last_event_id(self) -> Optional[str]:
        """The last event id that stream handed to the reader."""
        return None if self._latest is None else self._latest.splicer.last_event_id

    def stats(self) -> Optional[StreamStats]:
        """The latest resumable stream's measurements so far."""
        return None if self._latest is None else self._latest.stats


class ResumingTransport(_Base[httpx.BaseTransport], httpx.BaseTransport):
    """An httpx transport that makes Spool streams survive drops, for any code on httpx (the ``openai``
    and ``anthropic`` SDKs included). A streaming POST (JSON body with ``"stream": true``) gets an
    ``Idempotency-Key``; when the gateway answers with ``X-Stream-Id``, the response body reconnects on
    a break to ``GET /v1/streams/{id}`` with ``Last-Event-ID`` and hands over every event once, whole.
    Everything else passes through to ``transport`` untouched.

    Example::

        client = OpenAI(base_url="https://gateway.example/v1",
                        http_client=httpx.Client(transport=ResumingTransport()))
    """

    def _default_transport(self) -> httpx.BaseTransport:
        return httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self._settings.prepare(request):
            return self._transport.handle_request(request)
        response = self._send(request)
        session = self._settings.session_for(request, response)
        if session is None:
            return response
        self._latest = session
        return response_for(response, _SyncSplicedStream(self._transport, session, response))

    def _send(self, request: httpx.Request) -> httpx.Response:
        """Sends the POST, again with the same ``Idempotency-Key`` when it fails before any answer."""
        backoff = Backoff(self._settings.retry)
        while True:
            try:
                return self._transport.handle_request(request)
            except RECOVERABLE_ERRORS as error:
                delay = self._settings.repost_delay(backoff, error)
                if delay is None:
                    raise
                time.sleep(delay)

    def close(self) -> None:
        self._transport.close()


class _SyncSplicedStream(httpx.SyncByteStream):
    def __init__(self, transport: httpx.BaseTransport, session: Session, first: httpx.Response) -> None:
        self._transport = transport
        self._session = session
        self._current: Optional[httpx.Response] = first

    def __iter__(self) -> Iterator[bytes]:
        session = self._session
        while self._current is not None:
            response = self._current
            session.begin_connection()
            try:
                for chunk in response.stream:  # type: ignore[union-attr]
                    out = session.feed(chunk)
                    if out:
                        yield out
                    if session.splicer.finished:
                        break
                if session.splicer.finished or session.closed:
                    self._release()
                    return
                error: Exception = _premature_end(session)
            except RECOVERABLE_ERRORS as raised:
                error = raised
            self._release()
            if session.closed:
                return
            self._current = self._reconnect(error)

    def _reconnect(self, error: Exception) -> Optional[httpx.Response]:
        session = self._session
        while True:
            delay = session.next_delay(error)
            if delay is None:
                raise error
            time.sleep(delay)
            try:
                response = self._transport.handle_request(session.resume_request())
            except RECOVERABLE_ERRORS as raised:
                error = raised
                continue
            if response.status_code == 204:
                response.close()
                return None
            body = b"" if 200 <= response.status_code < 300 else response.read()
            problem = session.check_resume(response, body)
            if problem is None:
                return response
            response.close()
            if not getattr(problem, "retryable", False):
                raise problem
            error = problem

    def _release(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None

    def close(self) -> None:
        session = self._session
        if session.closed:
            return
        session.closed = True
        self._release()
        if self._session.settings.cancel_on_abort and not session.splicer.finished:
            try:
                self._transport.handle_request(session.delete_request()).close()
            except httpx.HTTPError:
                pass  # Best effort: the gateway's grace period ends an orphaned generation anyway.


class AsyncResumingTransport(_Base[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport):
    """The asyncio/trio twin of :class:`ResumingTransport`, for ``httpx.AsyncClient`` (``AsyncOpenAI``)."""

    def _default_transport(self) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._settings.prepare(request):
            return await self._transport.handle_async_request(request)
        response = await self._send(request)
        session = self._settings.session_for(request, response)
        if session is None:
            return response
        self._latest = session
        return response_for(response, _AsyncSplicedStream(self._transport, session, response))

    async def _send(self, request: httpx.Request) -> httpx.Response:
        backoff = Backoff(self._settings.retry)
        while True:
            try:
                return await self._transport.handle_async_request(request)
            except RECOVERABLE_ERRORS as error:
                delay = self._settings.repost_delay(backoff, error)
                if delay is None:
                    raise
                await _async_sleep(delay)

    async def aclose(self) -> None:
        await self._transport.aclose()


class _AsyncSplicedStream(httpx.AsyncByteStream):
    def __init__(self, transport: httpx.AsyncBaseTransport, session: Session, first: httpx.Response) -> None:
        self._transport = transport
        self._session = session
        self._current: Optional[httpx.Response] = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        session = self._session
        while self._current is not None:
            response = self._current
            session.begin_connection()
            try:
                async for chunk in response.stream:  # type: ignore[union-attr]
                    out = session.feed(chunk)
                    if out:
                        yield out
                    if session.splicer.finished:
                        break
                if session.splicer.finished or session.closed:
                    await self._release()
                    return
                error: Exception = _premature_end(session)
            except RECOVERABLE_ERRORS as raised:
                error = raised
            await self._release()
            if session.closed:
                return
            self._current = await self._reconnect(error)

    async def _reconnect(self, error: Exception) -> Optional[httpx.Response]:
        session = self._session
        while True:
            delay = session.next_delay(error)
            if delay is None:
                raise error
            await _async_sleep(delay)
            try:
                response = await self._transport.handle_async_request(session.resume_request())
            except RECOVERABLE_ERRORS as raised:
                error = raised
                continue
            if response.status_code == 204:
                await response.aclose()
                return None
            body = b"" if 200 <= response.status_code < 300 else await response.aread()
            problem = session.check_resume(response, body)
            if problem is None:
                return response
            await response.aclose()
            if not getattr(problem, "retryable", False):
                raise problem
            error = problem

    async def _release(self) -> None:
        if self._current is not None:
            await self._current.aclose()
            self._current = None

    async def aclose(self) -> None:
        session = self._session
        if session.closed:
            return
        session.closed = True
        await self._release()
        if session.settings.cancel_on_abort and not session.splicer.finished:
            try:
                await (await self._transport.handle_async_request(session.delete_request())).aclose()
            except httpx.HTTPError:
                pass  # Best effort: the gateway's grace period ends an orphaned generation anyway.
