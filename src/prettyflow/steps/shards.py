"""Shards: a step over one subset cut into jobs of a fixed number of data rows.

The decode (:func:`prettyflow.steps.decode.decode`) and the refined-model run
(:func:`prettyflow.steps.priors.run_refined_model`) take a ``shard`` (``index``,
``count``, ``size``; see :mod:`prettyflow.plan.compute`): each job reads the
whole data table, keeps its rows with :func:`shard_rows`, writes its own file and records
the shard in its provenance with :func:`shard_provenance`. :func:`gather_shards`
joins the files in data order with one provenance, byte-identical to one run
over the whole subset.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.io import read_parquet, read_provenance, write_parquet, write_text


def shard_rows(frame: pd.DataFrame, shard: Mapping[str, Any] | None) -> pd.DataFrame:
    """The rows of one shard: [index * size, (index + 1) * size) in data order.

    Boundaries depend only on the data and the shard size, never on the batch
    size or the device, so joined shards equal one run over the whole subset.
    A shard without a size (or no shard) is the whole frame.
    """
    if not shard or not shard.get("size"):
        return frame
    start = int(shard["index"]) * int(shard["size"])
    return frame.iloc[start : start + int(shard["size"])].reset_index(drop=True)


def shard_provenance(
    provenance: Mapping[str, Any], shard: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``provenance`` with the shard recorded (only a sized one: a whole subset has none).

    :func:`gather_shards` removes it again, so the joined file's provenance is
    that of one run over the whole subset.
    """
    provenance = dict(provenance)
    if shard and shard.get("size"):
        provenance["shard"] = dict(shard)
    return provenance


def gather_shards(
    data_path: str | Path,
    shard_paths: list[str | Path],
    output_path: str | Path,
    log_path: str | Path | None = None,
) -> pd.DataFrame:
    """One table from its shards, in data order, with one provenance.

    Every shard must come from the same run (the same provenance apart from its
    ``shard`` entry) and together they must hold each data row once. It runs
    inside the Snakemake process (a local rule), so it writes one summary line to
    ``log_path`` instead of redirecting the process's output.
    """
    joined, provenance = join_shards(data_path, shard_paths)
    write_parquet(joined, output_path, provenance)
    if log_path is not None:
        write_text(gather_summary(shard_paths, joined, output_path), log_path)
    return joined


def gather_summary(
    shard_paths: list[str | Path], joined: pd.DataFrame, output_path: str | Path
) -> str:
    """The line a gather writes to its log."""
    return (
        f"joined {len(shard_paths)} shard(s), {len(joined)} rows, into {output_path}\n"
    )


def join_shards(
    data_path: str | Path, shard_paths: list[str | Path]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The shards' rows in data order and their one provenance (see :func:`gather_shards`)."""
    data = read_parquet(data_path)
    tables, provenance = [], None
    for index, path in enumerate(shard_paths):
        shard_provenance = dict(read_provenance(path))
        recorded = shard_provenance.pop("shard", None)
        if recorded is not None and int(recorded["index"]) != index:
            raise InputError(
                f"holds shard {recorded['index']}, expected shard {index}",
                path=path,
                field="shard",
            )
        if provenance is None:
            provenance = shard_provenance
        elif shard_provenance != provenance:
            differing = sorted(
                key
                for key in provenance.keys() | shard_provenance.keys()
                if provenance.get(key) != shard_provenance.get(key)
            )
            raise InputError(
                f"made differently from shard 0 ({', '.join(differing)}); "
                "delete the shards and run them again",
                path=path,
                field="provenance",
            )
        table = read_parquet(path)
        if len(table):  # a shard past the end of the data is empty
            tables.append(table)
    if len(tables) > 1:
        joined = pd.concat(tables, ignore_index=True)
    else:
        joined = tables[0] if tables else read_parquet(shard_paths[0])
    if list(joined["id"]) != list(data["id"]):
        raise InputError(
            f"the {len(shard_paths)} shards hold {len(joined)} rows, the data "
            f"{len(data)}: they must hold every data row once, in order",
            path=data_path,
            field="id",
        )
    return joined, dict(provenance or {})
