"""Request bodies are capped on every POST: 413 with a message, before the body is buffered, over real HTTP."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
import uvicorn
from web3 import Web3

from backend.app import create_app
from backend.devchain import Ganache, free_port
from backend.web.body_limit import DEFAULT_CAP, ROUTE_CAPS
from tests.support.index import make_settings
from tests.support.servers import serving


@pytest.fixture
def server(tmp_path, ganache: Ganache, w3: Web3) -> Iterator[tuple[str, int]]:
    """The app under a real uvicorn (indexer off): host and port."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = make_settings(data_dir, ganache.url, f"sqlite:///{data_dir / 'index.sqlite3'}")
    port = free_port()
    config = uvicorn.Config(create_app(settings, run_indexer=False), host="127.0.0.1", port=port, log_level="warning")
    with serving(config):
        yield "127.0.0.1", port


def _exchange(address: tuple[str, int], head: bytes, chunks: Iterator[bytes], timeout: float = 10) -> bytes:
    """Send ``head`` then ``chunks`` while the server lets us; return everything it answered."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: the rest was never read
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
                if b"\r\n\r\n" in answer and answer.endswith(b"}"):
                    break
        except ConnectionResetError:
            pass
    return answer


def _detail(answer: bytes) -> dict[str, str]:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def test_declared_length_over_the_cap_is_413_before_any_body_is_sent(server: tuple[str, int]):
    head = b"POST /api/relay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
    began = time.monotonic()
    answer = _exchange(server, head, iter(()))
    assert answer.startswith(b"HTTP/1.1 413")
    cap = ROUTE_CAPS["/api/relay"]
    assert _detail(answer) == {"detail": f"request body is 104857600 bytes; the limit for this route is {cap} bytes"}
    assert time.monotonic() - began < 5


def test_chunked_body_streamed_past_the_cap_is_413(server: tuple[str, int]):
    head = (
        b"POST /api/relay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"x" * 8192
    sent = {"bytes": 0}

    def chunks() -> Iterator[bytes]:
        for _ in range(2000):  # 16 MB if nobody stops us
            sent["bytes"] += len(piece)
            yield b"%x\r\n%s\r\n" % (len(piece), piece)

    answer = _exchange(server, head, chunks())
    assert answer.startswith(b"HTTP/1.1 413")
    # the relay reads its body with its own, smaller cap (INDELIBLE_RELAY_MAX_BODY, 64 KiB), which trips first
    assert _detail(answer)["detail"] == "relay body is over 65536 bytes: send fewer items per batch"
    assert sent["bytes"] < 16 * 1024 * 1024


@pytest.mark.parametrize(
    "path", ["/api/status", "/api/posts", "/api/nonces/0x0000000000000000000000000000000000000000"]
)
def test_other_routes_take_no_more_than_the_default_cap(server: tuple[str, int], path: str):
    body = b"x" * (DEFAULT_CAP + 1)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    answer = _exchange(server, head, iter([body]))
    assert answer.startswith(b"HTTP/1.1 413")
    assert _detail(answer)["detail"] == (
        f"request body is {len(body)} bytes; the limit for this route is {DEFAULT_CAP} bytes"
    )


def test_content_route_keeps_its_own_exact_message_below_the_middleware_cap(server: tuple[str, int]):
    body = json.dumps({"title": "big", "body": "x" * 70_000}).encode()
    head = (
        "POST /api/content HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    answer = _exchange(server, head, iter([body]))
    assert answer.startswith(b"HTTP/1.1 413")
    assert _detail(answer) == {"detail": f"content is {len(body)} bytes; the limit is 65536"}
