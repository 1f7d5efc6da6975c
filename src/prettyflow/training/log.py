"""The training log: one CSV row per optimizer step, and its loss curve (PNG)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prettyflow.errors import MissingResourceError

LOG_COLUMNS: tuple[str, ...] = ("step", "epoch", "loss", "learning_rate", "tokens")


def _write_log(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise MissingResourceError(
            "the loss-curve plot needs matplotlib: pip install matplotlib"
        ) from error


def plot_loss_curve(
    rows: Sequence[Mapping[str, Any]], path: str | Path, title: str, note: str
) -> None:
    """A PNG of the training loss per optimizer step (``rows`` as in the CSV log)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    steps = [row["step"] for row in rows]
    losses = [row["loss"] for row in rows]
    axes.plot(steps, losses, marker="o" if len(rows) <= 60 else None, markersize=3)
    axes.set_title(title)
    axes.set_xlabel("optimizer step")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("training loss (mean CE per response token)")
    axes.grid(alpha=0.3)
    axes.text(
        0.98,
        0.95,
        note,
        transform=axes.transAxes,
        ha="right",
        va="top",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
