from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sentencepiece
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.tokenizers import tokenizer_spm

from prettyflow.errors import InputError, MissingResourceError
from prettyflow.metrics import METRICS
from prettyflow.metrics.scoring import Scoring
from prettyflow.metrics.translation import (
    FLORES101_SPM_FILENAME,
    SPBLEU_NOT_PROVIDED,
    resample_bleu,
    resample_chrf_plus_plus,
    resample_spbleu,
    score_translation,
)

# The registry's metrics computed by score_translation (COMET runs elsewhere).
TRANSLATION_SCORER = "prettyflow.metrics.translation:"

HYPOTHESES = [
    "O gato está na cama.",
    "Eu gosto de maçãs verdes e vermelhas.",
    "A reunião foi adiada para amanhã de manhã.",
]
REFERENCES = [
    "O gato está sentado na cama.",
    "Eu gosto de maçãs verdes.",
    "A reunião foi adiada para amanhã.",
]

TRAINING_SENTENCES = [
    "O gato está sentado na cama e dorme.",
    "Eu gosto de maçãs verdes e de peras.",
    "A reunião foi adiada para amanhã de manhã.",
    "The cat is sitting on the bed and sleeping.",
    "I like green apples and pears.",
    "The meeting was postponed until tomorrow morning.",
    "猫坐在床上睡觉。",
    "Кошка сидит на кровати и спит.",
]


def train_sentencepiece(vocab_size: int, seed_sentences: list[str]) -> bytes:
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(seed_sentences * 10),
        model_writer=model,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
        num_threads=1,
    )
    return model.getvalue()


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spm") / "flores101.model"
    path.write_bytes(train_sentencepiece(120, TRAINING_SENTENCES))
    return path


def manual_spm_bleu(model_path: Path, hypotheses: list[str], references: list[str]):
    """BLEU on text tokenized by SentencePiece ourselves, with sacrebleu tokenization off."""
    processor = sentencepiece.SentencePieceProcessor()
    processor.Load(str(model_path))

    def pieces(text: str) -> str:
        return " ".join(processor.EncodeAsPieces(text))

    tokenized_hypotheses = [pieces(text) for text in hypotheses]
    tokenized_references = [pieces(text) for text in references]
    corpus = BLEU(tokenize="none").corpus_score(
        tokenized_hypotheses, [tokenized_references]
    )
    sentence_metric = BLEU(tokenize="none", effective_order=True)
    sentences = [
        sentence_metric.sentence_score(hypothesis, [reference]).score
        for hypothesis, reference in zip(tokenized_hypotheses, tokenized_references)
    ]
    return corpus.score, sentences


def test_bleu_and_chrf_plus_plus_scores_and_signatures():
    per_sample, corpus = score_translation(
        HYPOTHESES, REFERENCES, "pt", metrics=("bleu", "chrf++")
    )
    assert list(per_sample.columns) == ["bleu", "chrf++"]
    assert len(per_sample) == 3
    assert corpus["bleu"]["status"] == "ok"
    assert "tok:13a" in corpus["bleu"]["signature"]
    assert "nw:2" in corpus["chrf++"]["signature"]  # chrF++ = chrF with word bigrams
    assert 0 < corpus["bleu"]["score"] < 100
    assert per_sample["chrf++"].between(0, 100).all()


def test_identical_translation_scores_100():
    per_sample, corpus = score_translation(
        REFERENCES, REFERENCES, "pt", metrics=("bleu", "chrf++")
    )
    assert corpus["bleu"]["score"] == pytest.approx(100.0)
    assert corpus["chrf++"]["score"] == pytest.approx(100.0)
    assert per_sample["bleu"].tolist() == pytest.approx([100.0] * 3)


def test_chinese_target_uses_zh_tokenizer():
    hypotheses = ["猫在床上睡觉。"]
    references = ["猫坐在床上睡觉。"]
    _, corpus = score_translation(hypotheses, references, "zh", metrics=("bleu",))
    assert "tok:zh" in corpus["bleu"]["signature"]
    # With 13a the unsegmented sentence is one token and BLEU would be 0.
    assert corpus["bleu"]["score"] > 0


def test_spbleu_not_computed_without_model():
    per_sample, corpus = score_translation(HYPOTHESES, REFERENCES, "pt")
    assert corpus["spbleu"] == {
        "score": None,
        "signature": None,
        "status": "not computed",
        "reason": SPBLEU_NOT_PROVIDED,
    }
    assert per_sample["spbleu"].isna().all()
    assert corpus["bleu"]["status"] == "ok"


def test_spbleu_equals_bleu_on_manual_sentencepiece_tokens(
    spm_model: Path, tmp_path: Path
):
    sacrebleu_dir = tmp_path / "sacrebleu"
    saved_dir = tokenizer_spm.SACREBLEU_DIR
    per_sample, corpus = score_translation(
        HYPOTHESES,
        REFERENCES,
        "pt",
        metrics=("spbleu",),
        spm_model=spm_model,
        sacrebleu_dir=sacrebleu_dir,
    )
    expected_corpus, expected_sentences = manual_spm_bleu(
        spm_model, HYPOTHESES, REFERENCES
    )
    assert corpus["spbleu"]["status"] == "ok"
    assert corpus["spbleu"]["score"] == expected_corpus
    assert per_sample["spbleu"].tolist() == expected_sentences
    assert "tok:flores101" in corpus["spbleu"]["signature"]
    assert "spm_sha256:" in corpus["spbleu"]["signature"]
    # The model sits where sacrebleu looks; nothing else (no .lock, no partial file).
    files = sorted(
        p.relative_to(sacrebleu_dir).as_posix() for p in sacrebleu_dir.rglob("*")
    )
    assert files == ["models", f"models/{FLORES101_SPM_FILENAME}"]
    assert tokenizer_spm.SACREBLEU_DIR == saved_dir  # global restored


def test_spbleu_differs_from_plain_bleu_and_works_without_sacrebleu_dir(
    spm_model: Path,
):
    _, corpus = score_translation(HYPOTHESES, REFERENCES, "pt", spm_model=spm_model)
    expected_corpus, _ = manual_spm_bleu(spm_model, HYPOTHESES, REFERENCES)
    assert corpus["spbleu"]["score"] == expected_corpus
    assert corpus["spbleu"]["score"] != corpus["bleu"]["score"]


def test_stale_model_in_sacrebleu_dir_is_replaced(spm_model: Path, tmp_path: Path):
    sacrebleu_dir = tmp_path / "sacrebleu"
    stale = sacrebleu_dir / "models" / FLORES101_SPM_FILENAME
    stale.parent.mkdir(parents=True)
    stale.write_bytes(train_sentencepiece(40, TRAINING_SENTENCES[:3]))
    _, corpus = score_translation(
        HYPOTHESES,
        REFERENCES,
        "pt",
        metrics=("spbleu",),
        spm_model=spm_model,
        sacrebleu_dir=sacrebleu_dir,
    )
    expected_corpus, _ = manual_spm_bleu(spm_model, HYPOTHESES, REFERENCES)
    assert corpus["spbleu"]["score"] == expected_corpus
    assert stale.read_bytes() == spm_model.read_bytes()


def test_bad_spm_file_is_a_clear_input_error(tmp_path: Path):
    bad = tmp_path / "broken.model"
    bad.write_bytes(b"this is not a sentencepiece model")
    with pytest.raises(InputError) as error:
        score_translation(
            HYPOTHESES, REFERENCES, "pt", spm_model=bad, sacrebleu_dir=tmp_path / "sb"
        )
    assert str(bad) in str(error.value)
    assert "metrics.spbleu.spm_model" in str(error.value)
    assert not (tmp_path / "sb").exists()


def test_missing_spm_file_says_how_to_provide_it(tmp_path: Path):
    with pytest.raises(MissingResourceError, match="sacrebleu_tokenizer_spm.model"):
        score_translation(
            HYPOTHESES, REFERENCES, "pt", spm_model=tmp_path / "absent.model"
        )


def test_unknown_metric_lists_known_ones():
    with pytest.raises(InputError) as error:
        score_translation(HYPOTHESES, REFERENCES, "pt", metrics=("bleu", "comet"))
    message = str(error.value)
    assert "comet" in message
    names = [
        name
        for name, metric in METRICS.items()
        if metric.scorer.startswith(TRANSLATION_SCORER)
    ]
    assert sorted(names) == ["bleu", "chrf++", "spbleu"]
    for name in names:
        assert name in message


@pytest.mark.parametrize(
    ("hypotheses", "references", "expected"),
    [
        (["a", None], ["a", "b"], "hypothesis"),
        (["a"], ["a", "b"], "1 hypotheses but 2 references"),
        ([], [], "no hypotheses"),
    ],
)
def test_bad_inputs(hypotheses, references, expected):
    with pytest.raises(InputError, match=expected):
        score_translation(hypotheses, references, "pt", metrics=("bleu",))


def test_non_string_hypothesis_names_its_line():
    with pytest.raises(InputError) as error:
        score_translation(
            ["a", "b", math.nan], ["a", "b", "c"], "pt", metrics=("bleu",)
        )
    assert error.value.line == 3


def scoring(hypotheses, references, target_lang="pt", sacrebleu_dir=None) -> Scoring:
    data = pd.DataFrame(
        {"id": [f"s{i}" for i in range(len(references))], "reference": references}
    )
    return Scoring(
        data=data,
        outputs=list(hypotheses),
        target_lang=target_lang,
        sacrebleu_dir=None if sacrebleu_dir is None else str(sacrebleu_dir),
    )


@pytest.mark.parametrize("name", ["bleu", "chrf++"])
def test_registry_scorers_equal_score_translation(name):
    expected_samples, expected_corpus = score_translation(
        HYPOTHESES, REFERENCES, "pt", metrics=(name,)
    )
    metric = METRICS.get(name)
    assert metric.tasks == {"translation"}
    per_sample, entry = metric.load()(scoring(HYPOTHESES, REFERENCES), {})
    assert list(per_sample.columns) == [name, f"{name}:stats"]
    assert per_sample[name].tolist() == expected_samples[name].tolist()
    assert entry == expected_corpus[name]
    # Each sentence's sufficient statistics of the corpus metric, as sacrebleu has them.
    corpus_metric = BLEU() if name == "bleu" else CHRF(word_order=2)
    assert per_sample[f"{name}:stats"].tolist() == (
        corpus_metric._extract_corpus_statistics(HYPOTHESES, [REFERENCES])
    )


def test_resampling_hooks_equal_corpus_scores_of_the_resampled_sentences():
    metric_of = {"bleu": BLEU(), "chrf++": CHRF(word_order=2)}
    hooks = {"bleu": resample_bleu, "chrf++": resample_chrf_plus_plus}
    # Row 0 draws every sentence once; the others repeat and drop sentences.
    counts = np.array([[1, 1, 1], [2, 0, 1], [0, 3, 0], [1, 0, 2]])
    for name, metric in metric_of.items():
        per_sample, entry = METRICS.get(name).load()(
            scoring(HYPOTHESES, REFERENCES), {}
        )
        resampled = hooks[name](per_sample, counts)
        assert resampled[0] == entry["score"]
        for row, draws in enumerate(counts):
            picked = [i for i, times in enumerate(draws) for _ in range(times)]
            expected = metric.corpus_score(
                [HYPOTHESES[i] for i in picked], [[REFERENCES[i] for i in picked]]
            ).score
            assert resampled[row] == pytest.approx(expected, abs=1e-12)


def test_resampling_hooks_need_the_statistics():
    per_sample, _ = METRICS.get("bleu").load()(scoring(HYPOTHESES, REFERENCES), {})
    with pytest.raises(InputError, match="score the outputs again"):
        resample_bleu(per_sample.drop(columns=["bleu:stats"]), np.ones((1, 3), int))
    per_sample.loc[1, "bleu:stats"] = None
    with pytest.raises(InputError, match="1 of 3 rows have no statistics"):
        resample_bleu(per_sample, np.ones((1, 3), int))


def test_registry_scorer_uses_the_target_language_tokenizer():
    _, entry = METRICS.get("bleu").load()(
        scoring(["猫在床上睡觉。"], ["猫坐在床上睡觉。"], "zh"), None
    )
    assert "tok:zh" in entry["signature"] and entry["score"] > 0


def test_registry_spbleu_reads_spm_model_from_its_settings(
    spm_model: Path, tmp_path: Path
):
    spbleu = METRICS.get("spbleu").load()
    per_sample, entry = spbleu(scoring(HYPOTHESES, REFERENCES), {"spm_model": None})
    assert entry["status"] == "not computed"
    assert entry["reason"] == SPBLEU_NOT_PROVIDED
    assert per_sample["spbleu"].isna().all() and len(per_sample) == 3
    assert per_sample["spbleu:stats"].isna().all()

    sacrebleu_dir = tmp_path / "sacrebleu"
    per_sample, entry = spbleu(
        scoring(HYPOTHESES, REFERENCES, sacrebleu_dir=sacrebleu_dir),
        {"spm_model": str(spm_model)},
    )
    expected_corpus, expected_sentences = manual_spm_bleu(
        spm_model, HYPOTHESES, REFERENCES
    )
    assert entry["status"] == "ok"
    assert entry["score"] == expected_corpus
    assert per_sample["spbleu"].tolist() == expected_sentences
    assert (sacrebleu_dir / "models" / FLORES101_SPM_FILENAME).is_file()
    # Resampling needs no SentencePiece model: the statistics are saved.
    assert resample_spbleu(per_sample, np.ones((1, 3), int))[0] == entry["score"]


def test_registry_scorer_rejects_a_missing_hypothesis():
    with pytest.raises(InputError, match="hypothesis"):
        METRICS.get("bleu").load()(scoring(["a", None], ["a", "b"]), {})
