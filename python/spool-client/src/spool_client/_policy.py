"""Pure rules shared by both transports: which requests to resume, where, and how long to wait.
The backoff restates @spool/client's retry policy (retry-policy.ts) and its defaults."""

from __future__ import annotations

import email.utils
import json
import random
import re
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Optional

import httpx

IDEMPOTENCY_KEY_HEADER = "idempotency-key"
LAST_EVENT_ID_HEADER = "last-event-id"
STREAM_ID_HEADER = "x-stream-id"

_SURFACE = re.compile(r"/(chat/completions|responses|messages)/?$")


@dataclass(frozen=True)
class RetryOptions:
    """Reconnect tuning, with @spool/client's defaults."""

    #: Delay cap before the first retry, in seconds; each later retry multiplies it by ``multiplier``.
    initial_delay: float = 0.5
    #: Upper bound of a computed delay (a server's ``Retry-After`` is honoured beyond it).
    max_delay: float = 30.0
    multiplier: float = 2.0
    #: Consecutive failed attempts allowed in one outage; reset once a connection delivers an event.
    max_attempts: int = 8
    #: Time one outage may last before giving up, in seconds.
    max_elapsed: float = 120.0


@dataclass
class ReconnectInfo:
    """What ``on_reconnect`` learns before a reconnect's wait."""

    stream_id: Optional[str]
    attempt: int
    delay: float
    reason: BaseException
    last_event_id: Optional[str]


@dataclass
class StreamStats:
    """What one resumed stream went through."""

    stream_id: str
    last_event_id: Optional[str] = None
    reconnects: int = 0
    #: Backoff waited in total, in seconds.
    delay: float = 0.0
    #: Bytes handed to the reader from resumed connections.
    bytes_spliced: int = 0
    #: Time without a working connection, in seconds.
    stalled: float = 0.0
    events: int = 0


class ResumeError(httpx.TransportError):
    """A stream could not be resumed: ``code`` is ``stream_not_found`` (404), ``stream_expired`` (410),
    ``http_<status>`` or ``not_event_stream``; ``status`` is the HTTP status."""

    def __init__(self, message: str, *, code: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def is_streaming_request(request: httpx.Request) -> bool:
    """Whether a request is a POST whose JSON body asks for ``"stream": true``."""
    if request.method != "POST":
        return False
    try:
        body = request.content
    except httpx.RequestNotRead:
        return False
    if b'"stream"' not in body:
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("stream") is True


def default_resume_url(url: httpx.URL, stream_id: str) -> Optional[httpx.URL]:
    """``…/v1/chat/completions``, ``/responses`` or ``/messages`` → ``…/v1/streams/{id}``."""
    match = _SURFACE.search(url.path)
    if match is None:
        return None
    path = f"{url.path[: match.start()]}/streams/{stream_id}"
    return url.copy_with(path=path, query=None, fragment=None)


def new_idempotency_key() -> str:
    """A fresh ``Idempotency-Key``."""
    return str(uuid.uuid4())


def resume_headers(headers: httpx.Headers) -> httpx.Headers:
    """The original request's headers for ``GET``/``DELETE`` on the stream (body headers dropped)."""
    copy = httpx.Headers(headers)
    for name in ("content-type", "content-length", "transfer-encoding", IDEMPOTENCY_KEY_HEADER, LAST_EVENT_ID_HEADER):
        if name in copy:
            del copy[name]
    copy["accept"] = "text/event-stream"
    return copy


def is_retryable_status(status: int) -> bool:
    """408, 409, 429 and 5xx may succeed later; other statuses answer the same again."""
    return status in (408, 409, 429) or status >= 500


def parse_retry_after(headers: httpx.Headers, now: float) -> Optional[float]:
    """``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date), in seconds."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        date = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, date.timestamp() - now)


class Backoff:
    """One outage's retry budget: full-jitter exponential delays, ``Retry-After`` honoured as sent,
    the stream's ``retry:`` as a floor; gives up past ``max_attempts`` or ``max_elapsed``."""

    def __init__(
        self,
        options: RetryOptions,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._options = options
        self._random = rand
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """A connection delivered something: the next failure starts a new outage."""
        self.attempt = 0
        self._started: Optional[float] = None

    def next_delay(self, retry_after: Optional[float], server_retry: Optional[float]) -> Optional[float]:
        """The wait before the next attempt, or ``None`` when the outage is out of attempts or time."""
        options = self._options
        self.attempt += 1
        if self.attempt > options.max_attempts:
            return None
        now = self._clock()
        if self._started is None:
            self._started = now
        if retry_after is not None:
            delay = retry_after
        else:
            ceiling = min(options.max_delay, options.initial_delay * options.multiplier ** (self.attempt - 1))
            delay = self._random() * ceiling
            if server_retry is not None:
                delay = min(options.max_delay, max(delay, server_retry))
        if now - self._started + delay > options.max_elapsed:
            return None
        return delay
