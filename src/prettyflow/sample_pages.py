"""Sample pages: every answer of a results table beside its source and reference.

One self-contained HTML page per results table (Tables 1-3 and 6, and Table 5's
control priors), written next to the table and shown in the Snakemake report. It
has one row per test sentence (each subset's data rows, in data order): the
source and the reference, and for each system of the table

- the prior, highlighted where the answer starts with it, and where it came from
  (:meth:`prettyflow.priors.sources.PriorSource.origin`: the SFT reference's
  answer, the refined model's answer, the source word and dictionary entry of a
  pseudo prior, the drawn word of a control prior);
- the cleaned answer (the decode table's ``output``, what was scored) and the
  raw answer (``raw_output``) where cleaning changed more than surrounding blanks;
- its per-sample scores (the score step's per-sample table: the column named
  after each metric) and the language the wrong-language metric detected.

In the browser the rows can be filtered by subset, by system shown, by gain or
loss against the foundation model (the ``base`` system) on a chosen metric, by
wrong language, by empty answer and by text, and sorted by data order, a
system's score, its difference to the foundation model or the source's length.
Where lower is better (the wrong-language rate), a gain is a lower value.

Data flow: :func:`page_payload` turns the aligned tables into a JSON-able payload;
:func:`render_page` embeds it in the page with the inline CSS and JavaScript of
``prettyflow/assets/``. Every text reaches the page as JSON inside a
``<script type="application/json">`` element, with ``<``, ``>``, ``&`` and the
JavaScript line separators escaped, and the script puts it in the document as
text (``textContent``), never as HTML: model output is untrusted. The page loads
nothing (no CDN, no network) and names no file path. Rows are rendered a page
of :data:`PAGE_SIZE` sentences at a time, so that a whole Flores table (1,012
sentences per direction, 7 systems) opens at once.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import pandas as pd

from prettyflow.errors import InputError

PAGE_SIZE = 25  # sentences rendered at a time
PAGE_FORMAT = 1  # the payload's layout version, read by the page's script
BASE_SYSTEM = "base"  # gains and losses are against this system
WRONG_LANGUAGE = "wrong_language"
DETECTED_COLUMN = f"{WRONG_LANGUAGE}:detected"
# Per-sample scores are rounded: the page shows one or two decimals.
SCORE_DECIMALS = 4
ASSETS = "assets"
# What JSON may hold that would end a <script> element or a JS line.
_SCRIPT_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def system_role(system: Mapping[str, Any]) -> str:
    """``sft``, ``base``, ``prior`` or ``other`` (prompting, a random prompt)."""
    if system.get("chat"):
        return "sft"
    if system.get("prior_source"):
        return "prior"
    return "base" if system["name"] == BASE_SYSTEM else "other"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _score(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return (
        None if math.isnan(value) or math.isinf(value) else round(value, SCORE_DECIMALS)
    )


def raw_if_changed(raw: Any, output: str) -> str | None:
    """The raw answer when cleaning changed more than its surrounding blanks."""
    if not isinstance(raw, str) or raw.strip() == output.strip():
        return None
    return raw


def _metric_entries(
    metrics: Sequence[str], labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    from prettyflow.metrics import METRICS

    return [
        {
            "name": name,
            "label": labels.get(name, name),
            "lower": bool(name in METRICS and METRICS.get(name).lower_is_better),
        }
        for name in metrics
    ]


def _origin(
    system: Mapping[str, Any],
    prior: Mapping[str, Any] | None,
    answers: Sequence[str],
) -> dict[str, Any] | None:
    """Where a system's prior came from; ``sys``: the page's system whose answer it
    was cut from, when that answer is on the page (its text is then not repeated)."""
    from prettyflow.priors.sources import PRIOR_SOURCES

    if prior is None or not system.get("prior_source"):
        return None
    origin = dict(PRIOR_SOURCES.get(system["prior_source"]).origin(prior))
    text = origin.get("text")
    if text is not None and text in answers:
        origin["sys"] = answers.index(text)
        origin["text"] = None
    return {key: value for key, value in origin.items() if value is not None}


def page_payload(
    settings: Mapping[str, Any],
    sources: Mapping[str, Sequence[str]],
    references: Mapping[str, Sequence[str]],
    ids: Mapping[str, Sequence[str]],
    decodes: Mapping[tuple[str, str], pd.DataFrame],
    scores: Mapping[tuple[str, str], pd.DataFrame],
    priors: Mapping[tuple[str, str], pd.DataFrame],
) -> dict[str, Any]:
    """The page's data: one row per (subset, sentence), one entry per system.

    ``settings``: ``title``, ``subsets``, ``systems`` (``{name, label, chat,
    prior_source}`` in table order), ``metrics`` and ``labels`` (names -> shown
    text); ``sources``/``references``/``ids`` per subset (data order);
    ``decodes``, ``scores`` and ``priors`` per (subset, system), aligned with the
    subset's ids (``priors`` only for systems with a prior); a (subset, system)
    without a decode (not configured there) has the entry ``None``. A system's entry is
    ``[prior, raw or None, answer, origin or None, scores, detected language]``,
    the scores in the order of ``metrics``. A metric with no per-sample value on
    the whole page (not computed, e.g. spBLEU without its model) is left out and
    listed in ``notScored``.

    Long because it builds the page's compact rows in one pass over subsets, sentences
    and systems.
    """
    subsets = list(settings["subsets"])
    systems = [dict(system) for system in settings["systems"]]
    labels = dict(settings.get("labels") or {})
    metrics = _metric_entries(settings["metrics"], labels)
    scored = [
        metric
        for metric in metrics
        if any(
            metric["name"] in table.columns and table[metric["name"]].notna().any()
            for table in scores.values()
        )
    ]
    names = [system["name"] for system in systems]
    rows: list[list[Any]] = []
    for subset_index, subset in enumerate(subsets):
        columns = {}
        for system in names:
            if (subset, system) not in decodes:  # not configured on this subset
                columns[system] = None
                continue
            decode = decodes[(subset, system)]
            score = scores[(subset, system)]
            columns[system] = {
                "prior": [_text(v) for v in decode.get("prior_text", [])]
                or [""] * len(decode),
                "raw": list(decode["raw_output"])
                if "raw_output" in decode.columns
                else [None] * len(decode),
                "output": [_text(v) for v in decode["output"]],
                "scores": [
                    [_score(v) for v in score[m["name"]]]
                    if m["name"] in score.columns
                    else [None] * len(score)
                    for m in scored
                ],
                "detected": [
                    v if isinstance(v, str) else None
                    for v in (
                        score[DETECTED_COLUMN]
                        if DETECTED_COLUMN in score.columns
                        else [None] * len(score)
                    )
                ],
                "prior_rows": (
                    priors[(subset, system)].to_dict("records")
                    if (subset, system) in priors
                    else None
                ),
            }
        for row, sample_id in enumerate(ids[subset]):
            answers = [
                columns[system]["output"][row] if columns[system] else None
                for system in names
            ]
            entries = []
            for position, system in enumerate(systems):
                column = columns[system["name"]]
                if column is None:
                    entries.append(None)
                    continue
                output = column["output"][row]
                prior_rows = column["prior_rows"]
                entries.append(
                    [
                        column["prior"][row],
                        raw_if_changed(column["raw"][row], output),
                        output,
                        _origin(
                            system,
                            None if prior_rows is None else prior_rows[row],
                            answers[:position] + [None] + answers[position + 1 :],
                        ),
                        [values[row] for values in column["scores"]],
                        column["detected"][row],
                    ]
                )
            rows.append(
                [
                    subset_index,
                    str(sample_id),
                    sources[subset][row],
                    references[subset][row],
                    entries,
                ]
            )
    return {
        "format": PAGE_FORMAT,
        "title": settings["title"],
        "pageSize": PAGE_SIZE,
        "subsets": [{"name": s, "label": labels.get(s, s)} for s in subsets],
        "systems": [
            {
                "name": system["name"],
                "label": labels.get(system["name"], system["name"]),
                "role": system_role(system),
            }
            for system in systems
        ],
        "base": names.index(BASE_SYSTEM) if BASE_SYSTEM in names else None,
        "metrics": scored,
        "notScored": [m["label"] for m in metrics if m not in scored],
        "wrong": next(
            (i for i, m in enumerate(scored) if m["name"] == WRONG_LANGUAGE), None
        ),
        "rows": rows,
    }


def script_json(payload: Any) -> str:
    """``payload`` as JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(
        payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return "".join(_SCRIPT_ESCAPES.get(char, char) for char in text)


def _asset(name: str) -> str:
    return (resources.files("prettyflow") / ASSETS / name).read_text(encoding="utf-8")


def render_page(payload: Mapping[str, Any]) -> str:
    """The standalone page: the payload, the inline stylesheet and script."""
    if payload.get("format") != PAGE_FORMAT:
        raise InputError(
            f"expected a sample page payload of format {PAGE_FORMAT}", field="format"
        )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(str(payload['title']))}</title>"
        f"<style>{_asset('sample_page.css')}</style></head>\n<body>\n"
        f"<noscript>This page needs JavaScript to show the samples.</noscript>\n"
        f'<script type="application/json" id="sample-data">{script_json(payload)}'
        f"</script>\n<script>{_asset('sample_page.js')}</script>\n</body></html>\n"
    )
