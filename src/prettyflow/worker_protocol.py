"""What a decode job and its warm worker (:mod:`prettyflow.workers`) say to each other.

Typed, length-prefixed frames on a Unix socket: the job sends one request (JSON),
the worker answers with log frames (the decode's log, as it is written) and one
result (JSON). Closing the connection is the job's only other message: the worker
reads it as "the job went away" and interrupts the decode. Standard library only:
the job side imports it.
"""

from __future__ import annotations

import socket
import struct

HEADER = struct.Struct(">cI")
LOG, REQUEST, RESULT = b"L", b"Q", b"R"


def send(connection: socket.socket, kind: bytes, payload: bytes) -> None:
    connection.sendall(HEADER.pack(kind, len(payload)) + payload)


def receive(connection: socket.socket) -> tuple[bytes, bytes] | None:
    """The next frame (kind, payload), or None once the other side has gone."""
    header = _receive_exactly(connection, HEADER.size)
    if header is None:
        return None
    kind, length = HEADER.unpack(header)
    payload = _receive_exactly(connection, length)
    return None if payload is None else (kind, payload)


def _receive_exactly(connection: socket.socket, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        try:
            chunk = connection.recv(min(remaining, 1 << 20))
        except ConnectionError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def open_connection(path: str) -> socket.socket:
    """A connection to the worker listening at ``path`` (OSError: none is)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        raise
    return connection


def listen(path: str, timeout_seconds: float) -> socket.socket:
    """A listening socket at ``path`` whose ``accept`` times out after the idle time."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    server.settimeout(timeout_seconds)
    return server


class LogStream:
    """A text stream whose writes go to the job as log frames."""

    def __init__(self, connection: socket.socket):
        self.connection = connection

    def write(self, text: str) -> int:
        if text:
            send(self.connection, LOG, text.encode("utf-8", errors="replace"))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False
