"""Name -> implementation maps, one per extension point.

Benchmarks, tasks, prior sources, refined backends and metrics are each looked up
by the name the config uses. Adding one is a module that defines it and one
``REGISTRY.register(...)`` entry; nothing else branches on its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from prettyflow.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered ``name -> implementation`` map with a helpful unknown-name error."""

    def __init__(self, kind: str):
        self.kind = kind  # e.g. "benchmark", named in errors
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None) -> Callable[[T], T] | T:
        """``REGISTRY.register("name", obj)``, or as a decorator ``@REGISTRY.register("name")``."""
        if entry is not None:
            self._add(name, entry)
            return entry

        def decorator(obj: T) -> T:
            self._add(name, obj)
            return obj

        return decorator

    def _add(self, name: str, entry: T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise InputError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(self._entries)}",
                field=self.kind,
            ) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
