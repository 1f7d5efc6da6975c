from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import build_tiny_causal_lm, train_byte_level_tokenizer
from tokenizers import decoders, normalizers, pre_tokenizers, processors

from prettyflow.analysis.decision_space import (
    COLUMNS,
    LN2,
    RANK,
    SETUP_INSTRUCTION,
    SETUP_PRIOR,
    TOP_K,
    agreement_at_k,
    by_position,
    chosen_probabilities,
    chosen_probability_summary,
    compare_distributions,
    cross_entropy,
    divergence_summary,
    entropy,
    js,
    kl,
    silent_majority,
    teacher_forced_positions,
)
from prettyflow.analysis.tokenizers import shared_tokenizer, tokenizer_difference
from prettyflow.backends.hf import HFBackend
from prettyflow.errors import InputError
from prettyflow.io import read_provenance, write_parquet

# --- divergences on hand-computed distributions --------------------------------


def logs(*rows):
    return torch.tensor(rows, dtype=torch.float64).log()


def test_kl_of_a_distribution_with_itself_is_zero():
    p = logs([0.5, 0.25, 0.25], [1.0, 0.0, 0.0], [0.1, 0.2, 0.7])
    assert torch.equal(kl(p, p), torch.zeros(3, dtype=torch.float64))
    assert torch.equal(js(p, p), torch.zeros(3, dtype=torch.float64))


def test_kl_known_values():
    p = logs([0.5, 0.25, 0.25], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0])
    q = logs([0.25, 0.5, 0.25], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0])
    # 0.5 ln 2 + 0.25 ln 0.5 + 0; ln 2 (the zeros of p add nothing); q = 0 where p > 0.
    expected = torch.tensor([0.25 * LN2, LN2, math.inf], dtype=torch.float64)
    assert torch.allclose(kl(p, q), expected)
    # KL is not symmetric: KL(q || p) of the first pair is 0.25 ln 0.5 + 0.5 ln 2.
    assert kl(q[:1], p[:1]).item() == pytest.approx(0.25 * LN2)


def test_js_is_symmetric_bounded_and_ln2_for_disjoint_supports():
    p = logs([1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.0, 1.0])
    q = logs([0.5, 0.5], [0.5, 0.5], [0.2, 0.8], [1.0, 0.0])
    forward, backward = js(p, q), js(q, p)
    assert torch.allclose(forward, backward)
    # m = (0.75, 0.25): 0.5 ln(4/3) + 0.5 * 0.5 ln(4/3).
    assert forward[0].item() == pytest.approx(0.75 * math.log(4 / 3))
    assert forward[1].item() == 0.0
    assert forward[3].item() == pytest.approx(LN2)
    random_p = torch.randn(50, 40).log_softmax(-1)
    random_q = (5 * torch.randn(50, 40)).log_softmax(-1)
    values = js(random_p, random_q)
    assert bool(((values >= 0) & (values <= LN2)).all())


def test_cross_entropy_is_entropy_plus_kl_and_known_value():
    p = logs([0.5, 0.25, 0.25])
    q = logs([0.25, 0.5, 0.25])
    expected = -(0.5 * math.log(0.25) + 0.25 * math.log(0.5) + 0.25 * math.log(0.25))
    assert cross_entropy(p, q).item() == pytest.approx(expected)
    assert entropy(p).item() == pytest.approx(1.5 * LN2)
    for dtype, tolerance in ((torch.float32, 1e-4), (torch.float64, 1e-10)):
        generator = torch.Generator().manual_seed(0)
        a = (3 * torch.randn(20, 1000, generator=generator)).log_softmax(-1)
        b = (3 * torch.randn(20, 1000, generator=generator)).log_softmax(-1)
        a, b = a.to(dtype), b.to(dtype)
        assert cross_entropy(a, b).dtype == dtype
        assert torch.allclose(
            cross_entropy(a, b), entropy(a) + kl(a, b), atol=tolerance, rtol=0
        )


def test_divergences_are_batched_row_by_row_and_stable_in_fp32():
    generator = torch.Generator().manual_seed(1)
    # Peaked distributions over a large vocabulary: most probabilities underflow.
    a = (40 * torch.randn(6, 32000, generator=generator)).log_softmax(-1)
    b = (40 * torch.randn(6, 32000, generator=generator)).log_softmax(-1)
    for function in (kl, js, cross_entropy):
        batched = function(a, b)
        one_by_one = torch.stack([function(a[i], b[i]) for i in range(6)])
        assert torch.allclose(batched, one_by_one)
        assert bool(torch.isfinite(batched).all()) and bool((batched >= 0).all())
        in_fp64 = function(a.double(), b.double())
        assert torch.allclose(batched.double(), in_fp64, rtol=1e-4, atol=1e-5)


# --- agreement@K and the silent majority on constructed logits -------------------

VOCAB = 200


def constructed_frame(ranks_by_position: dict[int, list[int]]) -> pd.DataFrame:
    """Rows whose SFT argmax has exactly the given rank in the foundation's ranking."""
    generator = torch.Generator().manual_seed(2)
    parts = []
    for position, ranks in ranks_by_position.items():
        foundation_rows, sft_rows = [], []
        for rank in ranks:
            order = torch.randperm(VOCAB, generator=generator)
            foundation = torch.empty(VOCAB)
            foundation[order] = torch.linspace(5.0, -5.0, VOCAB)  # order[0] is top
            sft = torch.randn(VOCAB, generator=generator)
            sft[order[rank - 1]] = 10.0  # the SFT choice, at foundation rank `rank`
            foundation_rows.append(foundation)
            sft_rows.append(sft)
        stats = compare_distributions(
            torch.stack(sft_rows).log_softmax(-1),
            torch.stack(foundation_rows).log_softmax(-1),
        )
        part = {
            name: (list(value) if value.ndim == 2 else value)
            for name, value in stats.items()
        }
        part.update(sample_id=[f"s{i}" for i in range(len(ranks))], position=position)
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


RANKS_0 = [1, 1, 3, 5, 20, 21, 50, 2, 1, 100]
RANKS_1 = [1, 1, 1, 1, 2, 1, 1, 1, 30]


def test_constructed_ranks_are_recovered_exactly():
    frame = constructed_frame({0: RANKS_0})
    assert frame[RANK].tolist() == RANKS_0


def test_a_tie_goes_to_the_smaller_id_as_in_argmax():
    # bf16 keeps 8 significant bits: 2.001, 2.0 and 2.002 all round to 2.0, so
    # tokens 1, 3 and 4 tie for the foundation's top logit.
    foundation = torch.tensor([[0.5, 2.001, -1.0, 2.0, 2.002, 1.0]]).bfloat16()
    assert foundation[0, 1] == foundation[0, 3] == foundation[0, 4]
    assert int(foundation.float().argmax()) == 1
    for sft_choice, rank in ((1, 1), (3, 2), (4, 3), (5, 4), (0, 5), (2, 6)):
        sft = torch.full((1, 6), -5.0)
        sft[0, sft_choice] = 5.0
        stats = compare_distributions(sft, foundation, top_k=6)
        assert stats[RANK].tolist() == [rank], sft_choice
        assert stats["foundation_argmax"].tolist() == [1]
        assert stats["foundation_top_ids"].tolist() == [[1, 3, 4, 5, 0, 2]]
        # Rank 1 exactly where the argmaxes agree.
        assert (rank == 1) == (sft_choice == 1)


def test_ranks_and_top_ids_break_ties_as_argmax_on_bf16_logits():
    generator = torch.Generator().manual_seed(5)
    # Around 8, bf16 logits are 1/16 apart: 64 logits of spread 0.3 take about
    # ten values, and the top one is often shared.
    foundation = (8 + 0.3 * torch.randn(300, 64, generator=generator)).bfloat16()
    sft = foundation.clone()
    # Rows 0-99: the same logits (the SFT choice is the foundation's argmax).
    # Rows 100-199: the foundation's argmax lowered, so the SFT choice is the next
    # token in argmax order, often one tied with the foundation's top logit.
    # Rows 200-299: independent logits.
    lowered = torch.arange(100, 200)
    sft[lowered, foundation[lowered].float().argmax(-1)] = 0.0
    sft[200:] = (8 + 0.3 * torch.randn(100, 64, generator=generator)).bfloat16()
    stats = compare_distributions(sft, foundation, top_k=TOP_K)

    sft_argmax = sft.float().argmax(-1)
    foundation_argmax = foundation.float().argmax(-1)
    assert stats["sft_argmax"].tolist() == sft_argmax.tolist()
    assert stats["foundation_argmax"].tolist() == foundation_argmax.tolist()
    # A stable descending sort lists tied logits by id, as argmax picks them.
    order = foundation.float().sort(dim=-1, descending=True, stable=True).indices
    expected = (order == sft_argmax[:, None]).int().argmax(-1) + 1
    assert stats[RANK].tolist() == expected.tolist()
    assert stats["foundation_top_ids"].tolist() == order[:, :TOP_K].tolist()
    agree = (sft_argmax == foundation_argmax).numpy()
    assert np.array_equal(stats[RANK] == 1, agree)
    assert agree[:100].all() and not agree[100:200].any()
    # The case the strict count got wrong: the SFT choice ties with the
    # foundation's top logit but is not its argmax.
    ties_at_top = foundation.float().gather(-1, sft_argmax[:, None])[:, 0] == (
        foundation.float().max(-1).values
    )
    assert (ties_at_top.numpy() & ~agree).sum() >= 10

    frame = pd.DataFrame(
        {
            name: list(value) if value.ndim == 2 else value
            for name, value in stats.items()
        }
    ).assign(sample_id=[f"s{i}" for i in range(300)], position=0)
    assert agreement_at_k(frame, 0, ks=[1])["agreement"].item() == pytest.approx(
        agree.mean()
    )
    assert silent_majority(frame, 0).n_disagree == int((~agree).sum())


def test_comparing_in_chunks_equals_comparing_at_once():
    from prettyflow.analysis.decision_space import _compare_in_chunks

    generator = torch.Generator().manual_seed(3)
    sft = torch.randn(10, VOCAB, generator=generator).log_softmax(-1)
    foundation = torch.randn(10, VOCAB, generator=generator).log_softmax(-1)
    targets = torch.randint(VOCAB, (10,), generator=generator)
    whole = compare_distributions(sft, foundation, targets)
    chunked = _compare_in_chunks(sft, foundation, targets, top_k=20, rows=3)
    assert whole.keys() == chunked.keys()
    for name in whole:
        assert np.array_equal(whole[name], chunked[name]), name


def test_agreement_at_k_gives_exact_shares():
    frame = constructed_frame({0: RANKS_0, 1: RANKS_1})
    table = agreement_at_k(frame, 0).set_index("k")
    assert list(table.index) == list(range(1, 21))
    assert table.loc[1, "agreement"] == pytest.approx(3 / 10)
    assert table.loc[2, "agreement"] == pytest.approx(4 / 10)
    assert table.loc[5, "agreement"] == pytest.approx(6 / 10)
    assert table.loc[19, "agreement"] == pytest.approx(6 / 10)
    assert table.loc[20, "agreement"] == pytest.approx(7 / 10)
    assert set(table["n_samples"]) == {10}
    assert set(table["setup"]) == {SETUP_INSTRUCTION}
    prior = agreement_at_k(frame, 1, ks=[1, 2, 20]).set_index("k")
    assert prior["agreement"].tolist() == pytest.approx([7 / 9, 8 / 9, 8 / 9])
    assert set(prior["setup"]) == {SETUP_PRIOR}


def test_silent_majority_counts_disagreements_covered_by_top_20():
    frame = constructed_frame({0: RANKS_0, 1: RANKS_1})
    majority = silent_majority(frame, 0)
    # Disagreements: ranks 3, 5, 20, 21, 50, 2, 100; within the top 20: 3, 5, 20, 2.
    assert (majority.n_samples, majority.n_disagree, majority.n_covered) == (10, 7, 4)
    assert majority.share == pytest.approx(4 / 7)
    assert silent_majority(frame, 1).share == pytest.approx(1 / 2)
    assert silent_majority(frame, 0, k=50).share == pytest.approx(6 / 7)
    always = constructed_frame({0: [1, 1, 1]})
    assert math.isnan(silent_majority(always, 0).share)


def test_aggregations_refuse_two_rows_of_one_sample_at_one_position():
    frame = constructed_frame({0: [1, 2]})
    twice = pd.concat([frame, frame], ignore_index=True)
    with pytest.raises(InputError, match="several rows per sample"):
        agreement_at_k(twice, 0)


def test_summaries_match_the_columns():
    frame = constructed_frame({0: RANKS_0, 1: RANKS_1})
    summary = divergence_summary(frame).set_index(["position", "metric"])
    kl_0 = frame.loc[frame["position"] == 0, "kl_sft_foundation"]
    assert summary.loc[(0, "kl_sft_foundation"), "mean"] == pytest.approx(kl_0.mean())
    assert summary.loc[(0, "kl_sft_foundation"), "median"] == pytest.approx(
        kl_0.median()
    )
    assert summary.loc[(1, "js"), "n"] == 9
    long = chosen_probabilities(frame)
    assert len(long) == 2 * (10 + 9)
    chosen = chosen_probability_summary(frame).set_index(["position", "model"])
    assert chosen.loc[(1, "SFT"), "mean"] == pytest.approx(
        frame.loc[frame["position"] == 1, "p_sft_chosen"].mean()
    )
    positions = by_position(frame).set_index("position")
    assert positions.loc[0, "agreement_at_1"] == pytest.approx(0.3)
    assert positions.loc[0, "agreement_at_20"] == pytest.approx(0.7)
    assert positions.loc[1, "n_samples"] == 9


# --- tokenizers -----------------------------------------------------------------

CORPUS = [
    "English: The cat sits on the bed.\nPortuguese: O gato está sentado na cama.",
    "English: Where is the station?\nPortuguese: Onde fica a estação?",
    "Translate the following sentence from English to Portuguese.",
    "The weather is nice today. O tempo está bom hoje.",
] * 4


def changed_tokenizer(corpus=CORPUS, **changes):
    """A tiny byte-level tokenizer, with some of its parts changed."""
    trained = train_byte_level_tokenizer(corpus)
    backend = trained.backend_tokenizer
    for stage in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
        if stage in changes:
            setattr(backend, stage, changes.pop(stage))
    if "added" in changes:
        trained.add_tokens(changes.pop("added"), special_tokens=True)
    for name, value in changes.items():
        setattr(trained, name, value)
    return trained


TOKENIZER_CHANGES = {
    "pre-tokenizer kind": (
        {"pre_tokenizer": pre_tokenizers.Metaspace()},
        "pre_tokenizer (ByteLevel vs Metaspace)",
    ),
    "pre-tokenizer option": (
        {"pre_tokenizer": pre_tokenizers.ByteLevel(add_prefix_space=True)},
        "pre_tokenizer (ByteLevel: add_prefix_space: false vs true)",
    ),
    "normalizer": ({"normalizer": normalizers.NFKC()}, "normalizer (none vs NFKC)"),
    "post-processor": (
        {"post_processor": processors.ByteLevel()},
        "post_processor (TemplateProcessing vs ByteLevel)",
    ),
    "decoder": ({"decoder": decoders.Metaspace()}, "decoder (ByteLevel vs Metaspace)"),
    "added tokens": (
        {"added": ["<|im_start|>", "<|im_end|>", "<|system|>", "<|tool|>"]},
        "added tokens (4 only in SFT: '<|im_start|>', '<|im_end|>', '<|system|>', ...)",
    ),
    "special id": ({"eos_token": "<unk>"}, "eos_token_id (2 vs 3)"),
    # Nothing in the compared parts shows it; encoding the probe texts does.
    "a transformers option": (
        {"split_special_tokens": True},
        'encoding ("<s> </s> <unk> <pad> and text": ',
    ),
}


@pytest.mark.parametrize("change", TOKENIZER_CHANGES)
def test_tokenizer_difference_names_what_differs(change):
    changes, expected = TOKENIZER_CHANGES[change]
    reference = changed_tokenizer()
    assert tokenizer_difference(reference, changed_tokenizer()) is None
    difference = tokenizer_difference(reference, changed_tokenizer(**changes))
    assert difference.startswith(f"tokenizers differ: {expected}"), difference
    if not expected.startswith("encoding"):
        assert difference == f"tokenizers differ: {expected}"
    assert not shared_tokenizer(reference, changed_tokenizer(**changes))


def test_tokenizer_difference_of_other_vocabularies_names_tokens_and_merges():
    other = changed_tokenizer(["Ein ganz anderer Text, andere Wörter."] * 4)
    difference = tokenizer_difference(
        changed_tokenizer(), other, names=("base", "chat")
    )
    assert difference.startswith("tokenizers differ: model (BPE: merges: ")
    assert "; vocabulary (" in difference
    assert " only in base: " in difference and " only in chat: " in difference


# --- teacher forcing on tiny models ------------------------------------------------

PROMPTS = [
    "English: The cat sits on the bed.\nPortuguese:",
    "Hi",
    "English: Where is the station? Please tell me where the station is.\nPortuguese:",
    "The weather",
    "Translate the following sentence from English to Portuguese.",
]
ANSWERS = ["O gato está", "Olá, tudo bem?", "O", "é bom hoje", ""]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("decision-space")
    return {
        name: build_tiny_causal_lm(root / name, CORPUS, chat_template=chat, seed=seed)
        for name, seed, chat in (("foundation", 0, False), ("sft", 1, True))
    }


@pytest.fixture(scope="module")
def models(model_dirs):
    return [
        HFBackend.load({"name": name, "path": str(directory)}, device="cpu")
        for name, directory in model_dirs.items()
    ]


@pytest.fixture(scope="module")
def inputs(models):
    foundation_tok, sft_tok = (model.tokenizer for model in models)
    chat = [
        sft_tok.apply_chat_template(
            [{"role": "user", "content": prompt}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for prompt in PROMPTS
    ]
    return {
        "prompts_foundation": [foundation_tok(p).input_ids for p in PROMPTS],
        "prompts_sft": [sft_tok(c, add_special_tokens=False).input_ids for c in chat],
        "answers_ids": [
            sft_tok(a, add_special_tokens=False).input_ids for a in ANSWERS
        ],
    }


@pytest.fixture(scope="module")
def frame(models, inputs):
    foundation, sft = models
    return teacher_forced_positions(
        foundation, sft, **inputs, batch_size=2, progress=False
    )


def last_log_probs(model, ids):
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0, -1]
    return logits.float().log_softmax(-1)


def test_the_two_tiny_models_share_their_tokenizer(models):
    foundation_tok, sft_tok = (model.tokenizer for model in models)
    assert shared_tokenizer(foundation_tok, sft_tok)


def test_one_row_per_answer_token_in_input_order(frame, inputs):
    assert list(frame.columns) == list(COLUMNS)
    lengths = [len(answer) for answer in inputs["answers_ids"]]
    assert lengths[-1] == 0 and min(lengths[:-1]) >= 1
    expected = [(i, j) for i, n in enumerate(lengths) for j in range(n)]
    assert list(zip(frame["sample_id"], frame["position"])) == expected
    answers = [t for answer in inputs["answers_ids"] for t in answer]
    assert frame["answer_token_id"].tolist() == answers
    assert frame["answer_length"].tolist() == [lengths[i] for i, _ in expected]
    assert frame.loc[frame["position"] == 0, "setup"].eq(SETUP_INSTRUCTION).all()
    assert frame.loc[frame["position"] == 1, "setup"].eq(SETUP_PRIOR).all()


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("batch_size", [1, 2, 16])
def test_positions_equal_separate_forward_passes_of_each_prefix(
    models, inputs, padding_side, batch_size
):
    foundation, sft = models
    frame = teacher_forced_positions(
        foundation,
        sft,
        **inputs,
        batch_size=batch_size,
        padding_side=padding_side,
    )
    for row in frame.itertuples():
        answer = inputs["answers_ids"][row.sample_id][: row.position]
        f_log = last_log_probs(
            foundation.model, inputs["prompts_foundation"][row.sample_id] + answer
        )
        s_log = last_log_probs(sft.model, inputs["prompts_sft"][row.sample_id] + answer)
        for log_probs, ids, values in (
            (f_log, row.foundation_top_ids, row.foundation_top_logprobs),
            (s_log, row.sft_top_ids, row.sft_top_logprobs),
        ):
            top = log_probs.topk(20)
            assert list(ids) == top.indices.tolist()
            assert np.allclose(values, top.values.numpy(), atol=1e-5)
        sft_choice = int(s_log.argmax())
        assert row.sft_argmax == sft_choice
        assert row.foundation_argmax == int(f_log.argmax())
        tied_before = f_log[:sft_choice] == f_log[sft_choice]
        rank = int((f_log > f_log[sft_choice]).sum() + tied_before.sum()) + 1
        assert getattr(row, RANK) == rank
        assert row.p_foundation_of_sft_choice == pytest.approx(
            float(f_log[sft_choice].exp()), abs=1e-6
        )
        assert row.p_sft_of_answer == pytest.approx(
            float(s_log[row.answer_token_id].exp()), abs=1e-6
        )
        assert row.kl_sft_foundation == pytest.approx(float(kl(s_log, f_log)), abs=1e-4)
        assert row.js == pytest.approx(float(js(s_log, f_log)), abs=1e-5)
        assert row.cross_entropy == pytest.approx(
            float(cross_entropy(s_log, f_log)), abs=1e-4
        )
        assert row.entropy_foundation == pytest.approx(float(entropy(f_log)), abs=1e-4)


def test_one_forward_pass_per_model_per_batch(models, inputs):
    foundation, sft = models
    calls = {"foundation": 0, "sft": 0}

    def counter(name):
        def hook(module, args, output):
            calls[name] += 1

        return hook

    handles = [
        foundation.model.register_forward_hook(counter("foundation")),
        sft.model.register_forward_hook(counter("sft")),
    ]
    try:
        teacher_forced_positions(foundation, sft, **inputs, batch_size=2)
    finally:
        for handle in handles:
            handle.remove()
    # Four samples with an answer (the fifth is empty), two per batch.
    assert calls == {"foundation": 2, "sft": 2}


def test_sft_argmax_reproduces_the_sft_models_greedy_answer(models, inputs):
    foundation, sft = models
    answers = []
    for ids in inputs["prompts_sft"]:
        output = sft.model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=6,
            do_sample=False,
        )
        answers.append(output[0, len(ids) :].tolist())
    frame = teacher_forced_positions(
        foundation,
        sft,
        inputs["prompts_foundation"],
        inputs["prompts_sft"],
        answers,
        batch_size=3,
    )
    assert len(frame) == sum(len(answer) for answer in answers)
    assert (frame["sft_argmax"] == frame["answer_token_id"]).all()
    assert np.allclose(frame["p_sft_chosen"], frame["p_sft_of_answer"])


def test_same_model_as_foundation_and_sft_agrees_everywhere(models, inputs):
    model, _ = models
    frame = teacher_forced_positions(
        model,
        model,
        inputs["prompts_foundation"],
        inputs["prompts_foundation"],
        inputs["answers_ids"],
        batch_size=2,
    )
    assert frame["kl_sft_foundation"].abs().max() < 1e-6
    assert frame["js"].abs().max() < 1e-6
    assert np.allclose(frame["cross_entropy"], frame["entropy_sft"], atol=1e-5)
    assert (frame[RANK] == 1).all()
    for position in sorted(frame["position"].unique()):
        assert agreement_at_k(frame, position, ks=[1])["agreement"].item() == 1.0
    assert frame["same_prompt"].all()
    assert frame["prefix"].str.startswith("the same prompt tokens").all()


def test_prompts_are_recorded_and_answers_truncated(models, inputs):
    foundation, sft = models
    frame = teacher_forced_positions(
        foundation,
        sft,
        **inputs,
        sample_ids=["a", "b", "c", "d", "e"],
        prompt_texts_sft=[f"chat {i}" for i in range(5)],
        prefix="foundation: plain prompt; SFT: chat template",
        max_positions=2,
    )
    lengths = [min(len(answer), 2) for answer in inputs["answers_ids"]]
    assert lengths == [2, 2, 1, 2, 0]
    assert frame.groupby("sample_id").size().to_dict() == dict(zip("abcd", lengths))
    full = [len(answer) for answer in inputs["answers_ids"]]
    assert frame.groupby("sample_id")["answer_length"].first().tolist() == full[:4]
    first = frame[frame["sample_id"] == "a"].iloc[0]
    assert first["foundation_prompt"] == "<s>" + PROMPTS[0]
    assert first["sft_prompt"] == "chat 0"
    assert not first["same_prompt"]
    assert first["prefix"] == "foundation: plain prompt; SFT: chat template"


def test_no_answer_tokens_give_an_empty_frame_and_no_figure(models, tmp_path):
    from prettyflow.analysis.figures import write_agreement_figure

    foundation, sft = models
    empty = teacher_forced_positions(foundation, sft, [[1]], [[1]], [[]])
    assert empty.empty and list(empty.columns) == list(COLUMNS)
    with pytest.raises(InputError, match="no answer positions"):
        write_agreement_figure(empty, tmp_path / "agreement")
    assert not list(tmp_path.iterdir())


def test_mismatched_inputs_are_refused(models, inputs):
    foundation, sft = models
    with pytest.raises(InputError, match="prompts_sft has 4 entries"):
        teacher_forced_positions(
            foundation,
            sft,
            inputs["prompts_foundation"],
            inputs["prompts_sft"][:4],
            inputs["answers_ids"],
        )
    with pytest.raises(InputError, match="empty prompt"):
        teacher_forced_positions(foundation, sft, [[]], [[1]], [[5, 6]])


# --- the step: teacher forcing on the decode's own prompt ids -------------------


def step_settings(model_dirs):
    return {
        name: {"name": name, "path": str(directory)}
        for name, directory in model_dirs.items()
    } | {"max_positions": None}


def test_the_step_teacher_forces_on_the_prompt_ids_the_decode_read(
    model_dirs, models, inputs, tmp_path
):
    from prettyflow.steps.analysis import decision_space

    foundation, sft = models
    ids = [f"s{i}" for i in range(len(PROMPTS))]
    # The recorded text would tokenize to other ids: only the ids may be used.
    texts = [f"text {i}, not what the ids hold" for i in range(len(PROMPTS))]
    decodes = pd.DataFrame(
        {
            "id": ids,
            "prompt": texts,
            "prompt_token_ids": [
                np.asarray(prompt, dtype=np.int32) for prompt in inputs["prompts_sft"]
            ],
            "new_token_ids": inputs["answers_ids"],
        }
    )
    write_parquet(decodes, tmp_path / "decodes.parquet", {"chat_template": True})
    frame = decision_space(
        tmp_path / "decodes.parquet",
        tmp_path / "positions.parquet",
        step_settings(model_dirs),
        {"device": "cpu", "threads": 1, "batch_size": 2},
        "en-pt",
    )
    expected = teacher_forced_positions(
        foundation,
        sft,
        inputs["prompts_sft"],
        inputs["prompts_sft"],
        inputs["answers_ids"],
        sample_ids=ids,
        batch_size=2,
    )
    assert len(frame) == len(expected) > 0
    for column in (RANK, "sft_argmax", "foundation_argmax", "answer_token_id"):
        assert frame[column].tolist() == expected[column].tolist(), column
    for column in ("p_foundation_of_answer", "p_sft_of_answer", "kl_sft_foundation"):
        assert np.allclose(frame[column], expected[column], atol=1e-6), column
    assert frame.groupby("sample_id")["sft_prompt"].first().tolist() == texts[:4]
    assert frame["same_prompt"].all()


def test_a_decode_table_without_prompt_ids_says_to_rerun_the_decode(
    model_dirs, inputs, tmp_path
):
    from prettyflow.steps.analysis import decision_space

    path = tmp_path / "old-decodes.parquet"
    old = pd.DataFrame(
        {"id": ["s0"], "prompt": [PROMPTS[0]], "new_token_ids": [[5, 6]]}
    )
    write_parquet(old, path, {})
    with pytest.raises(InputError) as raised:
        decision_space(
            path,
            tmp_path / "positions.parquet",
            step_settings(model_dirs),
            {"device": "cpu"},
            "en-pt",
        )
    message = str(raised.value)
    assert message.startswith(f"{path}: prompt_token_ids: ")
    assert "no prompt_token_ids column" in message
    assert "rerun the decode" in message
    assert not (tmp_path / "positions.parquet").exists()


def test_a_decode_table_without_answer_ids_is_named_before_a_model_loads(
    model_dirs, tmp_path, monkeypatch
):
    import prettyflow.models
    from prettyflow.steps.analysis import decision_space

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the decode table was checked")

    monkeypatch.setattr(prettyflow.models, "load_model_and_tokenizer", no_model)
    path = tmp_path / "decodes.parquet"
    table = pd.DataFrame(
        {"id": ["s0"], "prompt": [PROMPTS[0]], "prompt_token_ids": [[1, 2]]}
    )
    write_parquet(table, path, {})
    with pytest.raises(InputError) as raised:
        decision_space(
            path,
            tmp_path / "positions.parquet",
            step_settings(model_dirs),
            {"device": "cpu"},
            "en-pt",
        )
    assert str(raised.value).startswith(
        f"{path}: new_token_ids: the decode table has no column(s) new_token_ids"
    )
    assert not (tmp_path / "positions.parquet").exists()


def test_the_step_skips_a_family_whose_tokenizers_differ_and_says_what_differs(
    model_dirs, tmp_path
):
    from prettyflow.steps.analysis import decision_space, decision_space_figures

    other = build_tiny_causal_lm(
        tmp_path / "other", ["Ein ganz anderer Text, andere Wörter."] * 4, True
    )
    settings = step_settings(model_dirs)
    settings["sft"] = {"name": "other", "path": str(other)}
    positions = tmp_path / "en-pt" / "positions.parquet"
    frame = decision_space(
        tmp_path / "no-decodes.parquet", positions, settings, {"device": "cpu"}, "en-pt"
    )
    assert frame.empty
    skipped = read_provenance(positions)["skipped"]
    assert skipped.startswith("skipped (foundation vs other): tokenizers differ: ")
    assert "; vocabulary (" in skipped and " only in SFT: " in skipped
    decision_space_figures([positions], tmp_path / "figures", "tiny")
    assert f"- en-pt: {skipped}" in (tmp_path / "figures" / "summary.md").read_text()


# --- figures ---------------------------------------------------------------------


def test_figures_are_written_with_their_numbers(frame, tmp_path):
    from prettyflow.analysis.figures import FIGURES, write_all_figures

    written = write_all_figures(frame, tmp_path / "figures", label="tiny / en-pt")
    assert set(written) == set(FIGURES)
    for name, paths in written.items():
        assert [path.name for path in paths] == [
            f"{name}.png",
            f"{name}.svg",
            f"{name}.csv",
        ]
        png, svg, _ = paths
        assert png.read_bytes().startswith(b"\x89PNG")
        assert "<svg" in svg.read_text()
        assert "tiny / en-pt" in svg.read_text()
    assert not [p for p in (tmp_path / "figures").iterdir() if p.name.startswith(".")]

    def read(name):
        return pd.read_csv(tmp_path / "figures" / f"{name}.csv")

    agreement = read("agreement")
    for position in (0, 1):
        expected = agreement_at_k(frame, position)
        rows = agreement[
            (agreement["quantity"] == "agreement_at_k")
            & (agreement["position"] == position)
        ]
        assert rows["k"].tolist() == expected["k"].tolist()
        assert np.allclose(rows["value"], expected["agreement"])
        assert rows["denominator"].tolist() == expected["n_samples"].tolist()
        majority = silent_majority(frame, position)
        row = agreement[
            (agreement["quantity"] == "silent_majority")
            & (agreement["position"] == position)
        ].iloc[0]
        assert (row["numerator"], row["denominator"]) == (
            majority.n_covered,
            majority.n_disagree,
        )
        assert row["value"] == pytest.approx(majority.share, nan_ok=True)

    pd.testing.assert_frame_equal(
        read("divergence"), divergence_summary(frame, [0, 1]), check_dtype=False
    )
    pd.testing.assert_frame_equal(
        read("chosen_probability"), chosen_probability_summary(frame), check_dtype=False
    )
    pd.testing.assert_frame_equal(
        read("by_position"), by_position(frame), check_dtype=False
    )


def test_rewriting_a_figure_gives_the_same_svg(frame, tmp_path):
    from prettyflow.analysis.figures import write_divergence_figure

    first = write_divergence_figure(frame, tmp_path / "one")[1].read_bytes()
    second = write_divergence_figure(frame, tmp_path / "two")[1].read_bytes()
    assert first == second
