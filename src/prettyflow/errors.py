"""Errors that point the user at the offending input."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input: names the file, and the line or field when known.

    ``str(error)`` reads ``path:line: field: message`` with the parts that are
    known, so that one line tells the user where to look and what was expected.
    """

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ):
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        self.message = message
        location = ":".join(
            part for part in (self.path, None if line is None else str(line)) if part
        )
        prefix = ": ".join(part for part in (location, field) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class MissingResourceError(RuntimeError):
    """An offline resource (model, metric checkpoint, package) is not available.

    The message must say how to provide the resource.
    """


def is_integer(value: object) -> bool:
    """An int of a config or JSON value; ``True`` is a bool there, not the number 1."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """An int or float of a config or JSON value (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
