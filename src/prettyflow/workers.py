"""Warm decode workers: a process that keeps one model loaded across decode jobs.

Before its first token a decode job pays for importing torch and transformers,
parsing the tokenizer and loading the weights: 4.5 s for Gemma 3 270M on an
idle 2-core machine, twice that under load. With
``compute.decode.worker_idle_seconds`` above 0 a decode job hands its decode to
a worker that has the model loaded already (starting one when none is free),
copies the worker's log into its own, and fails with the worker's error. The
worker (:mod:`prettyflow.worker_server`, speaking :mod:`prettyflow.worker_protocol`)
runs the same function (:func:`prettyflow.steps.decode.decode`) on the same model,
so the outputs are byte-identical to an in-process decode.

Snakemake's own service rules cannot hold it: a service job runs at once with
every job that consumes it, like a pipe group, so the decodes of one model would
all need a core at the same time (5 cores for 4 decodes; 2 locally), and a
service serves only the jobs of its own group.

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
- **GPU memory.** Before a new worker loads a model where a GPU may be, the job
  stops the idle workers of other models that its own run (:data:`RUN_VARIABLE`)
  used last; busy workers and those of other runs are left alone.

This module imports only the standard library at the top: the job side must
start in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from prettyflow import worker_protocol as protocol

# Where the sockets, locks and worker logs live (node-local; private to the user).
WORKER_DIR_VARIABLE = "PRETTYFLOW_WORKER_DIR"
# Names the Snakemake run a job belongs to (set when the workflow is parsed; its
# jobs inherit it): a GPU eviction touches only the workers of its own run.
RUN_VARIABLE = "PRETTYFLOW_RUN"
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
# A new worker must listen within this time (it binds before importing anything).
LISTEN_TIMEOUT_SECONDS = 60.0
# How long stopping an idle worker may take before it is left to its idle timeout.
STOP_TIMEOUT_SECONDS = 30.0
# Unix socket paths are limited to 108 bytes on Linux.
MAX_SOCKET_PATH = 100


class WorkerError(RuntimeError):
    """The decode failed inside the worker (its traceback is in the job's log)."""


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
            protocol.send(connection, protocol.REQUEST, request)
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


def new_run_id() -> str:
    """An id for a new Snakemake run (:data:`RUN_VARIABLE`)."""
    return uuid.uuid4().hex


def run_id() -> str:
    """The Snakemake run this process belongs to ("" outside one)."""
    return os.environ.get(RUN_VARIABLE, "")


def stop_idle_workers(
    directory: Path | None = None,
    *,
    cwd: str | None = None,
    run: str | None = None,
    except_key: str | None = None,
) -> int:
    """Stop the workers no job is using: of the working directory ``cwd`` and of
    the run ``run`` if given, except those of the key ``except_key``.

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
        if (
            (cwd is not None and record.get("cwd") != cwd)
            or (run is not None and record.get("run") != run)
            or (except_key is not None and record.get("key") == except_key)
        ):
            continue
        with try_lock(record_path.with_suffix(".lock")) as locked:
            if locked:  # else a job is using it
                stopped += _stop(record_path)
    return stopped


def _stop(record_path: Path) -> bool:
    """Ask the worker of ``record_path`` (whose slot lock the caller holds) to exit."""
    socket_path = record_path.with_suffix(".sock")
    try:
        with protocol.open_connection(socket_path) as connection:
            connection.settimeout(STOP_TIMEOUT_SECONDS)
            protocol.send(
                connection, protocol.REQUEST, json.dumps({"stop": True}).encode()
            )
            connection.recv(1)  # returns once the worker closed it
        stopped = True
    except OSError:
        stopped = False
    for path in (socket_path, record_path):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return stopped


@contextlib.contextmanager
def _slot(directory: Path, key: str) -> Iterator[int]:
    for slot in range(MAX_SLOTS):
        with try_lock(directory / f"{key}-{slot}.lock") as locked:
            if locked:
                yield slot
                return
    raise WorkerError(f"all {MAX_SLOTS} worker slots of this model are in use")


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Hold the lock file ``path`` if no other process does (yields whether it does)."""
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
    """A connection to the worker of ``key`` in ``slot`` (whose lock the caller
    holds), started if there is none; and whether it was started."""
    socket_path = directory / f"{key}-{slot}.sock"
    record_path = socket_path.with_suffix(".json")
    run = run_id()
    with contextlib.suppress(OSError):
        connection = protocol.open_connection(socket_path)
        with contextlib.suppress(OSError, ValueError):  # now a worker of this run
            record = json.loads(record_path.read_text(encoding="utf-8"))
            record_path.write_text(json.dumps({**record, "run": run}), encoding="utf-8")
        return connection, False
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # a worker that ended without removing it
    if _may_use_accelerator(identity["device"]):
        # An idle worker of another model would hold accelerator memory.
        stop_idle_workers(directory, run=run, except_key=key)
    process = _spawn(socket_path, key, idle_seconds)
    # What others need to know of a worker: its pid, folder, key and last run.
    record = {"pid": process.pid, "cwd": identity["cwd"], "key": key, "run": run}
    record_path.write_text(
        json.dumps({**record, "model": identity["model"]}), encoding="utf-8"
    )
    log_path = socket_path.with_suffix(".log")
    deadline = time.monotonic() + LISTEN_TIMEOUT_SECONDS
    while True:
        with contextlib.suppress(OSError):
            return protocol.open_connection(socket_path), True
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise WorkerError(
                f"the decode worker did not start; its log {log_path} ends:\n"
                + _tail(log_path)
            )
        time.sleep(0.01)


def _spawn(socket_path: Path, key: str, idle_seconds: float) -> subprocess.Popen:
    """A worker process in a session of its own, its output in ``<socket>.log``."""
    command = [sys.executable, "-m", "prettyflow.worker_server", str(socket_path)]
    with open(socket_path.with_suffix(".log"), "w", encoding="utf-8") as log:
        return subprocess.Popen(
            [*command, key, str(idle_seconds)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _may_use_accelerator(device: str) -> bool:
    """Whether a worker on ``device`` may hold GPU memory (without importing torch)."""
    if device == "auto":
        return any(Path(name).exists() for name in ACCELERATOR_DEVICE_FILES)
    return device != "cpu"


def _receive_result(
    connection: socket.socket, directory: Path, key: str, slot: int
) -> dict[str, Any]:
    while True:
        frame = protocol.receive(connection)
        if frame is None:
            log_path = directory / f"{key}-{slot}.log"
            raise WorkerError(
                "the decode worker ended without a result (killed, or out of "
                f"memory?); its log {log_path} ends:\n" + _tail(log_path)
            )
        kind, payload = frame
        if kind == protocol.LOG:
            sys.stdout.write(payload.decode("utf-8", errors="replace"))
            sys.stdout.flush()
        elif kind == protocol.RESULT:
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
