"""The warm decode worker's process: it loads one model and runs decode jobs with it.

Started by a decode job (:mod:`prettyflow.workers`, which says when it ends) as
``python -m prettyflow.worker_server SOCKET KEY IDLE_SECONDS``. It binds its socket
before importing anything, so the job can connect at once, then serves one job at
a time until it has been idle for ``IDLE_SECONDS``, a decode failed, its job went
away mid-decode, or a job side asked it to stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prettyflow import worker_protocol as protocol
from prettyflow.logs import log_to_stream
from prettyflow.workers import WorkerError, try_lock


class Cancelled(BaseException):
    """The job went away mid-decode; raised in the worker's main thread."""


class _Worker:
    """The loaded model of one key (a :class:`prettyflow.backends.ModelBackend`), and
    the decodes it runs."""

    def __init__(self, key: str):
        self.key = key
        self.loaded: tuple[str, Any] | None = None
        self.load_seconds = 0.0

    def load(
        self, settings: Mapping[str, Any], *, device: str, threads: int | None
    ) -> Any:
        """The decode's ``load_model``: the model, loaded by the first decode."""
        from prettyflow.backends import model_backend

        identity = json.dumps(
            {"model": settings, "device": device, "threads": threads},
            sort_keys=True,
            default=str,
        )
        if self.loaded is None:
            started = time.perf_counter()
            model = model_backend(settings).load(
                settings, device=device, threads=threads
            )
            self.load_seconds = time.perf_counter() - started
            self.loaded = (identity, model)
            return model
        loaded_identity, model = self.loaded
        if identity != loaded_identity:
            raise WorkerError(
                f"worker {self.key} holds {loaded_identity}, was asked for {identity}"
            )
        return model

    def run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        from prettyflow.steps.decode import decode

        if request.get("key") != self.key:
            raise WorkerError(
                f"this worker serves key {self.key}, not {request.get('key')}"
            )
        reused = self.loaded is not None
        os.chdir(request["identity"]["cwd"])
        state = "model already loaded" if reused else "loading the model"
        print(f"decoding in warm worker pid {os.getpid()} ({state})", flush=True)
        decode(**request["kwargs"], load_model=self.load)
        if self.loaded is not None and self.loaded[1].device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        return {"reused": reused, "load_seconds": self.load_seconds}


def serve(socket_path: str, key: str, idle_seconds: float) -> None:
    """Serve decodes of one key on ``socket_path`` until idle, failed or stopped."""
    server = protocol.listen(socket_path, idle_seconds)
    main_thread = threading.get_ident()

    def cancel(signum: int, frame: Any) -> None:
        raise Cancelled()

    signal.signal(signal.SIGUSR1, cancel)
    worker = _Worker(key)
    try:
        while True:
            try:
                connection, _ = server.accept()
            except TimeoutError:
                with try_lock(Path(socket_path).with_suffix(".lock")) as locked:
                    if locked:  # no job is waiting for this slot
                        return
                continue
            with connection:
                connection.settimeout(None)
                if not _serve_one(connection, worker, main_thread):
                    return
    except Cancelled:
        return
    finally:
        for suffix in (".sock", ".json"):
            Path(socket_path).with_suffix(suffix).unlink(missing_ok=True)
        server.close()


def _serve_one(connection: socket.socket, worker: _Worker, main_thread: int) -> bool:
    """One job; False when the worker must exit afterwards."""
    frame = protocol.receive(connection)
    if frame is None:
        return True  # a connection probe
    request = json.loads(frame[1])
    if request.get("stop"):
        return False
    finished = threading.Lock()
    state = {"done": False}

    def watch() -> None:
        # The job sends nothing more: the read returns only when it goes away.
        with contextlib.suppress(OSError):
            connection.recv(1)
        with finished:
            if not state["done"]:
                signal.pthread_kill(main_thread, signal.SIGUSR1)

    threading.Thread(target=watch, daemon=True).start()
    result: dict[str, Any] = {"pid": os.getpid()}
    try:
        with log_to_stream(protocol.LogStream(connection)):
            result.update(worker.run(request), ok=True)
    except Cancelled:
        raise
    except Exception as error:  # noqa: BLE001 - reported to the job, which fails with it
        result.update(ok=False, type=type(error).__name__, message=str(error))
    with finished:
        state["done"] = True
    with contextlib.suppress(OSError):
        protocol.send(connection, protocol.RESULT, json.dumps(result).encode("utf-8"))
    return bool(result["ok"])


def main(argv: list[str] | None = None) -> None:
    socket_path, key, idle_seconds = argv or sys.argv[1:]
    serve(socket_path, key, float(idle_seconds))


if __name__ == "__main__":
    main()
