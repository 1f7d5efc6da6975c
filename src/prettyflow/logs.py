"""Job logging: everything a step prints goes to its Snakemake ``log:`` file."""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def job_log(path: str | Path) -> Iterator[logging.Logger]:
    """Send stdout, stderr (tqdm progress bars) and logging to ``path``.

    A failing step writes its traceback to the log before re-raising, so the log
    alone explains the failure on a cluster node.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", buffering=1) as stream:
        with log_to_stream(stream) as log:
            yield log


@contextlib.contextmanager
def log_to_stream(stream: TextIO) -> Iterator[logging.Logger]:
    """:func:`job_log` onto an open text stream (a warm worker's link to its job)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            try:
                yield logging.getLogger("prettyflow")
            except BaseException:
                traceback.print_exc(file=stream)
                raise
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
