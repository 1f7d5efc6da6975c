"""Analysis steps: the decision space of section 2.2 (Equation 3, Figures 2-4)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.io import (
    atomic_path,
    read_parquet,
    read_provenance,
    write_parquet,
    write_text,
)

log = logging.getLogger("prettyflow")

# Stated in the output: both models see exactly these tokens before the answer.
PREFIX = (
    "the SFT reference model's prompt token ids exactly as its decode read them (its "
    "prompt format around the 'normal' instruction), then the SFT model's own greedy "
    "answer tokens; the same token prefix for both models"
)
# The decode table's column of those prompt ids.
PROMPT_IDS = "prompt_token_ids"
# What the decision space reads from the SFT reference's decode table.
DECODE_COLUMNS = ("id", "prompt", PROMPT_IDS, "new_token_ids")


def check_decode_table(decodes: pd.DataFrame, path: str | Path) -> None:
    """The decode table at ``path`` has every column the decision space reads.

    Checked before a model loads. A table without the prompt ids
    (written before the decode recorded them) is an :class:`InputError` saying
    to rerun the decode.
    """
    if PROMPT_IDS not in decodes.columns:
        raise InputError(
            f"the decode table has no {PROMPT_IDS} column (the prompt ids the model "
            "read, which the decision space teacher-forces on); it was made by an "
            "older version of the workflow: rerun the decode (delete this file and "
            "its shards, or run snakemake with --forcerun decode)",
            path=path,
            field=PROMPT_IDS,
        )
    missing = [column for column in DECODE_COLUMNS if column not in decodes.columns]
    if missing:
        raise InputError(
            f"the decode table has no column(s) {', '.join(missing)}; the decision "
            f"space reads {', '.join(DECODE_COLUMNS)} from the SFT reference's "
            "decode (rule gather_decode's output)",
            path=path,
            field=missing[0],
        )


def prompt_token_ids(decodes: pd.DataFrame, path: str | Path) -> list[list[int]]:
    """The prompt ids each decode read, from the decode table at ``path``.

    Teacher forcing reads these ids, never the prompt text tokenized again (which
    need not give the same ids).
    """
    check_decode_table(decodes, path)
    return [[int(token) for token in ids] for ids in decodes[PROMPT_IDS]]


def decision_space(
    decodes_path: str | Path,
    output_path: str | Path,
    settings: Mapping[str, Any],
    compute: Mapping[str, Any],
    subset: str,
) -> pd.DataFrame:
    """Teacher-force the foundation and SFT models on the SFT model's decodes.

    One row per (sample, answer position); position 0 is the paper's setup
    X = instruction, position 1 X = [instruction, the SFT model's first token].
    Models that do not share a tokenizer give an empty table whose provenance
    (``skipped``) names what differs (see ``tokenizer_difference``).
    """
    from prettyflow.analysis.decision_space import teacher_forced_positions
    from prettyflow.analysis.tokenizers import tokenizer_difference
    from prettyflow.backends import model_backend

    provenance: dict[str, Any] = {
        "step": "decision_space",
        "subset": subset,
        "foundation": settings["foundation"]["name"],
        "sft": settings["sft"]["name"],
        "prefix": PREFIX,
        "max_positions": settings["max_positions"],
    }
    backends = {role: model_backend(settings[role]) for role in ("foundation", "sft")}
    difference = tokenizer_difference(
        *(
            backends[role].load_tokenizer(settings[role])
            for role in ("foundation", "sft")
        )
    )
    if difference is not None:
        reason = (
            f"skipped ({provenance['foundation']} vs {provenance['sft']}): {difference}"
        )
        log.warning("%s", reason)
        write_parquet(pd.DataFrame(), output_path, {**provenance, "skipped": reason})
        return pd.DataFrame()

    # Every column the step reads is checked here, before a model loads.
    decodes = read_parquet(decodes_path, "decode table")
    prompts = prompt_token_ids(decodes, decodes_path)
    models = {
        role: backends[role].load(
            settings[role],
            device=compute.get("device", "auto"),
            threads=int(compute.get("threads", 1)),
        )
        for role in ("foundation", "sft")
    }
    frame = teacher_forced_positions(
        models["foundation"],
        models["sft"],
        prompts,
        prompts,
        [list(ids) for ids in decodes["new_token_ids"]],
        sample_ids=list(decodes["id"]),
        prompt_texts_foundation=list(decodes["prompt"]),
        prompt_texts_sft=list(decodes["prompt"]),
        prefix=PREFIX,
        max_positions=settings["max_positions"],
        batch_size=int(compute.get("batch_size", 8)),
    )
    frame.insert(0, "subset", subset)
    provenance["models"] = {role: model.provenance() for role, model in models.items()}
    provenance["decodes"] = str(decodes_path)
    write_parquet(frame, output_path, provenance)
    return frame


def decision_space_figures(
    table_paths: Sequence[str | Path], output_dir: str | Path, label: str
) -> dict[str, Any]:
    """Figures 2-4 (PNG, SVG, CSV) over every subset, and a summary, in one folder.

    The folder's ``summary.md`` gives the numbers the figures show (agreement@1,
    @5, @20, the silent majority, mean KL/JS/cross-entropy per setup, per subset
    and over all); when every subset was skipped it says why instead. It ends
    with what the two models are (``describe_model``: weights, adapter, training).
    """
    from prettyflow.analysis.decision_space import (
        SETUPS,
        agreement_at_k,
        divergence_summary,
        silent_majority,
    )
    from prettyflow.analysis.figures import check_figure_table, write_all_figures
    from prettyflow.model_description import describe_model

    frames, notes, models = [], [], {}
    for path in table_paths:
        frame = read_parquet(path, "decision-space table")
        provenance = read_provenance(path)
        models = models or provenance.get("models") or {}
        skipped = provenance.get("skipped")
        if skipped or frame.empty:
            notes.append(f"{Path(path).parent.name}: {skipped or 'no answer tokens'}")
            continue
        # The step puts the subset first; the figures read the rest.
        check_figure_table(frame, path, extra=("subset",))
        frames.append(frame)
    rows = []
    with atomic_path(output_dir, directory=True) as tmp:
        if frames:
            everything = pd.concat(frames, ignore_index=True)
            # Sample ids repeat across directions (devtest-0001 in en-pt and pt-en).
            everything["sample_id"] = (
                everything["subset"] + "/" + everything["sample_id"]
            )
            write_all_figures(everything, tmp, label=label)
            groups = [("all", everything)] + [
                (subset, group) for subset, group in everything.groupby("subset")
            ]
            for name, group in groups:
                for position, setup in SETUPS.items():
                    agreement = agreement_at_k(group, position, ks=(1, 5, 20))
                    if agreement.empty:
                        continue
                    row = {"subset": name, "setup": setup}
                    row["n"] = int(agreement["n_samples"].iloc[0])
                    for _, item in agreement.iterrows():
                        row[f"agreement@{int(item['k'])} %"] = 100 * item["agreement"]
                    majority = silent_majority(group, position)
                    row["silent majority %"] = 100 * majority.share
                    summary = divergence_summary(group, positions=[position])
                    for _, item in summary.iterrows():
                        row[f"mean {item['metric']}"] = item["mean"]
                    rows.append(row)
        table = pd.DataFrame(rows)
        if not table.empty:
            table.to_csv(tmp / "summary.csv", index=False, float_format="%.4f")
        lines = [f"# Decision space: {label}", "", f"Prefix: {PREFIX}.", ""]
        if not table.empty:
            lines += [table.round(3).to_markdown(index=False), ""]
        lines += [f"- {note}" for note in notes]
        if models:
            lines += ["", "Models:", ""] + [
                f"- {role}: {describe_model(models[key])}"
                for key, role in (
                    ("foundation", "foundation"),
                    ("sft", "SFT reference"),
                )
                if key in models
            ]
        write_text("\n".join(lines) + "\n", tmp / "summary.md")
    return {"rows": rows, "notes": notes}
