"""Resume for Spool streams in Python: httpx transports that make any SDK's streams survive drops."""

from ._chat import ChatStreamError, stream_chat
from ._policy import ReconnectInfo, ResumeError, RetryOptions, StreamStats
from ._transport import AsyncResumingTransport, ResumingTransport

__all__ = [
    "AsyncResumingTransport",
    "ChatStreamError",
    "ReconnectInfo",
    "ResumeError",
    "ResumingTransport",
    "RetryOptions",
    "StreamStats",
    "stream_chat",
]
