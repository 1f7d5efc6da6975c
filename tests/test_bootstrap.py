"""Paired-bootstrap intervals and p-values against direct computations and sacrebleu."""

from __future__ import annotations

import csv
import json
import math
import random

import numpy as np
import pandas as pd
import pytest
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest, _bootstrap_resample

from prettyflow.bootstrap import (
    BootstrapSettings,
    bootstrap_table,
    paired_p_value,
    percentile_interval,
    resample_counts,
    resample_indices,
    resampled_scores,
    resampled_tables,
)
from prettyflow.errors import InputError
from prettyflow.io import write_json, write_parquet
from prettyflow.metrics import METRICS
from prettyflow.metrics.scoring import Scoring
from prettyflow.tables import build_table, render_latex, render_markdown

WORDS = (
    "the cat dog sat on a mat and ran to house in garden with red blue green "
    "small big old new tree car road city river"
).split()


def references(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) + "."
        for _ in range(n)
    ]


def noisy(texts: list[str], error_rate: float, seed: int) -> list[str]:
    """Each word replaced by a random one with probability ``error_rate``."""
    rng = random.Random(seed)
    return [
        " ".join(
            rng.choice(WORDS) if rng.random() < error_rate else word
            for word in text.rstrip(".").split()
        )
        + "."
        for text in texts
    ]


def translation_scores(
    hypotheses: list[str], refs: list[str], metrics=("bleu", "chrf++")
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-sample table (as the score step writes it) and corpus scores."""
    scoring = Scoring(
        data=pd.DataFrame(
            {"id": [f"s{i}" for i in range(len(refs))], "reference": refs}
        ),
        outputs=hypotheses,
        target_lang="en",
    )
    columns: dict[str, list] = {"id": list(scoring.data["id"])}
    corpus = {}
    for name in metrics:
        per_sample, entry = METRICS.get(name).load()(scoring, {})
        for column in per_sample.columns:
            columns[column] = list(per_sample[column])
        corpus[name] = entry["score"]
    return pd.DataFrame(columns), corpus


def entries(corpus: dict[tuple[str, str], dict[str, float | None]]) -> list[dict]:
    return [
        {"system": system, "subset": subset, "metric": metric, "score": score}
        for (system, subset), scores in corpus.items()
        for metric, score in scores.items()
    ]


def test_resample_indices_and_counts_are_sacrebleus(monkeypatch):
    monkeypatch.delenv("SACREBLEU_SEED", raising=False)  # sacrebleu's default: 12345

    class CountingMetric:
        """Summed one-hot statistics: the score of a resample is its draw counts."""

        def _compute_score_from_stats(self, stats):
            return stats

    n = 37
    _, sacrebleu_counts = _bootstrap_resample(np.eye(n).tolist(), CountingMetric(), 50)
    indices = resample_indices(n, resamples=50, seed=12345)
    assert indices.shape == (50, n)
    counts = resample_counts(indices, n)
    assert np.array_equal(counts, np.array(sacrebleu_counts))
    assert np.array_equal(counts[3], np.bincount(indices[3], minlength=n))
    assert not np.array_equal(resample_indices(n, 50, seed=1), indices)


def test_bleu_and_chrf_match_sacrebleus_paired_bootstrap(monkeypatch):
    monkeypatch.delenv("SACREBLEU_SEED", raising=False)
    refs = references(80)
    baseline, system = noisy(refs, 0.35, seed=1), noisy(refs, 0.2, seed=2)
    samples, corpus = {}, {}
    for name, hypotheses in (("sft", baseline), ("base", system)):
        samples[(name, "en-de")], corpus[(name, "en-de")] = translation_scores(
            hypotheses, refs
        )
    table = bootstrap_table(
        entries(corpus),
        samples,
        subsets=["en-de"],
        metrics=["bleu", "chrf++"],
        systems=["sft", "base"],
        reference_system="sft",
    )
    signatures, results = PairedTest(
        [("sft", baseline), ("base", system)],
        {"BLEU": BLEU(), "chrF": CHRF(word_order=2)},
        references=[refs],
        test_type="bs",
        n_samples=1000,
    )()
    for column, (metric, sacrebleu_name) in enumerate(
        [("bleu", "BLEU"), ("chrf++", "chrF2++")]
    ):
        reference_result, system_result = results[sacrebleu_name]
        assert table.value("base", "en-de", metric) == system_result.score
        p_value = table.intervals.p_values[1][column]
        assert p_value == system_result.p_value
        assert p_value < 0.05  # 20% against 35% word errors on 80 sentences
        # sacrebleu reports mean +- half the width of the same percentile interval
        # (its statistics in float32, hence approx).
        for row, result in enumerate((reference_result, system_result)):
            low, high = (
                table.intervals.low[row][column],
                table.intervals.high[row][column],
            )
            assert (high - low) / 2 == pytest.approx(result.ci, rel=1e-5)
            assert low < table.values[row][column] < high
    # The reference's resampled BLEU scores are sacrebleu's, resample by resample.
    sft_samples = samples[("sft", "en-de")]
    stats = [list(row) for row in sft_samples["bleu:stats"]]
    _, sacrebleu_scores = _bootstrap_resample(stats, BLEU(), 1000)
    counts = resample_counts(resample_indices(len(refs)), len(refs))
    ours = resampled_scores("bleu", sft_samples, counts)
    assert ours == pytest.approx([s.score for s in sacrebleu_scores], rel=1e-5)
    # ... and the corpus BLEU of the explicitly resampled sentences.
    indices = resample_indices(len(refs))
    for r in (0, 1, 500, 999):
        picked = indices[r]
        expected = BLEU().corpus_score(
            [baseline[i] for i in picked], [[refs[i] for i in picked]]
        )
        assert ours[r] == expected.score
        chrf = CHRF(word_order=2).corpus_score(
            [baseline[i] for i in picked], [[refs[i] for i in picked]]
        )
        assert resampled_scores("chrf++", sft_samples, counts[r : r + 1])[
            0
        ] == pytest.approx(chrf.score, abs=1e-12)


def mean_metric_fixture():
    """Three systems, two subsets of different sizes, two mean metrics (ROUGE-like)."""
    rng = np.random.default_rng(0)
    sizes = {"en-zh": 40, "ar-ru": 25}
    level = {"sft": 1.0, "base": 0.6, "chat": 0.9}
    samples, corpus = {}, {}
    for system, factor in level.items():
        for subset, n in sizes.items():
            # ar-ru rouge2 is near zero for the reference: a flagged cell.
            scale = 1.5 if subset == "ar-ru" else 20.0
            rouge2 = np.clip(rng.normal(scale * factor, scale / 2, n), 0, None)
            lase = np.clip(rng.normal(60 * factor, 10, n), 0, 100)
            samples[(system, subset)] = pd.DataFrame(
                {
                    "id": [f"{subset}-{i}" for i in range(n)],
                    "rouge2": rouge2,
                    "lase": lase,
                }
            )
            corpus[(system, subset)] = {"rouge2": rouge2.mean(), "lase": lase.mean()}
    arguments = dict(
        subsets=list(sizes),
        metrics=["rouge2", "lase"],
        systems=list(level),
        reference_system="sft",
        sft_systems=["chat"],
        near_zero_threshold=2.0,
    )
    return samples, corpus, arguments


def test_resampled_tables_are_build_table_on_resampled_means():
    samples, corpus, arguments = mean_metric_fixture()
    settings = {"resamples": 30, "seed": 99}
    point, values, _ = resampled_tables(
        entries(corpus), samples, bootstrap=settings, **arguments
    )
    assert point.value("sft", "ar-ru", "rouge2") < 2.0  # flagged in the point table
    assert values.shape == (30, 3, len(point.columns))
    # Each subset draws its own resamples from a generator seeded with the seed.
    indices = {
        subset: resample_indices(len(samples[("sft", subset)]), 30, 99)
        for subset in ("en-zh", "ar-ru")
    }
    for r in (0, 7, 29):
        direct = [
            {
                "system": system,
                "subset": subset,
                "metric": metric,
                "score": float(np.mean(table[metric].to_numpy()[indices[subset][r]])),
            }
            for (system, subset), table in samples.items()
            for metric in ("rouge2", "lase")
        ]
        expected = build_table(direct, **arguments)
        for row in range(3):
            for column in range(len(point.columns)):
                value = expected.values[row][column]
                if value is None:
                    assert math.isnan(values[r, row, column])
                else:
                    assert values[r, row, column] == pytest.approx(value, rel=1e-12)


def test_intervals_and_p_values_equal_a_direct_computation():
    samples, corpus, arguments = mean_metric_fixture()
    settings = {"resamples": 200, "seed": 5, "confidence": 0.9}
    point, values, _ = resampled_tables(
        entries(corpus), samples, bootstrap=settings, **arguments
    )
    table = bootstrap_table(entries(corpus), samples, bootstrap=settings, **arguments)
    assert table.values == point.values and table.texts == point.texts
    intervals = table.intervals
    assert (intervals.resamples, intervals.seed, intervals.confidence) == (200, 5, 0.9)
    base, sft = table.systems.index("base"), table.systems.index("sft")
    for column, header in enumerate(table.columns):
        draws = sorted(values[:, base, column])
        # 90% of 200 resamples: the 10th smallest and 10th largest (0-based).
        assert intervals.low[base][column] == draws[10]
        assert intervals.high[base][column] == draws[189]
        if header.group.startswith("%SFT"):
            assert intervals.p_values[base][column] is None
            continue
        observed = abs(point.values[base][column] - point.values[sft][column])
        differences = [
            abs(values[r, base, column] - values[r, sft, column]) for r in range(200)
        ]
        mean = sum(differences) / 200
        exceeding = sum(1 for d in differences if d - mean > observed)
        assert intervals.p_values[base][column] == pytest.approx((exceeding + 1) / 201)
    # No p-values for the reference and the other SFT system.
    chat = table.systems.index("chat")
    assert all(p is None for p in intervals.p_values[sft] + intervals.p_values[chat])
    # SFT systems have no %SFT, hence no interval there.
    sft_column = [c.group for c in table.columns].index("%SFT")
    assert intervals.low[sft][sft_column] is None
    assert intervals.low[base][sft_column] is not None


def test_paired_p_value_and_percentile_interval_by_hand():
    system = np.array([3.0, 5.0, 4.0, 6.0])
    reference = np.array([2.0, 5.0, 1.0, 2.0])
    # |differences| 1, 0, 3, 4; mean 2; centred -1, -2, 1, 2; observed |4.5 - 2| = 2.5.
    assert paired_p_value(4.5, 2.0, system, reference) == pytest.approx(1 / 5)
    assert paired_p_value(4.5, 4.0, system, reference) == pytest.approx(3 / 5)
    values = np.arange(1000.0)[::-1]
    assert percentile_interval(values, 0.95) == (25.0, 974.0)  # sacrebleu: n // 40
    assert percentile_interval(values, 0.9) == (50.0, 949.0)


def test_missing_metric_stays_missing_and_points_are_checked():
    refs = references(30)
    samples, corpus = {}, {}
    for name, rate, seed in (("sft", 0.3, 1), ("base", 0.4, 2)):
        per_sample, scores = translation_scores(
            noisy(refs, rate, seed), refs, metrics=("bleu", "spbleu")
        )
        samples[(name, "en-fr")], corpus[(name, "en-fr")] = per_sample, scores
    assert corpus[("sft", "en-fr")]["spbleu"] is None  # no SentencePiece model
    arguments = dict(
        subsets=["en-fr"],
        metrics=["bleu", "spbleu"],
        systems=["sft", "base"],
        reference_system="sft",
    )
    table = bootstrap_table(
        entries(corpus), samples, bootstrap={"resamples": 50}, **arguments
    )
    spbleu = [c.metric for c in table.columns].index("spbleu")
    for row in range(2):
        assert table.texts[row][spbleu] == "n/a"
        assert table.intervals.low[row][spbleu] is None
        assert table.intervals.p_values[row][spbleu] is None
    assert table.intervals.low[1][0] is not None

    # A per-sample file of another decode does not give the saved corpus score.
    swapped = dict(samples)
    swapped[("base", "en-fr")] = samples[("sft", "en-fr")]
    with pytest.raises(InputError, match="do the files belong together"):
        bootstrap_table(
            entries(corpus), swapped, bootstrap={"resamples": 5}, **arguments
        )
    shuffled = dict(samples)
    shuffled[("base", "en-fr")] = samples[("base", "en-fr")].iloc[::-1]
    with pytest.raises(InputError, match="different sample ids"):
        bootstrap_table(
            entries(corpus), shuffled, bootstrap={"resamples": 5}, **arguments
        )
    with pytest.raises(InputError, match="no per-sample scores"):
        bootstrap_table(
            entries(corpus),
            {("sft", "en-fr"): samples[("sft", "en-fr")]},
            bootstrap={"resamples": 5},
            **arguments,
        )


def test_same_seed_same_intervals_other_seed_other_intervals():
    samples, corpus, arguments = mean_metric_fixture()

    def intervals(seed):
        table = bootstrap_table(
            entries(corpus),
            samples,
            bootstrap={"resamples": 100, "seed": seed},
            **arguments,
        )
        return table.intervals.low, table.intervals.high, table.intervals.p_values

    assert intervals(3) == intervals(3)
    assert intervals(3) != intervals(4)


def test_undefined_resampled_sft_gets_no_interval_and_a_note():
    # The reference's b-cell is 0 except for one sentence: some resamples drop it,
    # making %SFT (a ratio to 0) undefined there.
    n = 20
    reference_b = np.zeros(n)
    reference_b[0] = 40.0
    samples = {
        ("sft", "a"): pd.DataFrame({"lase": np.full(n, 50.0)}),
        ("sft", "b"): pd.DataFrame({"lase": reference_b}),
        ("base", "a"): pd.DataFrame({"lase": np.full(n, 40.0)}),
        ("base", "b"): pd.DataFrame({"lase": np.full(n, 10.0)}),
    }
    corpus = {key: {"lase": table["lase"].mean()} for key, table in samples.items()}
    table = bootstrap_table(
        entries(corpus),
        samples,
        subsets=["a", "b"],
        metrics=["lase"],
        systems=["sft", "base"],
        reference_system="sft",
        bootstrap={"resamples": 100},
    )
    columns = [c.group for c in table.columns]
    assert table.value("base", "%SFT") is not None
    assert table.intervals.low[1][columns.index("%SFT")] is None
    assert table.intervals.low[1][columns.index("b")] is not None
    (note,) = table.intervals.notes
    assert note.startswith("No interval where the value is undefined")
    assert "base %SFT (" in note
    assert note in render_markdown(table)


def test_pos_cells_resample_summed_counts():
    from prettyflow.metrics.pos import score_pos

    rng = random.Random(3)
    tags = ["NOUN", "VERB", "DET", "ADJ"]
    gold_tokens = [[f"w{i}{j}" for j in range(rng.randint(2, 6))] for i in range(30)]
    gold_tags = [[rng.choice(tags) for _ in tokens] for tokens in gold_tokens]

    def answers(accuracy, seed):
        rng = random.Random(seed)
        return [
            json.dumps(
                [
                    [t, g if rng.random() < accuracy else "X"]
                    for t, g in zip(tokens, tags_)
                ]
            )
            for tokens, tags_ in zip(gold_tokens, gold_tags)
        ]

    samples, corpus = {}, {}
    for system, accuracy in (("sft", 0.8), ("base", 0.5)):
        outputs = answers(accuracy, seed=len(system))
        per_sentence, scores = score_pos(gold_tokens, gold_tags, outputs)
        samples[(system, "fr")] = per_sentence
        corpus[(system, "fr")] = {"precision": scores["precision"], "f1": scores["f1"]}
        if system == "base":
            base_outputs = outputs
    point, values, _ = resampled_tables(
        entries(corpus),
        samples,
        subsets=["fr"],
        metrics=["precision", "f1"],
        systems=["sft", "base"],
        reference_system="sft",
        sft_ratio="ratio_of_averages",
        bootstrap={"resamples": 20},
    )
    indices = resample_indices(30, 20)
    for r in (0, 19):
        picked = indices[r]
        _, direct = score_pos(
            [gold_tokens[i] for i in picked],
            [gold_tags[i] for i in picked],
            [base_outputs[i] for i in picked],
        )
        assert values[r, 1, 0] == direct["precision"]
        assert values[r, 1, 1] == direct["f1"]


def test_bad_settings_are_input_errors():
    for settings, field in (
        ({"resamples": 0}, "bootstrap.resamples"),
        ({"seed": "x"}, "bootstrap.seed"),
        ({"confidence": 1.0}, "bootstrap.confidence"),
        ({"resample": 10}, "bootstrap"),
    ):
        with pytest.raises(InputError) as error:
            BootstrapSettings.from_mapping(settings)
        assert error.value.field == field
    assert BootstrapSettings.from_mapping({}) == BootstrapSettings(1000, 12345, 0.95)


def test_results_table_renders_intervals_from_the_sample_files(tmp_path):
    from prettyflow.steps.tables import results_table

    samples, corpus, arguments = mean_metric_fixture()
    score_paths, sample_paths = [], []
    for (system, subset), table in samples.items():
        sample_path = tmp_path / f"{system}-{subset}.parquet"
        write_parquet(table, sample_path)
        score_path = tmp_path / f"{system}-{subset}.json"
        write_json(
            {
                "system": system,
                "subset": subset,
                "scores": {
                    metric: {"score": score, "signature": None}
                    for metric, score in corpus[(system, subset)].items()
                },
                "diagnostics": {
                    "samples": len(table),
                    "empty_outputs": 0,
                    "mean_new_tokens": 10.0,
                    "stopped_by": {"eos": len(table)},
                },
                "provenance": {"model": {}},
            },
            score_path,
        )
        score_paths.append(score_path)
        sample_paths.append(sample_path)
    settings = {
        **arguments,
        "sft_ratio": "mean_of_cell_ratios",
        "reference": "sft_reference",
        "labels": {"sft": "SFT", "rouge2": "R2"},
        "task": "summarization",
        "benchmark": "crosssum",
        "family": "llama2",
        "bootstrap": {"resamples": 100, "seed": 12345, "confidence": 0.95},
    }
    outputs = [tmp_path / name for name in ("t.csv", "t.md", "t.tex")]
    table = results_table(score_paths, settings, *outputs, sample_paths=sample_paths)
    rows = list(csv.reader(outputs[0].open(encoding="utf-8")))
    assert rows[0][:5] == [
        "system",
        "en-zh R2",
        "en-zh R2 95% low",
        "en-zh R2 95% high",
        "en-zh R2 p",
    ]
    assert rows[0][-3:] == [
        "%SFT (excl. flagged)",
        "%SFT (excl. flagged) 95% low",
        "%SFT (excl. flagged) 95% high",
    ]
    base = rows[2]
    assert base[0] == "base" and float(base[2]) <= float(base[1]) <= float(base[3])
    assert base[4] == f"{table.intervals.p_values[1][0]:.4f}"
    assert rows[1][4] == ""  # no p-value for the reference
    markdown = outputs[1].read_text(encoding="utf-8")
    assert (
        "95% paired-bootstrap intervals (100 resamples, seed 12345); * p < 0.05 vs SFT."
        in markdown
    )
    assert r"\scriptsize[" in outputs[2].read_text(encoding="utf-8")
    assert render_latex(table) == outputs[2].read_text(encoding="utf-8")

    without = dict(settings)
    del without["bootstrap"]
    plain = results_table(score_paths, without, *outputs)
    assert plain.intervals is None
    with pytest.raises(InputError, match="sample_paths"):
        results_table(score_paths, settings, *outputs)


def test_seven_systems_two_subsets_four_metrics_is_fast():
    """The size of a paper table: 7 systems x 2 subsets x 4 metrics, 1000 resamples."""
    import time

    rng = np.random.default_rng(1)
    systems = [f"system{i}" for i in range(7)]
    metrics = ["rouge2", "rougeL", "lase", "comet"]
    samples, corpus = {}, {}
    for system in systems:
        for subset in ("a", "b"):
            table = pd.DataFrame({m: rng.uniform(10, 60, 1000) for m in metrics})
            samples[(system, subset)] = table
            corpus[(system, subset)] = {m: table[m].mean() for m in metrics}
    started = time.perf_counter()
    bootstrap_table(
        entries(corpus),
        samples,
        subsets=["a", "b"],
        metrics=metrics,
        systems=systems,
        reference_system="system0",
        sft_systems=["system1"],
    )
    assert time.perf_counter() - started < 10.0


def test_best_sft_per_cell_and_blocks_follow_the_table_definition():
    """Intervals and p-values with Table 2's reference (the best SFT model of each
    cell, decided again on each resample) and Table 1's blocks."""
    samples, corpus, arguments = mean_metric_fixture()
    # chat beats sft on en-zh LaSE: the reference differs between cells.
    samples[("chat", "en-zh")]["lase"] += 30.0
    corpus[("chat", "en-zh")]["lase"] = samples[("chat", "en-zh")]["lase"].mean()
    arguments.update(
        reference="best_sft",
        sft_metrics=["lase"],
        blocks=[
            {"name": "A", "subsets": ["en-zh"]},
            {"name": "B", "subsets": ["ar-ru"]},
        ],
    )
    settings = {"resamples": 50, "seed": 3}
    point, values, references = resampled_tables(
        entries(corpus), samples, bootstrap=settings, **arguments
    )
    sft, base, chat = (point.systems.index(s) for s in ("sft", "base", "chat"))
    for column, header in enumerate(point.columns):
        if header.group in ("en-zh", "ar-ru"):
            best = np.maximum(values[:, sft, column], values[:, chat, column])
            assert np.array_equal(references[:, column], best)
    lase = point.column_index("en-zh", "lase")
    assert point.reference_values[lase] == point.values[chat][lase]
    # %SFT of block A: base's LaSE over the best SFT LaSE, resample by resample.
    sft_a = point.column_index("%SFT", "", "A")
    assert values[:, base, sft_a] == pytest.approx(
        100 * values[:, base, lase] / references[:, lase]
    )
    table = bootstrap_table(entries(corpus), samples, bootstrap=settings, **arguments)
    average = table.column_index("Avg.", "lase", "B")
    assert table.intervals.p_values[base][average] == paired_p_value(
        table.values[base][average],
        table.reference_values[average],
        values[:, base, average],
        references[:, average],
    )
    assert table.intervals.p_values[base][sft_a] is None
    assert (
        "* p < 0.05 vs the best SFT model in each cell (its average: the mean of "
        "those cells)." in render_markdown(table)
    )


def test_a_system_equal_to_the_reference_everywhere_is_not_significant():
    # A wrong-language rate of 0% beside the reference's 0%: sacrebleu's formula
    # would give p = 1 / (R + 1); no difference is not a significant one.
    zeros = np.zeros(1000)
    assert paired_p_value(0.0, 0.0, zeros, zeros) == 1.0
    ones = np.full(1000, 100.0)
    assert paired_p_value(100.0, 0.0, ones, zeros) == pytest.approx(1 / 1001)
