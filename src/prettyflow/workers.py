"""Warm decode workers: a process that keeps one model loaded across decode jobs.

Before its first token a decode job pays for importing torch and transformers,
parsing the tokenizer and loading the weights: 4.5 s for Gemma 3 270M on an
idle 2-core machine, twice that under load. With
``compute.decode.worker_idle_seconds`` above 0 a decode job hands its decode to
a worker that has the model loaded already (starting one when none is free),
copies the worker's log into its own, and fails with the worker's error. The
worker runs the same function (:func:`prettyflow.steps.decode.decode`) on the
same model, so the outputs are byte-identical to an in-process decode.

- **Identity.** A worker serves one key: the model settings, device, threads,
  working directory, interpreter, the environment variables that change loading,
  the installed versions of the model stack, and the sizes and modification
  times of the model's files and of prettyflow's source. Any change gives
  another key, so another worker.
- **One job at a time.** Slot i of a key is a lock file. A job holds the lock
  for its whole decode, so decodes running side by side use separate workers
  (slots 0, 1, ...), each with its own copy of the model.
- **Lifetime.** A worker exits after ``idle_seconds`` without a job, after any
  job that did not succeed (an interrupted decode may leave shared state
  changed), when its job disappears mid-decode (a killed job: the decode is
  interrupted and nothing is written), and when Snakemake's run ends
  (``onsuccess``/``onerror`` stop the idle workers of the working directory).
  A worker runs in a session of its own, so killing the Snakemake process tree
  interrupts its job and the worker then exits; a SLURM allocation ends its
  workers with it.

This module imports only the standard library at the top: the job side must
start in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

# Where the sockets, locks and worker logs live (node-local; private to the user).
WORKER_DIR_VARIABLE = "PRETTYFLOW_WORKER_DIR"
# Environment variables that change which model is loaded or how.
KEY_ENVIRONMENT = (
    "CUDA_VISIBLE_DEVICES",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "PYTORCH_CUDA_ALLOC_CONF",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
KEY_PACKAGES = ("torch", "transformers", "tokenizers", "peft", "accelerate", "gguf")
# Present when a CUDA (NVIDIA) or ROCm (AMD) driver is: "auto" may then pick a GPU.
ACCELERATOR_DEVICE_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/kfd")
MAX_SLOTS = 64
# The name of spare workers (no model yet) in the worker folder, and how many a run
# starts at most (each holds torch and transformers, about 0.5 GB).
SPARE = "spare"
MAX_SPARE_WORKERS = 4
# A spare's log line once its imports are done.
SPARE_READY = "spare worker ready"
# A new worker must listen within this time (it binds before importing anything).
LISTEN_TIMEOUT_SECONDS = 60.0
# How long stopping an idle worker may take before it is left to its idle timeout.
STOP_TIMEOUT_SECONDS = 30.0
# Unix socket paths are limited to 108 bytes on Linux.
MAX_SOCKET_PATH = 100
_HEADER = struct.Struct(">cI")
_LOG, _REQUEST, _RESULT, _BECAME = b"L", b"Q", b"R", b"B"


class WorkerError(RuntimeError):
    """The decode failed inside the worker (its traceback is in the job's log)."""


class Cancelled(BaseException):
    """The job went away mid-decode; raised in the worker's main thread."""


# ------------------------------------------------------------------ job side
def decode_job(
    kwargs: Mapping[str, Any],
    compute: Mapping[str, Any],
) -> None:
    """Run one decode job: in a warm worker when enabled, else in this process.

    ``kwargs`` are :func:`prettyflow.steps.decode.decode`'s arguments (JSON
    values), ``compute`` the config's ``compute`` section with the job's
    ``threads``.
    """
    idle_seconds = float((compute.get("decode") or {}).get("worker_idle_seconds", 0))
    if idle_seconds <= 0:
        from prettyflow.steps.decode import decode

        decode(**kwargs, compute=compute)
        return
    run_in_worker(
        kwargs={**kwargs, "compute": dict(compute)},
        model_settings=kwargs["settings"]["model"],
        compute=compute,
        idle_seconds=idle_seconds,
    )


def run_in_worker(
    kwargs: Mapping[str, Any],
    model_settings: Mapping[str, Any],
    compute: Mapping[str, Any],
    idle_seconds: float,
    directory: Path | None = None,
) -> dict[str, Any]:
    """Decode ``kwargs`` in a free worker for this model; its log goes to stdout.

    Returns the worker's result record (``pid``, ``reused``, ``load_seconds``).
    """
    directory = directory or worker_dir()
    key, identity = worker_key(model_settings, compute)
    request = json.dumps(
        {"key": key, "identity": identity, "kwargs": dict(kwargs)}, sort_keys=True
    ).encode("utf-8")
    with _slot(directory, key) as slot:
        connection, started = _connect_or_start(
            directory, key, slot, identity, idle_seconds
        )
        with connection:
            _send(connection, _REQUEST, request)
            result = _receive_result(connection, directory, key, slot)
    if not result.get("ok"):
        raise WorkerError(
            f"the decode failed in worker pid {result.get('pid')}: "
            f"{result.get('type')}: {result.get('message')}"
        )
    result["started"] = started
    return result


def worker_dir() -> Path:
    """The node-local folder of the workers' sockets, locks and logs (mode 700)."""
    root = os.environ.get(WORKER_DIR_VARIABLE) or os.path.join(
        tempfile.gettempdir(), f"prettyflow-workers-{os.getuid()}"
    )
    path = Path(root)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = path.stat()
    if status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise WorkerError(
            f"{path} must be a folder of yours that only you can use (mode 700); "
            f"remove it or set {WORKER_DIR_VARIABLE} to another folder"
        )
    if len(str(path / f"{'0' * 20}-{MAX_SLOTS}.sock")) > MAX_SOCKET_PATH:
        raise WorkerError(
            f"{path} is too long for a Unix socket path; set {WORKER_DIR_VARIABLE} "
            "to a shorter folder"
        )
    return path


def worker_key(
    model_settings: Mapping[str, Any], compute: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The key of the worker that may serve a decode, and what it was made of."""
    model = dict(model_settings)
    model_paths = [
        model.get(name)
        for name in ("local_dir", "path", "adapter", "chat_template")
        if model.get(name)
    ]
    identity = {
        **process_identity(),
        "model": model,
        "device": str(compute.get("device", "auto")),
        "threads": int(compute.get("threads", 1)),
        "files": {str(path): _fingerprint(Path(path)) for path in model_paths},
    }
    digest = hashlib.sha256(
        json.dumps(identity, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()
    return digest[:20], identity


def process_identity(
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What a worker's process shares with its jobs, whatever the model (JSON values)."""
    environment = os.environ if environment is None else environment
    return {
        "cwd": os.getcwd(),
        "python": sys.executable,
        "environment": {
            name: environment[name] for name in KEY_ENVIRONMENT if name in environment
        },
        "versions": {name: _installed_version(name) for name in KEY_PACKAGES},
        "code": _fingerprint(Path(__file__).parent),
    }


def spare_count(decode_models: list[str], parallel: int) -> int:
    """How many spares a run starts: a worker for each model per decode that can run
    side by side (each job holds its worker), no more than decodes, at most
    :data:`MAX_SPARE_WORKERS`. ``decode_models`` has the model of each decode job."""
    return min(
        len(decode_models), parallel * len(set(decode_models)), MAX_SPARE_WORKERS
    )


def start_spare_workers(
    count: int,
    idle_seconds: float,
    threads: int = 1,
    directory: Path | None = None,
) -> list[int]:
    """Have ``count`` spare workers: they import torch and transformers now, and
    the first decode of a model that finds no worker of its own takes one over
    instead of starting a new interpreter (Snakemake's ``onstart``).

    Spares of this process's identity that are still waiting count; the new
    ones get the thread variables Snakemake gives a job of ``threads`` threads.
    Returns the pids of the new ones.
    """
    directory = directory or worker_dir()
    environment = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    identity = process_identity(environment)
    base = json.loads(json.dumps(identity))
    waiting = 0
    for record_path in directory.glob(f"{SPARE}-*.json"):
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(record_path.read_text(encoding="utf-8"))
            alive = record_path.with_suffix(".sock").exists()
            waiting += alive and record.get("base") == base
    pids: list[int] = []
    for index in range(MAX_SLOTS):
        if waiting + len(pids) >= count:
            break
        socket_path = directory / f"{SPARE}-{index}.sock"
        with _try_lock(socket_path.with_suffix(".lock")) as locked:
            if not locked or socket_path.exists():
                continue  # in use, or a spare already
            process = _spawn(socket_path, SPARE, idle_seconds, environment)
            record = {"pid": process.pid, "cwd": identity["cwd"], "base": identity}
            socket_path.with_suffix(".json").write_text(
                json.dumps(record), encoding="utf-8"
            )
            pids.append(process.pid)
    return pids


def stop_idle_workers(directory: Path | None = None, cwd: str | None = None) -> int:
    """Stop the workers no job is using (of the working directory ``cwd`` if given).

    Snakemake's ``onsuccess``/``onerror`` call it so a finished run leaves no
    model in memory. Returns how many were stopped.
    """
    directory = directory or worker_dir()
    stopped = 0
    for record_path in sorted(directory.glob("*.json")):
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if cwd is not None and record.get("cwd") != cwd:
            continue
        lock_path = record_path.with_suffix(".lock")
        with _try_lock(lock_path) as locked:
            if not locked:
                continue  # a job is using it
            socket_path = record_path.with_suffix(".sock")
            try:
                with _open_connection(socket_path) as connection:
                    connection.settimeout(STOP_TIMEOUT_SECONDS)
                    _send(connection, _REQUEST, json.dumps({"stop": True}).encode())
                    connection.recv(1)  # returns once the worker closed it
                stopped += 1
            except OSError:
                pass
            for path in (socket_path, record_path):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
    return stopped


@contextlib.contextmanager
def _slot(directory: Path, key: str) -> Iterator[int]:
    for slot in range(MAX_SLOTS):
        with _try_lock(directory / f"{key}-{slot}.lock") as locked:
            if locked:
                yield slot
                return
    raise WorkerError(f"all {MAX_SLOTS} worker slots of this model are in use")


@contextlib.contextmanager
def _try_lock(path: Path) -> Iterator[bool]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)


def _connect_or_start(
    directory: Path,
    key: str,
    slot: int,
    identity: Mapping[str, Any],
    idle_seconds: float,
) -> tuple[socket.socket, bool]:
    socket_path = directory / f"{key}-{slot}.sock"
    with contextlib.suppress(OSError):
        return _open_connection(socket_path), False
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # a worker that ended without removing it
    if _may_use_accelerator(identity["device"]):
        # An idle worker of another model would hold accelerator memory.
        stop_idle_workers(directory)
    record_path = directory / f"{key}-{slot}.json"
    claimed = _claim_spare(directory, key, socket_path)
    if claimed is not None:
        connection, pid = claimed
        record = {"pid": pid, "cwd": identity["cwd"], "model": identity["model"]}
        record_path.write_text(json.dumps(record), encoding="utf-8")
        return connection, True
    process = _spawn(socket_path, key, idle_seconds)
    log_path = socket_path.with_suffix(".log")
    record = {"pid": process.pid, "cwd": identity["cwd"], "model": identity["model"]}
    record_path.write_text(json.dumps(record), encoding="utf-8")
    deadline = time.monotonic() + LISTEN_TIMEOUT_SECONDS
    while True:
        with contextlib.suppress(OSError):
            return _open_connection(socket_path), True
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise WorkerError(
                f"the decode worker did not start; its log {log_path} ends:\n"
                + _tail(log_path)
            )
        time.sleep(0.01)


def _spawn(
    socket_path: Path,
    key: str,
    idle_seconds: float,
    environment: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """A worker process in a session of its own, its output in ``<socket>.log``."""
    with open(socket_path.with_suffix(".log"), "w", encoding="utf-8") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prettyflow.workers",
                str(socket_path),
                key,
                str(idle_seconds),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=None if environment is None else dict(environment),
        )


def _claim_spare(
    directory: Path, key: str, socket_path: Path
) -> tuple[socket.socket, int] | None:
    """Turn a spare worker of this process's identity into the worker of ``key``
    at ``socket_path``; its connection (for the job's request) and pid, or None."""
    base = json.loads(json.dumps(process_identity()))
    for record_path in sorted(directory.glob(f"{SPARE}-*.json")):
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if record.get("base") != base:
            continue  # another interpreter, environment or code version
        with _try_lock(record_path.with_suffix(".lock")) as locked:
            if not locked:
                continue
            try:
                connection = _open_connection(record_path.with_suffix(".sock"))
            except OSError:
                continue
            try:
                become = {"become": key, "socket": str(socket_path)}
                _send(connection, _REQUEST, json.dumps(become).encode("utf-8"))
                # Held until the spare answers: by then it no longer listens as a spare.
                frame = _receive(connection)
            except OSError:
                frame = None
            if frame is None or frame[0] != _BECAME:
                connection.close()
                continue
            return connection, int(record["pid"])
    return None


def _may_use_accelerator(device: str) -> bool:
    """Whether a worker on ``device`` may hold GPU memory (without importing torch)."""
    if device == "auto":
        return any(Path(name).exists() for name in ACCELERATOR_DEVICE_FILES)
    return device != "cpu"


def _open_connection(path: Path) -> socket.socket:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        raise
    return connection


def _receive_result(
    connection: socket.socket, directory: Path, key: str, slot: int
) -> dict[str, Any]:
    while True:
        frame = _receive(connection)
        if frame is None:
            log_path = directory / f"{key}-{slot}.log"
            raise WorkerError(
                "the decode worker ended without a result (killed, or out of "
                f"memory?); its log {log_path} ends:\n" + _tail(log_path)
            )
        kind, payload = frame
        if kind == _LOG:
            sys.stdout.write(payload.decode("utf-8", errors="replace"))
            sys.stdout.flush()
        elif kind == _RESULT:
            return json.loads(payload)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _fingerprint(path: Path) -> Any:
    """Sizes and modification times of a file or of a folder's files (None: absent)."""
    if path.is_file():
        status = path.stat()
        return [status.st_size, status.st_mtime_ns]
    if not path.is_dir():
        return None
    entries = []
    for root, folders, files in os.walk(path):
        folders[:] = sorted(name for name in folders if name != "__pycache__")
        for name in sorted(files):
            status = os.stat(os.path.join(root, name))
            relative = os.path.relpath(os.path.join(root, name), path)
            entries.append([relative, status.st_size, status.st_mtime_ns])
    return entries


def _installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# ------------------------------------------------------------------- framing
def _send(connection: socket.socket, kind: bytes, payload: bytes) -> None:
    connection.sendall(_HEADER.pack(kind, len(payload)) + payload)


def _receive(connection: socket.socket) -> tuple[bytes, bytes] | None:
    header = _receive_exactly(connection, _HEADER.size)
    if header is None:
        return None
    kind, length = _HEADER.unpack(header)
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


class _LogStream:
    """A text stream whose writes go to the job as log frames."""

    def __init__(self, connection: socket.socket):
        self.connection = connection

    def write(self, text: str) -> int:
        if text:
            _send(self.connection, _LOG, text.encode("utf-8", errors="replace"))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


# --------------------------------------------------------------- worker side
class _Worker:
    """The loaded model of one key (a :class:`prettyflow.backends.ModelBackend`), and
    the decodes it runs."""

    def __init__(self, key: str):
        self.key = key
        self.loaded: tuple[str, Any] | None = None
        self.load_seconds = 0.0
        self.was_spare = key == SPARE

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
        if not reused and self.was_spare:
            state += "; a spare worker, imports done"
        print(f"decoding in warm worker pid {os.getpid()} ({state})", flush=True)
        decode(**request["kwargs"], load_model=self.load)
        if self.loaded is not None and self.loaded[1].device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        return {"reused": reused, "load_seconds": self.load_seconds}


def serve(socket_path: str, key: str, idle_seconds: float) -> None:
    """Serve decodes of one key on ``socket_path`` until idle, failed or stopped.

    A spare (``key`` == :data:`SPARE`) first imports the decoding stack, then
    waits to be taken over by a job's ``become`` request, which gives it its key
    and socket; from then on it is an ordinary worker.
    """
    from prettyflow.logs import log_to_stream

    server = _listen(socket_path, idle_seconds)
    main_thread = threading.get_ident()

    def cancel(signum: int, frame: Any) -> None:
        raise Cancelled()

    signal.signal(signal.SIGUSR1, cancel)
    if key == SPARE:
        # What loading any model needs; the model's own module comes with it.
        import transformers.modeling_utils  # noqa: F401

        import prettyflow.backends  # noqa: F401
        import prettyflow.decode  # noqa: F401
        import prettyflow.models  # noqa: F401
        import prettyflow.steps.decode  # noqa: F401

        print(SPARE_READY, flush=True)
    worker = _Worker(key)
    try:
        while True:
            try:
                connection, _ = server.accept()
            except TimeoutError:
                with _try_lock(Path(socket_path).with_suffix(".lock")) as locked:
                    if locked:  # no job is waiting for this slot
                        return
                continue
            with connection:
                connection.settimeout(None)
                if worker.key == SPARE:
                    frame = _receive(connection)
                    if frame is None:
                        continue
                    request = json.loads(frame[1])
                    if "become" not in request:
                        return  # stop
                    # Stop listening as a spare, listen as the job's worker.
                    _remove_files(socket_path)
                    server.close()
                    socket_path = request["socket"]
                    server = _listen(socket_path, idle_seconds)
                    worker.key = request["become"]
                    _send(connection, _BECAME, b"{}")
                if not _serve_one(connection, worker, main_thread, log_to_stream):
                    return
    except Cancelled:
        return
    finally:
        _remove_files(socket_path)
        server.close()


def _listen(socket_path: str, idle_seconds: float) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(8)
    server.settimeout(idle_seconds)
    return server


def _remove_files(socket_path: str) -> None:
    for suffix in (".sock", ".json"):
        Path(socket_path).with_suffix(suffix).unlink(missing_ok=True)


def _serve_one(
    connection: socket.socket,
    worker: _Worker,
    main_thread: int,
    log_to_stream: Callable[..., Any],
) -> bool:
    """One job; False when the worker must exit afterwards."""
    frame = _receive(connection)
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
        with log_to_stream(_LogStream(connection)):
            result.update(worker.run(request), ok=True)
    except Cancelled:
        raise
    except Exception as error:  # noqa: BLE001 - reported to the job, which fails with it
        result.update(ok=False, type=type(error).__name__, message=str(error))
    with finished:
        state["done"] = True
    with contextlib.suppress(OSError):
        _send(connection, _RESULT, json.dumps(result).encode("utf-8"))
    return bool(result["ok"])


def main(argv: list[str] | None = None) -> None:
    socket_path, key, idle_seconds = argv or sys.argv[1:]
    serve(socket_path, key, float(idle_seconds))


if __name__ == "__main__":
    main()
