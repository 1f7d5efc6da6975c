"""Table steps: corpus scores -> the paper's tables (CSV, Markdown, LaTeX)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.bootstrap import bootstrap_table
from prettyflow.errors import InputError
from prettyflow.frames import aligned, check_column_kinds
from prettyflow.io import atomic_paths, read_parquet, write_text
from prettyflow.metrics import METRICS
from prettyflow.metrics.pos import prior_tag_accuracy
from prettyflow.model_description import describe_model
from prettyflow.report import titled_markdown_page
from prettyflow.score_files import read_score_file
from prettyflow.tables import (
    NOT_AVAILABLE,
    build_table,
    render_latex,
    render_markdown,
    to_csv,
)


def results_table(
    score_paths: Sequence[str | Path],
    settings: Mapping[str, Any],
    csv_path: str | Path,
    markdown_path: str | Path,
    latex_path: str | Path,
    sample_paths: Sequence[str | Path] | None = None,
    html_path: str | Path | None = None,
):
    """One task's table in the paper's layout, plus provenance and diagnostics in the Markdown.

    The CSV, LaTeX, Markdown and (with ``html_path``) the Markdown's HTML page
    are written together or not at all.

    With ``settings["bootstrap"]`` (``resamples``, ``seed``, ``confidence``), every
    value gets a paired-bootstrap interval and every non-SFT system a p-value
    against the reference (:mod:`prettyflow.bootstrap`), computed from
    ``sample_paths``: the per-sample Parquet files (``score_samples``), the i-th
    belonging to the i-th score JSON of ``score_paths``.

    ``settings["not_configured"]`` lists the (``system``, ``subset``) cells with no
    score file, each with the ``reason`` its ``n/a`` footnote gives.

    Long because it reads, checks and aligns every score file of a table before building
    it.
    """
    results = [read_score_file(path, settings["metrics"]) for path in score_paths]
    _check_one_file_per_cell(results, score_paths)
    entries = [
        {
            "system": result["system"],
            "subset": result["subset"],
            "metric": metric,
            "score": result["scores"][metric]["score"],
            "reason": result["scores"][metric].get("reason"),
        }
        for result in results
        for metric in settings["metrics"]
    ]
    # A system not decoded on a subset (a prior that is not configured there): its
    # cells are n/a, with the reason as their footnote.
    entries += [
        {**cell, "metric": metric, "score": None}
        for cell in settings.get("not_configured", [])
        for metric in settings["metrics"]
    ]
    table_arguments = dict(
        subsets=settings["subsets"],
        metrics=settings["metrics"],
        systems=settings["systems"],
        reference_system=settings["reference_system"],
        sft_systems=settings["sft_systems"],
        sft_ratio=settings["sft_ratio"],
        near_zero_threshold=settings["near_zero_threshold"],
        labels=dict(settings["labels"]),
        # The table's definition (prettyflow.tables; the plan gives its reference).
        sft_metrics=settings.get("sft_metrics"),
        reference=settings["reference"],
        blocks=settings.get("blocks"),
        lower_is_better=lower_is_better(settings["metrics"]),
    )
    if settings.get("bootstrap") is None:
        table = build_table(entries, **table_arguments)
    else:
        table = bootstrap_table(
            entries,
            _per_sample_tables(results, score_paths, sample_paths),
            bootstrap=settings["bootstrap"],
            **table_arguments,
        )
    sections = [
        f"## {settings.get('title') or _default_title(settings)}\n",
        render_markdown(table),
        "### Diagnostics\n",
        _diagnostics_markdown(results, settings),
        "### Provenance\n",
        _provenance_markdown(results, settings),
    ]
    _write_table_group(
        "\n".join(sections),
        render_latex(table),
        csv_path,
        markdown_path,
        latex_path,
        html_path,
        write_csv=lambda tmp: to_csv(table, tmp),
    )
    return table


def lower_is_better(metrics: Sequence[str]) -> list[str]:
    """The metrics of ``metrics`` where lower is better (the metric registry's)."""
    return [m for m in metrics if m in METRICS and METRICS.get(m).lower_is_better]


def _write_table_group(
    markdown: str,
    latex: str,
    csv_path: str | Path,
    markdown_path: str | Path,
    latex_path: str | Path,
    html_path: str | Path | None,
    write_csv: Callable[[Path], None],
) -> None:
    """A table's files, all or none (a later failure leaves no earlier file behind)."""
    paths = (csv_path, markdown_path, latex_path, html_path)
    with atomic_paths(*paths) as (csv_tmp, markdown_tmp, latex_tmp, html_tmp):
        write_csv(csv_tmp)
        write_text(markdown, markdown_tmp)
        write_text(latex, latex_tmp)
        if html_tmp is not None:
            page = titled_markdown_page(markdown, Path(markdown_path).stem)
            write_text(page, html_tmp)


def _check_one_file_per_cell(
    results: Sequence[Mapping[str, Any]], score_paths: Sequence[str | Path]
) -> None:
    first: dict[tuple[str, str], str | Path] = {}
    for result, path in zip(results, score_paths):
        key = (result["system"], result["subset"])
        if key in first:
            raise InputError(
                f"a second score file for system {key[0]!r} on {key[1]!r} (the first: "
                f"{first[key]})",
                path=path,
                field="system",
            )
        first[key] = path


def _per_sample_tables(
    results: list[dict[str, Any]],
    score_paths: Sequence[str | Path],
    sample_paths: Sequence[str | Path] | None,
) -> dict[tuple[str, str], pd.DataFrame]:
    """Each score JSON's per-sample table, keyed by (system, subset)."""
    if sample_paths is None:
        raise InputError(
            "bootstrap intervals need the per-sample score files (sample_paths)",
            field="bootstrap",
        )
    if len(sample_paths) != len(score_paths):
        raise InputError(
            f"{len(sample_paths)} per-sample files for {len(score_paths)} score files",
            field="sample_paths",
        )
    tables: dict[tuple[str, str], pd.DataFrame] = {}
    for result, path in zip(results, sample_paths):
        key = (result["system"], result["subset"])
        if key in tables:
            raise InputError(f"second score file for system/subset {key}", path=path)
        tables[key] = read_parquet(path)
    return tables


def _default_title(settings: Mapping[str, Any]) -> str:
    return f"{settings['task']} on {settings['benchmark']}: {settings['family']}"


def _diagnostics_markdown(
    results: list[dict[str, Any]], settings: Mapping[str, Any]
) -> str:
    order = {name: i for i, name in enumerate(settings["systems"])}
    rows = []
    for result in sorted(
        results, key=lambda r: (order.get(r["system"], 99), r["subset"])
    ):
        d = result["diagnostics"]
        row = {
            "system": settings["labels"].get(result["system"], result["system"]),
            "subset": result["subset"],
            "samples": d["samples"],
            "empty outputs": d["empty_outputs"],
            "mean new tokens": round(d["mean_new_tokens"], 1),
            "stopped by": ", ".join(
                f"{k}: {v}" for k, v in sorted(d["stopped_by"].items())
            ),
        }
        if "parse_failure_rate" in d:
            row["parse failures %"] = round(d["parse_failure_rate"], 1)
        if any("cleaning" in r["diagnostics"] for r in results):
            row.update(_cleaning_cells(d.get("cleaning")))
        rows.append(row)
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"


def _cleaning_cells(cleaning: Any) -> dict[str, Any]:
    """The diagnostics columns of a system's cleaning ("-": the score file has none)."""
    if not isinstance(cleaning, Mapping):
        return {"answers changed by cleaning rule": "-", "emptied by cleaning": "-"}
    changed = cleaning.get("changed") or {}
    # In the order the rules ran (the score JSON's keys are sorted).
    rules = [rule for rule in cleaning.get("rules") or [] if rule in changed]
    rules += [rule for rule in changed if rule not in rules]
    return {
        "answers changed by cleaning rule": ", ".join(
            f"{rule}: {changed[rule]}" for rule in rules
        )
        or "no rules (raw output)",
        "emptied by cleaning": cleaning.get("emptied", 0),
    }


def _cleaning_text(provenance: Mapping[str, Any]) -> str:
    """How a system's answers were cleaned, for its provenance line."""
    cleaning = provenance.get("cleaning")
    if not isinstance(cleaning, Mapping):
        return ""
    rules = cleaning.get("rules") or []
    if not rules:
        return ", raw output scored (no cleaning rules)"
    return ", answers cleaned by " + ", ".join(f"`{rule}`" for rule in rules)


def _provenance_markdown(
    results: list[dict[str, Any]], settings: Mapping[str, Any]
) -> str:
    lines, seen = [], set()
    for result in results:
        p = result["provenance"]
        if result["system"] in seen:
            continue
        seen.add(result["system"])
        prior = (
            f"{p['prior_source']} prior, k={p['k']}"
            if p.get("prior_source")
            else "no prior"
        )
        lines.append(
            f"- **{settings['labels'].get(result['system'], result['system'])}**: model "
            f"{describe_model(p.get('model') or {})}. Decoded in {p.get('dtype')} on "
            f"{p.get('device')}, template `{p.get('template_name')}`"
            + (" in the chat template" if p.get("chat_template") else "")
            + f", {prior}, greedy, max {p.get('decoding', {}).get('max_new_tokens')} new tokens"
            + _cleaning_text(p)
        )
    signatures = {}
    for result in results:
        for metric, entry in result["scores"].items():
            signatures.setdefault(
                metric,
                entry.get("signature") or entry.get("reason") or entry.get("settings"),
            )
    lines.append("")
    lines += [f"- {settings['labels'].get(m, m)}: `{s}`" for m, s in signatures.items()]
    return "\n".join(lines) + "\n"


PRIOR_ACCURACY_TITLE = "Table 4: accuracy of the prior tags (first tag of each answer)"


def prior_accuracy_table(
    data_paths: Sequence[str | Path],
    prior_paths: Sequence[str | Path],
    csv_path: str | Path,
    markdown_path: str | Path,
    latex_path: str | Path,
    labels: Mapping[str, str] | None = None,
    html_path: str | Path | None = None,
    title: str = PRIOR_ACCURACY_TITLE,
) -> pd.DataFrame:
    """Accuracy (%) of the POS prior tags against the gold first tag (the paper's Table 4).

    ``labels`` maps ``<source>-k<k>`` to a row label (e.g. "SFT Prior"); ``title``
    heads the Markdown and HTML. The
    CSV, Markdown, LaTeX and (with ``html_path``) HTML page are written
    together or not at all.
    """
    labels = dict(labels or {})

    gold: dict[str, pd.DataFrame] = {}
    for path in data_paths:
        table = read_parquet(path, "POS data table")
        _require_table_columns(table, ("id", "tags", "lang"), path)
        check_column_kinds(table, {"tags": "a list of texts", "lang": "a text"}, path)
        gold[str(table["lang"].iloc[0])] = table
    rows: dict[str, dict[str, float]] = {}
    for path in prior_paths:
        prior = read_parquet(path, "prior table")
        _require_table_columns(
            prior, ("id", "prior_tag", "prior_source", "prior_k"), path
        )
        check_column_kinds(
            prior,
            {
                "prior_tag": "a text or null",
                "prior_source": "a text",
                "prior_k": "an integer",
            },
            path,
        )
        for column in ("prior_source", "prior_k"):
            if prior[column].nunique() != 1:  # one row of Table 4 per file
                raise InputError(
                    f"expected one value, found {sorted(map(str, prior[column].unique()))}",
                    path=path,
                    field=column,
                )
        lang = Path(path).parent.name
        if lang not in gold:
            raise InputError(
                f"no data table for language {lang!r} (the folder of the prior); data "
                f"languages: {', '.join(sorted(gold)) or 'none'}",
                path=path,
            )
        data = gold[lang]
        prior = aligned(data, prior, "the prior table", path)
        accuracy = prior_tag_accuracy(
            [list(tags) for tags in data["tags"]], list(prior["prior_tag"])
        )
        source, k = str(prior["prior_source"].iloc[0]), int(prior["prior_k"].iloc[0])
        label = labels.get(f"{source}-k{k}", f"{source} k={k}")
        rows.setdefault(label, {})[lang.title()] = accuracy["accuracy"]
    if not rows:
        raise InputError("no prior table to score", field="priors")
    table = pd.DataFrame(rows).T
    # Languages in data order; a prior not configured on one is n/a there.
    table = table[[lang.title() for lang in gold if lang.title() in table.columns]]
    table.index.name = "prior"
    rounded = table.round(1)
    _write_table_group(
        f"## {title}\n\n" + rounded.to_markdown(missingval=NOT_AVAILABLE) + "\n",
        rounded.to_latex(float_format="%.1f", na_rep=NOT_AVAILABLE),
        csv_path,
        markdown_path,
        latex_path,
        html_path,
        write_csv=lambda tmp: write_text(rounded.to_csv(na_rep=NOT_AVAILABLE), tmp),
    )
    return table


def _require_table_columns(
    table: pd.DataFrame, columns: Sequence[str], path: str | Path
) -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise InputError(
            f"no column(s) {', '.join(missing)}; columns found: "
            f"{', '.join(map(str, table.columns))}",
            path=path,
            field=missing[0],
        )
    if table.empty:
        raise InputError("the table has no rows", path=path)
