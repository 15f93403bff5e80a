"""The splicer: any chunking of any cut connections yields the uncut events (a seeded property test)."""

from __future__ import annotations

import random
from typing import List, Optional, Tuple

import pytest

from spool_client._sse import EventTooLargeError, SseEvent, SseParser, SseSplicer, encode_event

EVENT_TYPES = [None, "message_start", "content_block_delta", "response.output_text.delta"]
PIECES = ["a", "é", " ", ":", "{", '"', "😀", "data: x", "id"]


def raw_event(event: SseEvent, eol: str, spaced: bool) -> str:
    def field(name: str, value: str) -> str:
        # One space after the colon is not part of the value, so a leading space needs it spelled.
        return f"{name}:{' ' if spaced or value.startswith(' ') else ''}{value}{eol}"

    lines = [field("id", event.id or "")]
    if event.event is not None:
        lines.append(field("event", event.event))
    lines += [field("data", line) for line in event.data.split("\n")]
    return "".join(lines) + eol


def server_body(raw: List[str], ids: List[int], last_event_id: Optional[str], eol: str) -> bytes:
    after = -1 if last_event_id is None else int(last_event_id)
    return (f"retry: 1000{eol}{eol}" + "".join(r for r, i in zip(raw, ids) if i > after)).encode()


def chunked(body: bytes, rng: random.Random) -> List[bytes]:
    points = sorted({rng.randint(0, len(body)) for _ in range(rng.randint(0, 6))})
    chunks, previous = [], 0
    for point in points:
        chunks.append(body[previous:point])
        previous = point
    return chunks + [body[previous:]]


def parse(data: bytes) -> List[Tuple[Optional[str], Optional[str], str]]:
    return [(e.id, e.event, e.data) for e in SseParser().feed(data) if isinstance(e, SseEvent)]


@pytest.mark.parametrize("run", range(400))
def test_any_chunking_and_cut_points_hand_over_the_uncut_events(run: int) -> None:
    rng = random.Random(run)
    first_id = rng.choice([0, 1])
    eol = rng.choice(["\n", "\r\n", "\r"])
    model = [
        SseEvent(
            str(first_id + index),
            rng.choice(EVENT_TYPES),
            "\n".join("".join(rng.choice(PIECES) for _ in range(rng.randint(0, 5))) for _ in range(rng.randint(1, 3))),
        )
        for index in range(rng.randint(1, 12))
    ]
    raw = [raw_event(event, eol, rng.random() < 0.5) for event in model]
    ids = [int(event.id or 0) for event in model]
    flush = b"\n" if eol == "\r" else b""  # a lone trailing CR may still become a CRLF

    whole = SseSplicer()
    whole.begin_connection()
    uncut = whole.feed(server_body(raw, ids, None, eol)) + whole.feed(flush)

    splicer = SseSplicer()
    output = b""
    for cut in [rng.random() for _ in range(rng.randint(0, 5))] + [1.0]:
        splicer.begin_connection()
        body = server_body(raw, ids, splicer.last_event_id, eol)
        for chunk in chunked(body[: int(cut * len(body))], rng):
            output += splicer.feed(chunk)
    output += splicer.feed(flush)

    assert output == uncut
    assert parse(output) == [(e.id, e.event, e.data) for e in model]


def test_holds_back_an_incomplete_event_and_skips_replays() -> None:
    splicer = SseSplicer()
    splicer.begin_connection()
    assert splicer.feed(b"id: 1\nevent: message_start\ndata: {}\n\nid: 2\nevent: content_block_delta\ndata: {") == (
        b"id: 1\nevent: message_start\ndata: {}\n\n"
    )
    splicer.begin_connection()
    out = splicer.feed(b"retry: 5\n\nid: 1\ndata: again\n\nid: 2\nevent: message_stop\ndata: {}\n\n")
    assert out == b"retry: 5\n\n" + encode_event(SseEvent("2", "message_stop", "{}")).encode()
    assert splicer.finished


def test_an_endless_event_fails_with_event_too_large() -> None:
    splicer = SseSplicer(max_event_length=100)
    splicer.begin_connection()
    with pytest.raises(EventTooLargeError):
        splicer.feed(b"data: " + b"x" * 200)
