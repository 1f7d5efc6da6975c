"""Synthetic inputs of a sample page (test_sample_pages, test_sample_page_browser):
the data, decode, per-sample score and prior files of the demo's Flores table, written
where the plan expects them, in the workflow's formats, with made-up answers.

Sentence i (0-based) of every subset is built so that the tests know what each
filter shows: the foundation model (``base``) answers in the wrong language when
i % 3 == 0, the pseudo prior when i % 4 == 0, the pseudo prior's answer is empty
when i % 5 == 0, and the refined prior's BLEU beats the foundation model's when i
is even. Answers carry text that would be markup (``<script>``, ``</script>``,
``&amp;``) to check that the page shows it as text.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import yaml

from prettyflow.io import write_parquet
from prettyflow.plan import Plan

TABLE = "translation-flores-gemma3-270m"
# The demo's Flores table, with a second SFT model: the paper's 7 rows.
SECOND_SFT = "gemma3-270m-chat"
HOSTILE = '<script>window.pwned = 1</script></script><b>bold</b> &amp; "quotes"'


def demo_plan(
    repo_root: Path,
    results: Path,
    second_sft: bool = True,
    pseudo_on: dict | None = None,
) -> Plan:
    """The plan of the shipped config.yaml, writing under ``results``; ``pseudo_on``:
    the benchmarks and subsets the pseudo prior applies to (default: all)."""
    config = yaml.safe_load((repo_root / "config.yaml").read_text(encoding="utf-8"))
    config["results_dir"] = str(results)
    if pseudo_on is not None:
        config["tasks"]["translation"]["priors"]["pseudo"]["benchmarks"] = pseudo_on
    if second_sft:
        config["models"][SECOND_SFT] = copy.deepcopy(config["models"]["gemma3-270m"])
        config["families"]["gemma3-270m"]["sft"].append(SECOND_SFT)
    return Plan(config)


def expected(system: str, i: int) -> dict:
    """What sentence ``i``'s row says for ``system`` (see the module doc)."""
    wrong = {"base": i % 3 == 0, "prior-pseudo-k1": i % 4 == 0}.get(system, False)
    empty = system == "prior-pseudo-k1" and i % 5 == 0
    bleu = 20.0 + (i % 7)
    if system == "prior-refined-k2":
        bleu += 5.0 if i % 2 == 0 else -5.0
    return {"wrong": wrong or empty, "empty": empty, "bleu": bleu}


def answer(system: str, i: int, prior: str = "") -> str:
    """Sentence ``i``'s answer by ``system``: after its prior; an SFT model's starts
    as its prior does (the SFT prior is cut from the SFT reference's answer)."""
    start = "O planeta" if system.startswith("sft-") else prior
    return f"{start} answer {i} by {system} {HOSTILE}".lstrip()


def write_inputs(plan: Plan, sentences: int, table: str = TABLE) -> dict:
    """Write every input file of the table's sample page; return the plan's inputs."""
    inputs = plan.samples.inputs(table)
    settings = plan.samples.settings(table)
    subsets = settings["subsets"]
    names = [system["name"] for system in settings["systems"]]
    for subset, path in zip(subsets, inputs["data"]):
        source, target = subset.split("-")
        write_parquet(
            pd.DataFrame(
                {
                    "id": [f"{subset}-{i:04d}" for i in range(sentences)],
                    "source": [
                        f"Source sentence {i} of {subset}, about the planet Pebble."
                        for i in range(sentences)
                    ],
                    "reference": [
                        f"Referência {i} {HOSTILE}" for i in range(sentences)
                    ],
                    "source_lang": source,
                    "target_lang": target,
                }
            ),
            path,
            {"step": "data"},
        )
    decodes = iter(inputs["decodes"])
    scores = iter(inputs["scores"])
    priors = iter(inputs["priors"])
    absent = {(c["subset"], c["system"]) for c in settings.get("not_configured", [])}
    for subset in subsets:
        ids = [f"{subset}-{i:04d}" for i in range(sentences)]
        for name in names:
            if (subset, name) in absent:
                continue
            rows = [expected(name, i) for i in range(sentences)]
            prior = {"prior-sft-k2": "O planeta", "prior-refined-k2": "Na terça",
                     "prior-pseudo-k1": "bras"}.get(name, "")  # fmt: skip
            outputs = [
                "" if row["empty"] else answer(name, i, prior)
                for i, row in enumerate(rows)
            ]
            write_parquet(
                pd.DataFrame(
                    {
                        "id": ids,
                        "prior_text": [prior] * sentences,
                        "raw_output": [
                            f"Portuguese Translation: {text}\nmore"
                            if i % 6 == 1
                            else text + "\n"
                            for i, text in enumerate(outputs)
                        ],
                        "output": outputs,
                    }
                ),
                next(decodes),
                {"step": "decode", "system": name},
            )
            write_parquet(
                pd.DataFrame(
                    {
                        "id": ids,
                        "spbleu": [float("nan")] * sentences,  # not computed
                        "bleu": [row["bleu"] for row in rows],
                        "chrf++": [40.0 + row["bleu"] for row in rows],
                        "wrong_language": [float(row["wrong"]) for row in rows],
                        "wrong_language:detected": [
                            None if row["empty"] else ("en" if row["wrong"] else "pt")
                            for row in rows
                        ],
                    }
                ),
                next(scores),
                {"step": "score"},
            )
            if not prior:
                continue
            columns = {
                "id": ids,
                "prior_text": [prior] * sentences,
                "prior_source": name.split("-")[1],
                "prior_k": int(name[-1]),
                "prior_answer": [
                    f"{prior} from upstream {i}" for i in range(sentences)
                ],
            }
            if name == "prior-sft-k2":
                # The SFT reference's answer: the page points at its row.
                columns["prior_answer"] = [
                    answer("sft-gemma3-270m-alpaca", i) for i in range(sentences)
                ]
            if name == "prior-pseudo-k1":
                columns.update(
                    prior_answer=["brasileiro"] * sentences,
                    pseudo_source_word=["brazilian"] * sentences,
                    pseudo_keyword=[None] * sentences,
                    dictionary_source_word=["Brazilian"] * sentences,
                    dictionary_target_word=["brasileiro"] * sentences,
                    dictionary_origins=[["MUSE", "Wiktionary"]] * sentences,
                    dictionary_rank=[181] * sentences,
                )
            write_parquet(pd.DataFrame(columns), next(priors), {"step": "prior"})
    return inputs


def build_page(plan: Plan, sentences: int, table: str = TABLE) -> tuple[Path, dict]:
    """The sample page of synthetic inputs, through the real step; (path, payload)."""
    from prettyflow.steps.samples import sample_page

    inputs = write_inputs(plan, sentences, table)
    path = Path(plan.paths.path("sample_page", table=table))
    payload = sample_page(
        inputs["data"],
        inputs["decodes"],
        inputs["scores"],
        inputs["priors"],
        plan.samples.settings(table),
        path,
    )
    return path, payload
