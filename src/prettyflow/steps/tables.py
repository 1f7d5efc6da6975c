"""Table steps: corpus scores -> the paper's tables (CSV, Markdown, LaTeX)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.io import read_json, read_parquet, write_text
from prettyflow.steps.common import aligned


def results_table(
    score_paths: Sequence[str | Path],
    settings: Mapping[str, Any],
    csv_path: str | Path,
    markdown_path: str | Path,
    latex_path: str | Path,
):
    """One task's table in the paper's layout, plus provenance and diagnostics in the Markdown."""
    from prettyflow.tables import build_table, render_latex, render_markdown, to_csv

    results = [read_json(path) for path in score_paths]
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
    labels = dict(settings["labels"])
    table = build_table(
        entries,
        subsets=settings["subsets"],
        metrics=settings["metrics"],
        systems=settings["systems"],
        reference_system=settings["reference_system"],
        sft_systems=settings["sft_systems"],
        sft_ratio=settings["sft_ratio"],
        near_zero_threshold=settings["near_zero_threshold"],
        labels=labels,
    )
    to_csv(table, csv_path)
    write_text(render_latex(table), latex_path)
    sections = [
        f"## {settings['task']} on {settings['benchmark']}: {settings['family']}\n",
        render_markdown(table),
        "### Diagnostics\n",
        _diagnostics_markdown(results, settings),
        "### Provenance\n",
        _provenance_markdown(results, settings),
    ]
    write_text("\n".join(sections), markdown_path)
    return table


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
        rows.append(row)
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"


def _provenance_markdown(
    results: list[dict[str, Any]], settings: Mapping[str, Any]
) -> str:
    lines, seen = [], set()
    for result in results:
        p = result["provenance"]
        if result["system"] in seen:
            continue
        seen.add(result["system"])
        model = p.get("model", {})
        prior = (
            f"{p['prior_source']} prior, k={p['k']}"
            if p.get("prior_source")
            else "no prior"
        )
        lines.append(
            f"- **{settings['labels'].get(result['system'], result['system'])}**: model `{model.get('name')}` "
            f"(source `{model.get('path')}`, revision `{model.get('revision')}`"
            + (
                f", gguf sha256 `{model['gguf_sha256'][:12]}`"
                if model.get("gguf_sha256")
                else ""
            )
            + f"), {p.get('dtype')} on {p.get('device')}, template `{p.get('template_name')}`"
            + (" in the chat template" if p.get("chat_template") else "")
            + f", {prior}, greedy, max {p.get('decoding', {}).get('max_new_tokens')} new tokens"
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


def prior_accuracy_table(
    data_paths: Sequence[str | Path],
    prior_paths: Sequence[str | Path],
    csv_path: str | Path,
    markdown_path: str | Path,
    latex_path: str | Path,
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Accuracy (%) of the POS prior tags against the gold first tag (the paper's Table 4).

    ``labels`` maps ``<source>-k<k>`` to a row label (e.g. "SFT Prior").
    """
    labels = dict(labels or {})
    from prettyflow.metrics.pos import prior_tag_accuracy

    tables = [read_parquet(path) for path in data_paths]
    gold = {table["lang"].iloc[0]: table for table in tables}
    rows: dict[str, dict[str, float]] = {}
    for path in prior_paths:
        prior = read_parquet(path)
        lang = Path(path).parent.name
        data = gold[lang]
        prior = aligned(data, prior, "the prior table", path)
        accuracy = prior_tag_accuracy(
            [list(tags) for tags in data["tags"]], list(prior["prior_tag"])
        )
        source, k = str(prior["prior_source"].iloc[0]), int(prior["prior_k"].iloc[0])
        label = labels.get(f"{source}-k{k}", f"{source} k={k}")
        rows.setdefault(label, {})[lang.title()] = accuracy["accuracy"]
    table = pd.DataFrame(rows).T
    table.index.name = "prior"
    write_text(table.round(1).to_csv(), csv_path)
    write_text(table.round(1).to_markdown() + "\n", markdown_path)
    write_text(table.round(1).to_latex(float_format="%.1f"), latex_path)
    return table
