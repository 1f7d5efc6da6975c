"""The Hugging Face hub seen from a machine that may be offline (light: no torch).

Models (:mod:`prettyflow.models`) and the COMET metric (:mod:`prettyflow.metrics.comet`,
which runs in an environment of its own) decide with these whether they may download.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

# Seconds a host-name lookup may take before the hub counts as unreachable.
DNS_TIMEOUT = 1.0
_TRUE = ("1", "true", "yes", "on")
# When a model's path (or adapter) is a local path rather than a hub id; said in
# the errors about a local folder that does not exist.
LOCAL_PATH_RULE = (
    "a path that starts with /, . or ~, has more than one /, or ends with .gguf "
    "is a local path; name or owner/name is a hub id"
)


def is_local_path(path: str) -> bool:
    """Whether a model's ``path`` (or adapter) means a local file or folder.

    Hub ids are ``name`` or ``owner/name``; anything else is a file system path
    (:data:`LOCAL_PATH_RULE`). An existing folder named like a hub id is local
    too, but the callers look at the file system first.
    """
    return (
        path.startswith(("/", ".", "~"))
        or path.count("/") > 1
        or path.endswith(".gguf")
    )


def hub_is_offline(timeout: float = DNS_TIMEOUT) -> bool:
    """True when ``HF_HUB_OFFLINE`` is set or the hub's host does not resolve in time.

    The name lookup is bounded by ``timeout`` seconds, so an offline machine whose
    resolver hangs still gets an answer at once.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    if not host:
        return True
    resolved: list[bool] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, 443)
        except OSError:
            resolved.append(False)
        else:
            resolved.append(True)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout)
    return not (resolved and resolved[0])


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, as huggingface_hub resolves it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def cached_snapshot(repo_id: str, relative: str | Path) -> Path | None:
    """``relative`` inside a cached snapshot of the model repo ``repo_id``, if any."""
    repo = hf_hub_cache() / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    preferred = None
    ref = repo / "refs" / "main"
    if ref.is_file():
        preferred = ref.read_text().strip()
    candidates = sorted(snapshots.iterdir(), key=lambda p: p.name != preferred)
    for snapshot in candidates:
        # Snapshot files are symlinks into blobs/: is_file() is False when the
        # blob is missing (an interrupted download).
        if (snapshot / relative).is_file():
            return snapshot
    return None
