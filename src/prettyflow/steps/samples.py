"""Sample page step: a table's data, decodes, per-sample scores and priors -> one page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.frames import aligned
from prettyflow.io import read_parquet, write_text


def _paired(
    paths: Sequence[str | Path], keys: list[tuple[str, str]], what: str
) -> dict[tuple[str, str], str | Path]:
    if len(paths) != len(keys):
        raise InputError(
            f"{len(paths)} {what} files for {len(keys)} (subset, system) pairs",
            field=what,
        )
    return dict(zip(keys, paths))


def sample_page(
    data_paths: Sequence[str | Path],
    decode_paths: Sequence[str | Path],
    score_paths: Sequence[str | Path],
    prior_paths: Sequence[str | Path],
    settings: Mapping[str, Any],
    html_path: str | Path,
) -> dict[str, Any]:
    """Write the sample page of one table (:mod:`prettyflow.sample_pages`).

    ``settings``: ``task``, ``title``, ``subsets``, ``systems`` (``{name, label,
    chat, prior_source}``), ``metrics``, ``labels``. The files come in the
    plan's order: ``data_paths`` one per subset; ``decode_paths`` and
    ``score_paths`` (the per-sample score tables) one per (subset, system),
    subsets outermost, leaving out the cells of ``not_configured``; ``prior_paths`` one per (subset, system with a prior).
    Every table is matched to the data rows by id. Returns the page's payload.
    """
    from prettyflow.sample_pages import page_payload, render_page
    from prettyflow.tasks import TASKS

    task = TASKS.get(settings["task"])
    subsets = list(settings["subsets"])
    systems = [system["name"] for system in settings["systems"]]
    with_prior = [s["name"] for s in settings["systems"] if s.get("prior_source")]
    if len(data_paths) != len(subsets):
        raise InputError(
            f"{len(data_paths)} data tables for {len(subsets)} subsets", field="data"
        )
    # A cell the table marks not configured (a prior not applied there) has no files.
    absent = {(c["subset"], c["system"]) for c in settings.get("not_configured", [])}
    pairs = [
        (subset, system)
        for subset in subsets
        for system in systems
        if (subset, system) not in absent
    ]
    prior_pairs = [
        (subset, system)
        for subset in subsets
        for system in with_prior
        if (subset, system) not in absent
    ]
    data: dict[str, pd.DataFrame] = {}
    sources, references, ids = {}, {}, {}
    for subset, path in zip(subsets, data_paths):
        frame = read_parquet(path, "data table")
        task.check_columns(frame, path)
        data[subset] = frame
        sources[subset], references[subset] = task.sample_texts(frame)
        ids[subset] = list(frame["id"])

    def read_aligned(paths, keys, what, columns=()):
        tables = {}
        for key, path in _paired(paths, keys, what).items():
            table = read_parquet(path, what)
            missing = [column for column in columns if column not in table.columns]
            if missing:
                raise InputError(
                    f"the {what} has no column(s) {', '.join(missing)}",
                    path=path,
                    field=missing[0],
                )
            tables[key] = aligned(data[key[0]], table, f"the {what}", path)
        return tables

    payload = page_payload(
        settings,
        sources,
        references,
        ids,
        read_aligned(decode_paths, pairs, "decode table", ("output",)),
        read_aligned(score_paths, pairs, "per-sample score table"),
        read_aligned(prior_paths, prior_pairs, "prior table"),
    )
    write_text(render_page(payload), html_path)
    return payload
