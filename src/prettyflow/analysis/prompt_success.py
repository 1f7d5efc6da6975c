"""Table 8 (appendix C.3): how often vanilla prompting yields a translation at all.

The foundation model translates each sentence with one prompt drawn at random from
a list (the decode step's ``templates`` + ``template_seed``; the draw is recorded in
the decode's ``template_index`` column). An output counts as a produced translation
(a *success*) when the language identifier's most likely language is the target
language, whatever the translation's quality, as the paper does with langdetect.
An empty output, or one the identifier gives no language, is a failure, and is
counted in the table's notes.

The table has one row per prompt (numbered as in the config, with a short label)
and a last row "All prompts"; one column per direction (subset) and a last column
"All directions" (pooled over the samples, as the paper's 31.8% is the mean of its
four equally sized directions). Each cell is the success rate in percent with its
successes and sample count; CSV, Markdown and LaTeX are written atomically.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.frames import aligned
from prettyflow.io import atomic_paths, read_parquet, read_provenance, write_text
from prettyflow.langid import (
    LanguageIdentifier,
    iso_639_1,
    load_language_identifier,
    top_language,
)
from prettyflow.prompts import check_templates
from prettyflow.report import titled_markdown_page
from prettyflow.tables import latex_escape

ALL_PROMPTS = "All prompts"
ALL_DIRECTIONS = "All directions"
NO_SAMPLES = "-"  # no sample of this direction drew this prompt
LABEL_LENGTH = 72  # eight of the ten Table 8 prompts show in full
DEFAULT_LANGUAGE_IDENTIFIER = "langdetect"  # the paper's tool
# Placeholders shown in the short prompt labels (brackets survive Markdown and LaTeX).
PLACEHOLDER_LABELS = {
    "{source_language}": "[src]",
    "{target_language}": "[tgt]",
    "{source_text}": "[text]",
}


def prompt_label(template: str, length: int = LABEL_LENGTH) -> str:
    """A one-line label for a template: placeholders as [src]/[tgt]/[text], cut to ``length``."""
    text = template
    for placeholder, label in PLACEHOLDER_LABELS.items():
        text = text.replace(placeholder, label)
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def direction_label(subset: str) -> str:
    """``"en-pt"`` -> ``"En-Pt"``, the paper's way of naming a direction."""
    return "-".join(part.capitalize() for part in subset.split("-"))


def identify_successes(
    outputs: Sequence[Any],
    target_languages: Sequence[str],
    identifier: LanguageIdentifier,
) -> pd.DataFrame:
    """Per output: ``language`` (top guess, None for none) and ``success`` (it is the target).

    A missing output (None/NaN from Parquet) is an empty one. Whitespace is
    collapsed before identification: a model's line breaks say nothing about its
    language, and some identifiers refuse multi-line input.
    """
    languages: list[str | None] = []
    for output in outputs:
        text = " ".join(output.split()) if isinstance(output, str) else ""
        languages.append(top_language(identifier, text))
    return pd.DataFrame(
        {
            "language": languages,
            "success": [
                language is not None and language == iso_639_1(target)
                for language, target in zip(languages, target_languages)
            ],
        }
    )


def _direction_samples(
    decode_path: str | Path,
    data_path: str | Path,
    templates: list[str],
    identifier: LanguageIdentifier,
) -> pd.DataFrame:
    """One direction's samples: template_index, target, language, success."""
    data = read_parquet(data_path)
    for column in ("id", "target_lang"):
        if column not in data.columns:
            raise InputError(f"no {column!r} column", path=data_path, field=column)
    decodes = read_parquet(decode_path)
    for column in ("id", "output", "template_index"):
        if column not in decodes.columns:
            raise InputError(
                f"no {column!r} column; decode the prompt-success system with a "
                "list of templates (settings 'templates' and 'template_seed')",
                path=decode_path,
                field=column,
            )
    recorded = read_provenance(decode_path).get("templates")
    if recorded is not None and list(recorded) != templates:
        raise InputError(
            "decoded with other templates than the ones given; decode again",
            path=decode_path,
            field="templates",
        )
    decodes = aligned(data, decodes, "the decodes", decode_path)
    indices: list[int] = []
    for row, value in enumerate(decodes["template_index"], start=1):
        valid = (
            isinstance(value, Real)  # numpy integers from Parquet included
            and not isinstance(value, bool)
            and not math.isnan(value)
            and float(value).is_integer()
            and 0 <= int(value) < len(templates)
        )
        if not valid:
            raise InputError(
                f"template index {value!r} is not in 0..{len(templates) - 1}",
                path=decode_path,
                line=row,
                field="template_index",
            )
        indices.append(int(value))
    targets = [iso_639_1(str(code)) for code in data["target_lang"]]
    supported = getattr(identifier, "supported_languages", None)
    if supported is not None:
        unknown = sorted(set(targets) - set(supported))
        if unknown:
            raise InputError(
                f"the language identifier does not know target language(s) "
                f"{', '.join(unknown)}; every output would count as a failure",
                path=data_path,
                field="target_lang",
            )
    identified = identify_successes(list(decodes["output"]), targets, identifier)
    return pd.DataFrame(
        {
            "template_index": indices,
            "target_lang": targets,
            "empty": [
                not (isinstance(text, str) and text.strip())
                for text in decodes["output"]
            ],
            "language": identified["language"],
            "success": identified["success"],
        }
    )


def _cell(samples: pd.DataFrame) -> tuple[int, int, float | None]:
    successes, count = int(samples["success"].sum()), len(samples)
    return successes, count, (100.0 * successes / count if count else None)


def success_rate_table(
    samples: pd.DataFrame, templates: Sequence[str], directions: Sequence[str]
) -> pd.DataFrame:
    """Rows: each prompt, then All prompts; per direction and pooled: successes, n, rate.

    ``samples`` has ``direction``, ``template_index`` and ``success``. Columns:
    ``prompt`` (1-based number, or ``"all"``), ``label``, then for each direction
    and ``all``: ``<direction> successes``, ``<direction> n`` and
    ``<direction> success %`` (None where n is 0).
    """
    row_keys: list[tuple[str, str, int | None]] = [
        (str(number), f"{number}. {prompt_label(template)}", number - 1)
        for number, template in enumerate(templates, start=1)
    ]
    row_keys.append(("all", ALL_PROMPTS, None))
    records = []
    for prompt, label, index in row_keys:
        in_row = (
            samples if index is None else samples[samples["template_index"] == index]
        )
        record: dict[str, Any] = {"prompt": prompt, "label": label}
        for direction in [*directions, "all"]:
            cell = (
                in_row
                if direction == "all"
                else in_row[in_row["direction"] == direction]
            )
            successes, count, rate = _cell(cell)
            record[f"{direction} successes"] = successes
            record[f"{direction} n"] = count
            record[f"{direction} success %"] = rate
        records.append(record)
    return pd.DataFrame(records)


def _display_rows(
    table: pd.DataFrame, directions: Sequence[str]
) -> list[tuple[str, list[str]]]:
    """(row label, cells) with cells ``"50.0 (2/4)"``: rate %, successes / n."""
    rows = []
    for record in table.to_dict("records"):
        cells = []
        for direction in [*directions, "all"]:
            successes, count = (
                record[f"{direction} successes"],
                record[f"{direction} n"],
            )
            rate = record[f"{direction} success %"]
            cells.append(f"{rate:.1f} ({successes}/{count})" if count else NO_SAMPLES)
        rows.append((record["label"], cells))
    return rows


def _notes(
    samples: pd.DataFrame,
    identifier_name: str,
    template_count: int,
    seeds: set[Any],
    cleaning: set[tuple[str, ...]] | None = None,
) -> list[str]:
    unidentified = int((~samples["empty"] & samples["language"].isna()).sum())
    seed_text = ", ".join(str(seed) for seed in sorted(seeds, key=str)) or "unrecorded"
    cleaned = [
        ", ".join(rules) if rules else "none (the raw output)"
        for rules in sorted(cleaning or ())
    ]
    cleaning_note = (
        [
            f"Outputs are the cleaned answers the scores read; cleaning rules: {'; '.join(cleaned)}."
        ]
        if cleaned
        else []
    )
    return [
        "Cells: success rate in % (successes/samples). A translation counts as "
        f"produced when the language identifier ({identifier_name}) gives the "
        "target language as the output's most likely language.",
        f"Of {len(samples)} samples, failures include empty outputs: "
        f"{int(samples['empty'].sum())}; outputs with no identifiable language: "
        f"{unidentified}.",
        f"Each sample's prompt was drawn from the {template_count} prompts with "
        f"seed {seed_text}; {NO_SAMPLES}: no sample drew that prompt.",
        *cleaning_note,
    ]


def _render_csv(table: pd.DataFrame) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for record in table.itertuples(index=False):
        writer.writerow(
            [
                ""
                if value is None or (isinstance(value, float) and math.isnan(value))
                # Rates with one decimal, as every table of the project.
                else f"{value:.1f}"
                if isinstance(value, float)
                else value
                for value in record
            ]
        )
    return buffer.getvalue()


def _render_markdown(
    title: str,
    headers: Sequence[str],
    rows: Sequence[tuple[str, list[str]]],
    notes: Sequence[str],
) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        f"## {title}",
        "",
        "| " + " | ".join(escape(h) for h in ["Prompt", *headers]) + " |",
        "|" + "|".join([":---"] + ["---:"] * len(headers)) + "|",
    ]
    for label, cells in rows:
        lines.append("| " + " | ".join(escape(c) for c in [label, *cells]) + " |")
    lines.append("")
    lines.extend(f"{note}  " for note in notes)
    return "\n".join(lines) + "\n"


def _render_latex(
    headers: Sequence[str],
    rows: Sequence[tuple[str, list[str]]],
    notes: Sequence[str],
) -> str:
    lines = [
        r"\begin{tabular}{l" + "r" * len(headers) + "}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in ["Prompt", *headers]) + r" \\",
        r"\midrule",
    ]
    for position, (label, cells) in enumerate(rows):
        if position == len(rows) - 1:
            lines.append(r"\midrule")  # the All prompts row
        lines.append(" & ".join(latex_escape(c) for c in [label, *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"{\footnotesize"]
    lines.extend(latex_escape(note) + r"\par" for note in notes)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _default_title(settings: Mapping[str, Any]) -> str:
    title = "Table 8: success rate of translation prompting with different instructions"
    model = settings.get("model") or settings.get("family")
    where = ", ".join(str(part) for part in (model, settings.get("benchmark")) if part)
    return f"{title} ({where})" if where else title


def prompt_success_table(
    decode_paths: Sequence[str | Path],
    data_paths: Sequence[str | Path],
    settings: Mapping[str, Any],
    csv_path: str | Path,
    markdown_path: str | Path,
    latex_path: str | Path,
    html_path: str | Path | None = None,
) -> pd.DataFrame:
    """Table 8 from one decode (and its data table) per direction.

    ``settings``: ``templates`` (the decode's list, in order), ``subsets`` (one
    direction per decode path, e.g. ``en-pt``), optional ``labels`` (subset ->
    column header; default ``En-Pt``), ``language_identifier`` (``{kind: ...}``,
    default langdetect as in the paper), and for the heading ``title``, or
    ``model`` (or ``family``) and ``benchmark``. Returns the numbers
    (:func:`success_rate_table`) as written to the CSV. The CSV, Markdown,
    LaTeX and (with ``html_path``) the Markdown's HTML page are written together
    or not at all.
    """
    templates = check_templates(
        settings.get("templates"), "analysis.prompt_success.templates"
    )
    subsets = [str(subset) for subset in settings.get("subsets") or []]
    if not (len(decode_paths) == len(data_paths) == len(subsets)) or not subsets:
        raise InputError(
            f"expected one decode and one data table per subset, got "
            f"{len(decode_paths)} decodes, {len(data_paths)} data tables and "
            f"{len(subsets)} subsets",
            field="subsets",
        )
    if len(set(subsets)) != len(subsets):
        raise InputError(f"subsets repeat: {subsets}", field="subsets")
    identifier_kind = (settings.get("language_identifier") or {}).get(
        "kind", DEFAULT_LANGUAGE_IDENTIFIER
    )
    identifier = load_language_identifier(identifier_kind)
    identifier_name = str(getattr(identifier, "name", identifier_kind))

    frames, seeds, cleaning = [], set(), set()
    for subset, decode_path, data_path in zip(subsets, decode_paths, data_paths):
        samples = _direction_samples(decode_path, data_path, templates, identifier)
        samples.insert(0, "direction", subset)
        frames.append(samples)
        provenance = read_provenance(decode_path)
        seed = provenance.get("template_seed")
        if seed is not None:
            seeds.add(seed)
        if isinstance(provenance.get("cleaning"), Mapping):
            cleaning.add(tuple(provenance["cleaning"].get("rules") or ()))
    samples = pd.concat(frames, ignore_index=True)
    table = success_rate_table(samples, templates, subsets)

    labels = dict(settings.get("labels") or {})
    headers = [labels.get(subset, direction_label(subset)) for subset in subsets]
    headers.append(ALL_DIRECTIONS)
    rows = _display_rows(table, subsets)
    notes = _notes(samples, identifier_name, len(templates), seeds, cleaning)
    title = settings.get("title") or _default_title(settings)
    markdown = _render_markdown(title, headers, rows, notes)
    paths = (csv_path, markdown_path, latex_path, html_path)
    with atomic_paths(*paths) as (csv_tmp, markdown_tmp, latex_tmp, html_tmp):
        write_text(_render_csv(table), csv_tmp)
        write_text(markdown, markdown_tmp)
        write_text(_render_latex(headers, rows, notes), latex_tmp)
        if html_tmp is not None:
            page = titled_markdown_page(markdown, Path(markdown_path).stem)
            write_text(page, html_tmp)
    return table
