"""Server-sent events: an incremental parser (WHATWG HTML §9.2.6), the encoder, and the splicer that
joins the bodies of a stream's connections into whole, new events."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import List, Optional, Union

_LINE_END = re.compile(rb"\r\n|\r|\n")
_NUMERIC_ID = re.compile(r"^\d{1,15}$")

#: Event types after which a stream is complete (Responses, Messages); chat ends with ``data: [DONE]``.
TERMINAL_EVENT_TYPES = frozenset(
    {"response.completed", "response.failed", "response.incomplete", "message_stop", "error"}
)

DEFAULT_MAX_EVENT_LENGTH = 16 * 1024 * 1024


@dataclass(frozen=True)
class SseEvent:
    """One dispatched event: its ``id:`` and ``event:`` fields (``None`` when absent) and its data."""

    id: Optional[str]
    event: Optional[str]
    data: str


@dataclass(frozen=True)
class SseComment:
    """A comment line such as a ``: ping`` heartbeat."""

    text: str


@dataclass(frozen=True)
class SseRetry:
    """A ``retry:`` field: the reconnection time the server asks for, in milliseconds."""

    milliseconds: int


SseItem = Union[SseEvent, SseComment, SseRetry]


class EventTooLargeError(ValueError):
    """An event (or an unterminated line) grew past ``max_event_length`` bytes."""

    code = "event_too_large"


class SseParser:
    """Parses an SSE byte stream fed in any chunks. An event is dispatched by the blank line after it,
    and only if it carried ``data:`` (as eventsource-parser does); incomplete events stay buffered."""

    def __init__(self, max_event_length: int = DEFAULT_MAX_EVENT_LENGTH) -> None:
        self._max = max_event_length
        self._buffer = b""
        self._first = True
        self._reset_event()

    def _reset_event(self) -> None:
        self._id: Optional[str] = None
        self._event: Optional[str] = None
        self._data: List[str] = []
        self._size = 0

    def feed(self, chunk: bytes) -> List[SseItem]:
        """Feeds bytes; returns the items they completed."""
        buffer = self._buffer + chunk
        if self._first and len(buffer) >= 3:
            self._first = False
            if buffer.startswith(b"\xef\xbb\xbf"):
                buffer = buffer[3:]
        items: List[SseItem] = []
        start = 0
        for match in _LINE_END.finditer(buffer):
            # A CR at the very end may be the first half of a CRLF: wait for the next byte.
            if match.group() == b"\r" and match.end() == len(buffer):
                break
            self._line(buffer[start : match.start()].decode("utf-8", "replace"), items)
            start = match.end()
        self._buffer = buffer[start:]
        if len(self._buffer) + self._size > self._max:
            raise EventTooLargeError(f"An event exceeded {self._max} bytes; raise max_event_length.")
        return items

    def _line(self, line: str, items: List[SseItem]) -> None:
        if line == "":
            if self._data:
                items.append(SseEvent(self._id, self._event, "\n".join(self._data)))
            self._reset_event()
            return
        if line.startswith(":"):
            items.append(SseComment(line[2:] if line.startswith(": ") else line[1:]))
            return
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._size += len(value) + 1
        elif field == "event":
            self._event = value or None
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry":
            if value.isdigit():
                items.append(SseRetry(int(value)))


def encode_event(event: SseEvent) -> str:
    """Encodes an event as SSE text (the same spelling @spool/protocol's ``encodeEvent`` uses)."""
    out = ""
    if event.id is not None:
        out += f"id: {event.id}\n"
    if event.event is not None:
        out += f"event: {event.event}\n"
    for line in event.data.split("\n"):
        out += f"data: {line}\n"
    return out + "\n"


def is_error_event(event: SseEvent) -> bool:
    """Whether an event reports an error: ``event: error`` or ``data: {"error": {"message": …}}``."""
    if event.event == "error":
        return True
    if '"error"' not in event.data:
        return False
    try:
        body = json.loads(event.data)
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and isinstance(error.get("message"), str)


class SseSplicer:
    """Joins the bodies of several connections of one event stream into the body a perfect network
    would have carried: whole events only (an incomplete trailing event is dropped with its
    connection), each once (a replay at or below the last handed-over numeric id is skipped).
    Call :meth:`begin_connection` before each body."""

    def __init__(self, max_event_length: int = DEFAULT_MAX_EVENT_LENGTH) -> None:
        self._max = max_event_length
        self._parser = SseParser(max_event_length)
        self.last_event_id: Optional[str] = None
        self._last_numeric: Optional[int] = None
        self.finished = False
        self.events = 0
        self.retry_ms: Optional[int] = None
        self._retry_forwarded = False

    def begin_connection(self) -> None:
        """Starts the next connection's body, dropping what the previous one left incomplete."""
        self._parser = SseParser(self._max)

    def feed(self, chunk: bytes) -> bytes:
        """Feeds body bytes of the current connection; returns the bytes to hand over."""
        out = ""
        for item in self._parser.feed(chunk):
            if isinstance(item, SseRetry):
                self.retry_ms = item.milliseconds
                if not self._retry_forwarded:
                    self._retry_forwarded = True
                    out += f"retry: {item.milliseconds}\n\n"
            elif isinstance(item, SseComment):
                out += f": {item.text}\n\n"
            elif self._is_new(item.id):
                if item.id is not None:
                    self.last_event_id = item.id
                self.events += 1
                if item.data == "[DONE]" or item.event in TERMINAL_EVENT_TYPES or is_error_event(item):
                    self.finished = True
                out += encode_event(item)
        return out.encode("utf-8")

    def _is_new(self, event_id: Optional[str]) -> bool:
        if event_id is None or not _NUMERIC_ID.match(event_id.strip()):
            return True
        numeric = int(event_id)
        if self._last_numeric is not None and numeric <= self._last_numeric:
            return False
        self._last_numeric = numeric
        return True
