"""The task registry: a task name in config.yaml -> its :class:`Task`."""

from __future__ import annotations

from prettyflow.registry import Registry
from prettyflow.tasks.base import Task
from prettyflow.tasks.pos import PosTagging
from prettyflow.tasks.summarization import Summarization
from prettyflow.tasks.translation import Translation

TASKS: Registry[Task] = Registry("task")
TASKS.register("translation", Translation())
TASKS.register("summarization", Summarization())
TASKS.register("pos", PosTagging())

__all__ = ["TASKS", "Task"]
