"""``stream_chat``: a resumable chat completion for code without an SDK."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, Mapping, Optional

import httpx

from ._policy import RetryOptions
from ._sse import SseEvent, SseParser, is_error_event
from ._transport import ResumingTransport


class ChatStreamError(RuntimeError):
    """The gateway answered with an error (``status`` set) or sent an error event mid-stream."""

    def __init__(self, message: str, *, body: Any = None, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.body = body
        self.status = status


def stream_chat(
    base_url: str,
    request: Mapping[str, Any],
    *,
    api_key: Optional[str] = None,
    headers: Optional[Mapping[str, str]] = None,
    transport: Optional[httpx.BaseTransport] = None,
    retry: Optional[RetryOptions] = None,
    idle_timeout: float = 45.0,
    timeout: float = 600.0,
) -> Iterator[str]:
    """Streams a chat completion from ``{base_url}/chat/completions`` and yields its text deltas, in
    order, each once, across dropped connections (``stream: true`` is set for you).

    Example::

        for text in stream_chat("http://localhost:8787/v1", {"model": "sim", "messages": messages}):
            print(text, end="", flush=True)
    """
    sent: Dict[str, str] = {"accept": "text/event-stream"}
    if api_key:
        sent["authorization"] = f"Bearer {api_key}"
    sent.update(headers or {})
    resuming = ResumingTransport(transport, retry=retry, idle_timeout=idle_timeout)
    with httpx.Client(transport=resuming, timeout=timeout) as client:
        url = f"{base_url.rstrip('/')}/chat/completions"
        with client.stream("POST", url, json={**request, "stream": True}, headers=sent) as response:
            if response.status_code >= 400:
                body = response.read().decode("utf-8", "replace")
                raise ChatStreamError(f"POST {url} failed with HTTP {response.status_code}: {body}", body=body, status=response.status_code)
            parser = SseParser()
            for chunk in response.iter_bytes():
                for item in parser.feed(chunk):
                    if not isinstance(item, SseEvent):
                        continue
                    if item.data == "[DONE]":
                        return
                    if is_error_event(item):
                        raise ChatStreamError(f"The gateway reported an error mid-stream: {item.data}", body=item.data)
                    for choice in json.loads(item.data).get("choices") or []:
                        content = (choice.get("delta") or {}).get("content")
                        if content:
                            yield content
