"""The I/O-free part of one resumed stream: splicing, bookkeeping, and the requests to make next."""

from __future__ import annotations

import time
from typing import Callable, Dict, Optional

import httpx

from ._policy import (
    IDEMPOTENCY_KEY_HEADER,
    LAST_EVENT_ID_HEADER,
    STREAM_ID_HEADER,
    Backoff,
    ReconnectInfo,
    ResumeError,
    RetryOptions,
    StreamStats,
    default_resume_url,
    is_retryable_status,
    is_streaming_request,
    new_idempotency_key,
    parse_retry_after,
    resume_headers,
)
from ._sse import DEFAULT_MAX_EVENT_LENGTH, SseSplicer

#: Errors of a connection that a reconnect (or a re-sent POST) can cure.
RECOVERABLE_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)

ResumeUrl = Callable[[httpx.URL, str], Optional[httpx.URL]]


class Settings:
    """Options of both transports, every default in one place."""

    def __init__(
        self,
        *,
        retry: Optional[RetryOptions] = None,
        idle_timeout: float = 45.0,
        cancel_on_abort: bool = False,
        match: Optional[Callable[[httpx.URL], bool]] = None,
        resume_url: Optional[ResumeUrl] = None,
        max_event_length: int = DEFAULT_MAX_EVENT_LENGTH,
        on_reconnect: Optional[Callable[[ReconnectInfo], None]] = None,
    ) -> None:
        self.retry = retry or RetryOptions()
        self.idle_timeout = idle_timeout
        self.cancel_on_abort = cancel_on_abort
        self.match = match or (lambda url: True)
        self.resume_url = resume_url or default_resume_url
        self.max_event_length = max_event_length
        self.on_reconnect = on_reconnect

    def prepare(self, request: httpx.Request) -> bool:
        """Whether to resume this request; if so, adds an ``Idempotency-Key`` (unless set) and caps
        its read timeout at ``idle_timeout`` (no byte for that long: presumed dead, resumed)."""
        if not (is_streaming_request(request) and self.match(request.url)):
            return False
        if IDEMPOTENCY_KEY_HEADER not in request.headers:
            request.headers[IDEMPOTENCY_KEY_HEADER] = new_idempotency_key()
        request.extensions = {**request.extensions, "timeout": self._timeouts(request)}
        return True

    def _timeouts(self, request: httpx.Request) -> Dict[str, Optional[float]]:
        timeouts = dict(request.extensions.get("timeout") or {})
        read = timeouts.get("read")
        timeouts["read"] = self.idle_timeout if read is None else min(read, self.idle_timeout)
        return timeouts

    def repost_delay(self, backoff: Backoff, error: BaseException) -> Optional[float]:
        """The wait before re-sending a POST that failed before any answer, or ``None`` to give up."""
        delay = backoff.next_delay(None, None)
        if delay is not None and self.on_reconnect is not None:
            self.on_reconnect(ReconnectInfo(None, backoff.attempt, delay, error, None))
        return delay

    def session_for(self, request: httpx.Request, response: httpx.Response) -> Optional["Session"]:
        """A session when the response is a spooled event stream (``X-Stream-Id``), else ``None``."""
        stream_id = response.headers.get(STREAM_ID_HEADER)
        if not stream_id or not 200 <= response.status_code < 300:
            return None
        if "text/event-stream" not in response.headers.get("content-type", ""):
            return None
        if response.headers.get("content-encoding", "identity") != "identity":
            return None
        url = self.resume_url(request.url, stream_id)
        if url is None:
            return None
        return Session(self, stream_id, url, request)


class Session:
    """One stream handed to the reader as one body."""

    def __init__(self, settings: Settings, stream_id: str, url: httpx.URL, request: httpx.Request) -> None:
        self.settings = settings
        self.url = url
        self.headers = resume_headers(request.headers)
        self.timeouts = settings._timeouts(request)
        self.splicer = SseSplicer(settings.max_event_length)
        self.backoff = Backoff(settings.retry)
        self.stats = StreamStats(stream_id=stream_id)
        self.resumed = False
        self.closed = False
        self._stalled_since: Optional[float] = None

    def begin_connection(self) -> None:
        self.splicer.begin_connection()
        self._events_before = self.splicer.events

    def feed(self, chunk: bytes) -> bytes:
        """Body bytes in, bytes to hand over out."""
        out = self.splicer.feed(chunk)
        if self.splicer.events > self._events_before:
            self.backoff.reset()
        if self.resumed:
            self.stats.bytes_spliced += len(out)
        self.stats.events = self.splicer.events
        self.stats.last_event_id = self.splicer.last_event_id
        return out

    def next_delay(self, error: BaseException) -> Optional[float]:
        """After a break: the wait before the next attempt (``on_reconnect`` told), or ``None`` to give up."""
        if self._stalled_since is None:
            self._stalled_since = time.monotonic()
        retry_after = getattr(error, "retry_after", None)
        server_retry = None if self.splicer.retry_ms is None else self.splicer.retry_ms / 1000
        delay = self.backoff.next_delay(retry_after, server_retry)
        if delay is None:
            return None
        self.stats.reconnects += 1
        self.stats.delay += delay
        if self.settings.on_reconnect is not None:
            self.settings.on_reconnect(
                ReconnectInfo(self.stats.stream_id, self.backoff.attempt, delay, error, self.splicer.last_event_id)
            )
        return delay

    def resume_request(self) -> httpx.Request:
        headers = httpx.Headers(self.headers)
        if self.splicer.last_event_id is not None:
            headers[LAST_EVENT_ID_HEADER] = self.splicer.last_event_id
        return httpx.Request("GET", self.url, headers=headers, extensions={"timeout": self.timeouts})

    def delete_request(self) -> httpx.Request:
        timeouts = {"connect": 10.0, "read": 10.0, "write": 10.0, "pool": 10.0}
        return httpx.Request("DELETE", self.url, headers=self.headers, extensions={"timeout": timeouts})

    def check_resume(self, response: httpx.Response, body: bytes) -> Optional[ResumeError]:
        """``None`` for an event stream to read; the error to retry on or raise otherwise."""
        status = response.status_code
        if 200 <= status < 300:
            if "text/event-stream" in response.headers.get("content-type", ""):
                self.connected()
                self.resumed = True
                return None
            return ResumeError(f"{self.url} answered a resume with {response.headers.get('content-type')}.", code="not_event_stream", status=status)
        code = {404: "stream_not_found", 410: "stream_expired"}.get(status, f"http_{status}")
        error = ResumeError(
            f"GET {self.url} failed with HTTP {status}: {body[:500].decode('utf-8', 'replace')}", code=code, status=status
        )
        error.retry_after = parse_retry_after(response.headers, time.time())  # type: ignore[attr-defined]
        error.retryable = is_retryable_status(status)  # type: ignore[attr-defined]
        return error

    def connected(self) -> None:
        if self._stalled_since is not None:
            self.stats.stalled += time.monotonic() - self._stalled_since
            self._stalled_since = None


def response_for(response: httpx.Response, stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> httpx.Response:
    """The reader's response: the first one's status and headers over the spliced ``stream``."""
    extensions = {key: value for key, value in response.extensions.items() if key in ("http_version", "reason_phrase")}
    return httpx.Response(response.status_code, headers=response.headers, stream=stream, extensions=extensions)
