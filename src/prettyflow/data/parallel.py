"""Checks shared by the readers of line-aligned parallel files (Flores, WMT)."""

from __future__ import annotations

from pathlib import Path

from prettyflow.errors import InputError


def check_segments(path: Path, lines: list[str], unit: str = "sentence") -> None:
    """A file holds one non-empty ``unit`` per line, and at least one."""
    if not lines:
        raise InputError(f"empty file: expected one {unit} per line", path=path)
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            raise InputError(
                f"empty or whitespace-only line where a {unit} is expected",
                path=path,
                line=number,
            )


def check_aligned(
    source_path: Path, source: list[str], target_path: Path, target: list[str]
) -> None:
    """Both files have the same number of lines; else name the first line without a pair."""
    if len(source) == len(target):
        return
    (longer, longer_count), (shorter, shorter_count) = sorted(
        ((source_path, len(source)), (target_path, len(target))),
        key=lambda item: -item[1],
    )
    raise InputError(
        f"files are not aligned: {longer} has {longer_count} lines but {shorter} has "
        f"{shorter_count}; line {shorter_count + 1} of {longer} has no counterpart",
        path=longer,
        line=shorter_count + 1,
    )


def check_max_samples(max_samples: object) -> None:
    if max_samples is not None and (
        isinstance(max_samples, bool)
        or not isinstance(max_samples, int)
        or max_samples < 1
    ):
        raise InputError(
            f"must be a positive integer or None, got {max_samples!r}",
            field="max_samples",
        )
