"""The run's summary, the report's first page: what was run and what it found.

What was run: the models (weights, revision, adapter), the data (benchmarks and
subsets), the commit of the workflow and a hash of the validated config. What it
found: each results table's %SFT per system with its 95% interval, read from the
tables' CSV files (:func:`prettyflow.tables.to_csv`).
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prettyflow.errors import InputError

SFT_MARK = "%SFT"
# %SFT (excl. flagged) repeats %SFT where no reference cell is near zero.
LEFT_OUT_MARKS = ("excl. flagged", " 95% low", " 95% high")


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the validated config (keys sorted): the same settings, the same hash."""
    text = json.dumps(config, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def workflow_commit(root: str | Path) -> str:
    """The checkout's commit (``+changes`` when files differ from it), or why not."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit}+changes" if dirty else commit


def headline(csv_path: str | Path) -> tuple[list[str], list[list[str]]]:
    """The %SFT columns of a results table's CSV (one per block) with their
    intervals: (headers, rows of ``[system, "value [low, high]", ...]``)."""
    with Path(csv_path).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise InputError("an empty table", path=csv_path)
    header = rows[0]
    columns = [
        index
        for index, name in enumerate(header)
        if SFT_MARK in name and not any(mark in name for mark in LEFT_OUT_MARKS)
    ]
    if not columns:
        raise InputError(f"no {SFT_MARK} column", path=csv_path, field=SFT_MARK)
    position = {name: index for index, name in enumerate(header)}

    def cell(row: list[str], index: int) -> str:
        value = row[index]
        low = position.get(f"{header[index]} 95% low")
        high = position.get(f"{header[index]} 95% high")
        if low is not None and high is not None and row[low] and row[high]:
            return f"{value} [{row[low]}, {row[high]}]"
        return value

    body = [[row[0]] + [cell(row, index) for index in columns] for row in rows[1:]]
    return [header[0]] + [header[index] for index in columns], body


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _model_rows(models: Mapping[str, Any]) -> list[list[str]]:
    """One row per model entry: its weights, revision and adapter (config's words)."""
    rows = []
    for name, model in models.items():
        if model.get("train"):
            weights = f"{model['base']} (as configured there)"
            instructions = model["train"].get("instructions")
            adapter = f"LoRA trained by the workflow on {instructions}"
        else:
            weights = str(model["path"])
            if model.get("gguf"):
                weights += f" (weights from GGUF {model['gguf'].get('file')})"
            adapter = str(model.get("adapter") or "none")
        if model.get("adapter") or model.get("train"):
            merged = model.get("merge_adapter", True)
            adapter += ", merged into the weights" if merged else ", as LoRA layers"
        rows.append([name, weights, str(model.get("revision") or ""), adapter])
    return rows


def summary_page(
    table_csvs: Sequence[str | Path],
    settings: Mapping[str, Any],
    config: Mapping[str, Any],
    root: str | Path,
) -> str:
    """The summary page (HTML). ``settings``: ``tables`` (``{title}`` per CSV, in
    order), ``models`` (name -> entry), ``data`` (rows of benchmark, task,
    subsets, samples), ``results_dir``."""
    tables = list(settings["tables"])
    if len(tables) != len(table_csvs):
        raise InputError(
            f"{len(table_csvs)} table files for {len(tables)} tables", field="tables"
        )
    parts = [
        "<h1>prettyflow run summary</h1>",
        "<p>PRETTY prefix-prior decoding (Zhan et al., 2024): the foundation model "
        "with one or a few prior tokens of the answer, against its SFT counterpart "
        "(%SFT: performance relative to the SFT reference, 95% paired-bootstrap "
        "intervals). Every table, figure and sample page is in the report's "
        "categories; the files are under <code>"
        f"{html.escape(str(settings['results_dir']))}/</code>.</p>",
        "<h2>Headline results: %SFT per system</h2>",
    ]
    for table, path in zip(tables, table_csvs):
        headers, rows = headline(path)
        parts += [f"<h3>{html.escape(table['title'])}</h3>", _table(headers, rows)]
    parts += [
        "<h2>What was run</h2>",
        "<h3>Models</h3>",
        _table(
            ["model", "weights", "revision", "adapter"],
            _model_rows(settings["models"]),
        ),
        "<h3>Data</h3>",
        _table(
            ["task", "benchmark", "subsets", "samples per subset"], settings["data"]
        ),
        "<h3>Workflow</h3>",
        _table(
            ["", ""],
            [
                ["commit", workflow_commit(root)],
                ["config sha256", config_hash(config)],
            ],
        ),
    ]
    from prettyflow.report import PAGE_STYLE

    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>prettyflow run summary</title><style>{PAGE_STYLE}</style></head>"
        "<body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
