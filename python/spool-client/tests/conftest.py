"""A real gateway for the tests: ``spool sim`` (the upstream, which counts generations) and ``spool serve``
on free ports, started from the repository's build, plus a TCP proxy that cuts responses."""

from __future__ import annotations

import ctypes
import json
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]
SPOOL = REPO / "packages" / "gateway" / "dist" / "bin" / "spool.js"
START_TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if pytest is killed before its fixtures tear down (a test timeout)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start(args: Sequence[str]) -> subprocess.Popen:
    """Starts ``node spool.js <args>`` and waits for its "listening" line."""
    process = subprocess.Popen(
        ["node", str(SPOOL), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    lines: List[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "listening on" in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(START_TIMEOUT_S) or process.poll() is not None:
        process.kill()
        raise RuntimeError(f"spool {args[0]} did not start: {''.join(lines)}")
    return process


class Spool:
    """The running gateway and its sim."""

    def __init__(self, gateway_port: int, sim_port: int) -> None:
        self.gateway_port = gateway_port
        self.base_url = f"http://127.0.0.1:{gateway_port}/v1"
        self._sim_stats = f"http://127.0.0.1:{sim_port}/sim/stats"

    def generations(self) -> int:
        """Streamed completions the sim has generated so far."""
        return int(httpx.get(self._sim_stats).json()["streams"])


@pytest.fixture(scope="session")
def spool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spool]:
    if not SPOOL.exists():
        pytest.fail(f"{SPOOL} is missing: run `npm run build` first (npm test does).")
    sim_port, gateway_port = free_port(), free_port()
    config = tmp_path_factory.mktemp("spool") / "spool.json"
    config.write_text(
        json.dumps(
            {
                "server": {"host": "127.0.0.1", "logLevel": "silent"},
                "providers": {"upstream": {"type": "openai", "baseURL": f"http://127.0.0.1:{sim_port}/v1"}},
                "models": [{"match": "*", "provider": "upstream"}],
                "resilience": {"retry": {"attempts": 0}},
            }
        )
    )
    processes = [start(["sim", "--port", str(sim_port)])]
    try:
        processes.append(start(["serve", "--config", str(config), "--port", str(gateway_port)]))
        yield Spool(gateway_port, sim_port)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


class CutProxy:
    """A TCP proxy to the gateway that cuts its n-th connection's response after ``offsets[n]`` bytes
    (later connections run clean). ``cuts`` counts the cuts made, ``connections`` those accepted."""

    def __init__(self, target_port: int, offsets: Sequence[int]) -> None:
        self._target = target_port
        self._offsets = list(offsets)
        self.cuts = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/v1"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                index = self.connections
                self.connections += 1
                if self._closed:
                    client.close()
                    return
            cut_after = self._offsets[index] if index < len(self._offsets) else None
            upstream = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, cut_after), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, cut_after: Optional[int]) -> None:
        budget = cut_after
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if budget is not None and len(data) >= budget:
                    sink.sendall(data[:budget])
                    with self._lock:
                        self.cuts += 1
                    break
                sink.sendall(data)
                if budget is not None:
                    budget -= len(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
        self._server.close()
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass
