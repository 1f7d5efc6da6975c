"""The prior-source registry (paper section 3.3): where a prior's answer comes from.

A source names the files a prior job reads (:meth:`PriorSource.upstream`) and turns
them into one upstream answer per sample (:meth:`PriorSource.answers`); the task
then cuts the answer into the prior (first k tokens, or POS's first label).

- ``sft``: the SFT reference model's own output (its decode of the same subset);
- ``refined``: a smaller task model's output (rule ``run_refined_model``);
- ``pseudo``: a bilingual-dictionary translation of the first covered source word
  (summarization: of a KeyBERT keyword).

Control sources (section 5.2, Table 5; ``control = True``) draw a random
target-language word per sample, seeded (:mod:`prettyflow.priors.control`):

- ``modal``: a modal verb; ``adverb``: an adverb (from word lists or a lexicon);
- ``random``: any foundation-vocabulary token written in the target's script.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from prettyflow.errors import InputError
from prettyflow.priors.tokens import (
    PSEUDO_MATCH_COLUMNS,
    coverage_stats,
    matched_words,
    pseudo_match_columns,
)
from prettyflow.registry import Registry


@dataclass(frozen=True)
class PriorContext:
    """Where a prior job is: what :meth:`PriorSource.upstream` needs from the plan."""

    task: str
    benchmark: str
    family: str
    subset: str
    sft_reference_system: str


class PriorSource:
    name: str
    title: str  # "SFT Prior": the paper's row is "+PRETTY (SFT Prior)"
    # Whether the source needs a task that defines it (Task.pseudo_prior).
    needs_pseudo_prior: bool = False
    # A control experiment (Table 5), kept out of the main tables.
    control: bool = False
    # Columns of the answers table copied into the prior file (the draw's record).
    recorded_columns: tuple[str, ...] = ()
    # What a prior is cut from, as the sample pages say it.
    origin_label: str = "upstream answer"

    def upstream(
        self,
        paths: Any,
        context: PriorContext,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """Named input files of one prior job (besides the data and the tokenizer).

        ``options`` is the source's config (control sources:
        ``analysis.control_priors.sources.<name>``); the others ignore it.
        """
        raise NotImplementedError

    def answers(
        self,
        frame: pd.DataFrame,
        inputs: Mapping[str, str],
        settings: Mapping[str, Any],
        tokenizer: Any = None,
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """One upstream answer per row of ``frame`` (same order) and provenance extras.

        The table has ``id`` and ``output`` (a text; None = no prior) or ``tags``.
        ``tokenizer`` is the foundation model's, loaded by the prior job.
        """
        from prettyflow.frames import aligned
        from prettyflow.io import read_parquet, read_provenance

        path = inputs["upstream"]
        table = aligned(frame, read_parquet(path), f"the {self.name} outputs", path)
        return table, {"upstream_provenance": read_provenance(path)}

    def origin(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Where one prior (a row of its prior file) came from, for the sample pages:
        ``{"from": label, "text": what it was cut from, "detail": more}``, the last
        two None when the file does not record them (written before they were)."""
        return {
            "from": self.origin_label,
            "text": _text_or_none(record.get("prior_answer")),
            "detail": None,
        }


class SftPrior(PriorSource):
    name = "sft"
    title = "SFT Prior"
    origin_label = "the SFT reference's answer"

    def upstream(self, paths, context, options=None):
        return {
            "upstream": paths.path(
                "decode",
                task=context.task,
                benchmark=context.benchmark,
                family=context.family,
                subset=context.subset,
                system=context.sft_reference_system,
            )
        }


class RefinedPrior(PriorSource):
    name = "refined"
    title = "Refined Prior"
    origin_label = "the refined model's answer"

    def upstream(self, paths, context, options=None):
        return {
            "upstream": paths.path(
                "refined",
                task=context.task,
                benchmark=context.benchmark,
                subset=context.subset,
            )
        }


class PseudoPrior(PriorSource):
    name = "pseudo"
    title = "Pseudo Prior"
    needs_pseudo_prior = True
    # Which source word and dictionary entry each prior came from.
    recorded_columns = PSEUDO_MATCH_COLUMNS
    origin_label = "a dictionary translation"

    def origin(self, record):
        word = _text_or_none(record.get("pseudo_source_word"))
        if word is None:
            detail = (
                "no word of the source is in the dictionary: no prior"
                if "pseudo_source_word" in record
                else None  # not recorded
            )
            return {"from": self.origin_label, "text": None, "detail": detail}
        keyword = _text_or_none(record.get("pseudo_keyword"))
        origins = record.get("dictionary_origins")
        origins = [] if origins is None else [str(o) for o in origins]
        rank = record.get("dictionary_rank")
        entry = (
            f"{record.get('dictionary_source_word')} → "
            f"{record.get('dictionary_target_word')}"
        )
        where = ", ".join(origins)
        if rank is not None and not pd.isna(rank):
            where += f"{'; ' if where else ''}rank {int(rank)}"
        detail = f"source word “{word}”"
        if keyword is not None:
            detail += f" (keyword “{keyword}”)"
        detail += f", dictionary entry {entry}" + (f" ({where})" if where else "")
        return {
            "from": self.origin_label,
            "text": _text_or_none(record.get("dictionary_target_word")),
            "detail": detail,
        }

    def upstream(self, paths, context, options=None):
        from prettyflow.tasks import TASKS

        return {
            "dictionary": paths.path("dictionary", pair=context.subset),
            **TASKS.get(context.task).pseudo_upstream(
                paths, context.benchmark, context.subset
            ),
        }

    def answers(self, frame, inputs, settings, tokenizer=None):
        from prettyflow.io import read_parquet
        from prettyflow.priors.dictionaries import lexicon_entries
        from prettyflow.tasks import TASKS

        entries = lexicon_entries(read_parquet(inputs["dictionary"]))
        lexicon = {key: entry.target_word for key, entry in entries.items()}
        extra = {
            name: read_parquet(path)
            for name, path in inputs.items()
            if name != "dictionary"
        }
        matches = TASKS.get(settings["task"]).pseudo_matches(
            frame, lexicon, extra, settings["source_lang"]
        )
        words = matched_words(matches)
        table = pd.DataFrame(
            {
                "id": list(frame["id"]),
                "output": words,
                **pseudo_match_columns(matches, entries),
            }
        )
        return table, {"coverage": coverage_stats(words)}


class ControlPrior(PriorSource):
    """A random target-language word per sample (paper section 5.2, Table 5).

    ``settings`` needs ``target_lang``, ``seed`` (an integer) and ``options``
    (the source's config, see :mod:`prettyflow.priors.control`).
    """

    control = True
    recorded_columns = ("control_word",)
    origin_label = "a drawn word"

    def origin(self, record):
        return {
            "from": f"{self.origin_label} ({self.title})",
            "text": _text_or_none(record.get("control_word")),
            "detail": None,
        }

    def upstream(self, paths, context, options=None):
        return {}

    def candidates(self, settings, inputs, tokenizer):
        """The :class:`prettyflow.priors.control.CandidateList` drawn from."""
        raise NotImplementedError

    def check_options(self, options) -> None:
        """Start-up checks of the source's options (no model loaded); InputError."""

    def answers(self, frame, inputs, settings, tokenizer=None):
        from prettyflow.priors.control import draw_words

        seed = settings.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InputError(
                f"the {self.name} control prior needs an integer seed, got {seed!r}",
                field="analysis.control_priors.seed",
            )
        candidates = self.candidates(settings, inputs, tokenizer)
        words = draw_words(frame["id"], candidates, seed, self.name)
        table = pd.DataFrame(
            {"id": list(frame["id"]), "output": words, "control_word": words}
        )
        record = candidates.provenance(seed, self.name, settings["target_lang"])
        return table, {"control_draw": record}


class WordListPrior(ControlPrior):
    """Draws from a word list: a file or config list, and/or a POS lexicon."""

    def __init__(self, name: str, title: str):
        self.name = name
        self.title = title

    def upstream(self, paths, context, options=None):
        from prettyflow.priors.control import word_list_file
        from prettyflow.tasks import TASKS

        target = TASKS.get(context.task).languages(context.subset)[1]
        path = word_list_file(self.name, options, target)
        return {} if path is None else {"word_list": path}  # Snakemake tracks it

    def check_options(self, options) -> None:
        from prettyflow.priors.control import check_word_list_scripts

        check_word_list_scripts(self.name, options)

    def candidates(self, settings, inputs, tokenizer):
        from prettyflow.priors.control import word_candidates

        return word_candidates(
            self.name,
            settings.get("options"),
            settings["target_lang"],
            inputs.get("word_list"),
        )


class RandomTokenPrior(ControlPrior):
    """Draws a token of the foundation model's vocabulary in the target's script."""

    name = "random"
    title = "Random Prior"

    def candidates(self, settings, inputs, tokenizer):
        from prettyflow.priors.control import vocabulary_candidates

        if tokenizer is None:
            raise ValueError("the random prior needs the foundation tokenizer")
        return vocabulary_candidates(
            self.name, tokenizer, settings.get("options"), settings["target_lang"]
        )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# The order is the tables' row order.
PRIOR_SOURCES: Registry[PriorSource] = Registry("prior source")
PRIOR_SOURCES.register("sft", SftPrior())
PRIOR_SOURCES.register("pseudo", PseudoPrior())
PRIOR_SOURCES.register("refined", RefinedPrior())
PRIOR_SOURCES.register("modal", WordListPrior("modal", "Modal Prior"))
PRIOR_SOURCES.register("adverb", WordListPrior("adverb", "Adverb Prior"))
PRIOR_SOURCES.register("random", RandomTokenPrior())
