"""The decision space of a foundation model and its SFT model (paper section 2.2).

Both models read the same answer, the SFT model's own output, under teacher
forcing: one forward pass per model over ``prompt + answer`` gives, at every
answer position ``j``, the two next-token distributions for the prefix
``prompt + answer[:j]``. Position 0 is the paper's first setup (the prefix is
the instruction, ``X = X_ins``); position 1 is its second (one prior token,
``X = [X_ins, y_SFT^(1)]``); later positions show whether the effect lasts.

Per (sample, position) :func:`teacher_forced_positions` keeps scalars only
(argmaxes, the rank of the SFT model's choice among the foundation model's
candidates, chosen-token probabilities, KL/JS/cross-entropy, entropies) and the
top-20 candidates of each model, never a full distribution. The aggregations
below turn that frame into the numbers of Figures 2-4:

- :func:`agreement_at_k`: Equation 3, the share of samples whose SFT argmax is
  among the foundation model's top K;
- :func:`silent_majority`: among the samples where the two argmaxes differ, the
  share whose SFT argmax is still among the foundation model's top 20;
- :func:`chosen_probability_summary` (Figure 3) and :func:`divergence_summary`
  (Figure 4); :func:`by_position` for every answer position.

Every choice is made as greedy decoding makes it, on the fp32 logits, with
ties (frequent in bf16) going to the smaller token id as in ``torch.argmax``:
argmaxes, ranks (:func:`rank_of`) and top-k ids (:func:`top_ids`) alike.
Divergences are in nats (natural logarithm). The two models must share their
tokenizer (:func:`prettyflow.analysis.tokenizers.tokenizer_difference`): token
ids are compared directly.

Long because the analysis of section 2.2 is one computation over one pair of models
(teacher-forced positions, agreement, divergence, out-of-memory halving) whose parts
share the per-position records.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from prettyflow.decode import is_out_of_memory, release_cached_memory
from prettyflow.errors import InputError

if TYPE_CHECKING:
    from prettyflow.backends import ModelBackend

log = logging.getLogger("prettyflow")

LN2 = math.log(2.0)
TOP_K = 20
# Rows of (vocabulary-sized) distributions compared at once.
_CHUNK_ROWS = 256
SETUP_INSTRUCTION = "instruction"
SETUP_PRIOR = "instruction + prior token"
# The paper's two setups, by answer position.
SETUPS = {0: SETUP_INSTRUCTION, 1: SETUP_PRIOR}
MODELS = ("SFT", "foundation")

# The column holding the rank of the SFT model's argmax among the foundation
# model's candidates (1 = the foundation model's own top token; ties broken as
# argmax breaks them, see rank_of).
RANK = "foundation_rank_of_sft_argmax"
DIVERGENCES = ("kl_sft_foundation", "js", "cross_entropy")
# The probability each model gives its own argmax (Figure 3), by model.
CHOSEN = {"SFT": "p_sft_chosen", "foundation": "p_foundation_chosen"}

COLUMNS = (
    "sample_id",
    "position",
    "setup",
    "answer_length",
    "answer_token_id",
    "answer_token",
    "sft_argmax",
    "sft_argmax_token",
    "foundation_argmax",
    "foundation_argmax_token",
    RANK,
    "p_sft_chosen",
    "p_foundation_chosen",
    "p_foundation_of_sft_choice",
    "p_sft_of_answer",
    "p_foundation_of_answer",
    "kl_sft_foundation",
    "js",
    "cross_entropy",
    "entropy_sft",
    "entropy_foundation",
    "sft_top_ids",
    "sft_top_logprobs",
    "foundation_top_ids",
    "foundation_top_logprobs",
    "same_prompt",
    "prefix",
    "foundation_prompt",
    "sft_prompt",
)


def setup_label(position: int) -> str:
    """The setup of answer position ``position``.

    ``instruction`` (0), ``instruction + prior token`` (1), then
    ``instruction + j answer tokens``.
    """
    if position in SETUPS:
        return SETUPS[position]
    return f"instruction + {position} answer tokens"


# --- divergences -------------------------------------------------------------


def _as_log_probs(values: Any) -> torch.Tensor:
    tensor = torch.as_tensor(values)
    if not tensor.is_floating_point():
        tensor = tensor.double()
    return tensor


def _expectation(p_log: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``sum_i p_i * values_i`` over the last dimension, with ``0 * anything = 0``."""
    p = p_log.exp()
    terms = torch.where(p > 0, p * values, torch.zeros_like(values))
    return terms.sum(dim=-1)


def kl(p_log: Any, q_log: Any) -> torch.Tensor:
    """KL(p || q) in nats from normalized log-probabilities, one value per row.

    A zero of ``p`` contributes nothing; a zero of ``q`` where ``p > 0`` gives
    ``inf``. Rounding below zero is clamped to 0.
    """
    p_log, q_log = _as_log_probs(p_log), _as_log_probs(q_log)
    return _expectation(p_log, p_log - q_log).clamp_min(0.0)


def cross_entropy(p_log: Any, q_log: Any) -> torch.Tensor:
    """H(p, q) = -sum p log q in nats (= H(p) + KL(p || q)), one value per row."""
    p_log, q_log = _as_log_probs(p_log), _as_log_probs(q_log)
    return _expectation(p_log, -q_log)


def entropy(p_log: Any) -> torch.Tensor:
    """H(p) = -sum p log p in nats, one value per row."""
    return cross_entropy(p_log, p_log)


def js(p_log: Any, q_log: Any) -> torch.Tensor:
    """Jensen-Shannon divergence in nats (symmetric, in [0, ln 2]), one value per row.

    The mixture ``m = (p + q) / 2`` is formed in log space (``logaddexp``), so
    it stays exact where one of the two is zero.
    """
    p_log, q_log = _as_log_probs(p_log), _as_log_probs(q_log)
    m_log = torch.logaddexp(p_log, q_log) - LN2
    value = 0.5 * (
        _expectation(p_log, p_log - m_log) + _expectation(q_log, q_log - m_log)
    )
    return value.clamp(0.0, LN2)


# --- per-position statistics -------------------------------------------------


def _as_scores(values: torch.Tensor) -> torch.Tensor:
    """``values`` in at least fp32 (bf16 logits upcast exactly, ties and all)."""
    if not values.is_floating_point() or values.element_size() < 4:
        return values.float()
    return values


def rank_of(scores: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """1-based rank of ``tokens[i]`` in row ``i`` of ``scores``, ties broken as argmax.

    ``torch.argmax`` returns the first maximal index, so a token ranks after
    every token with a higher score and every token with the same score and a
    smaller id: rank 1 if and only if ``scores[i].argmax() == tokens[i]``.
    """
    tokens = tokens.to(scores.device)[:, None]
    value = scores.gather(-1, tokens)
    ahead = (scores > value).sum(dim=-1)
    tied = scores == value
    shared = tied.sum(dim=-1) > 1  # rows where another token has the same score
    if shared.any():
        ids = torch.arange(scores.shape[-1], device=scores.device)
        ahead[shared] += (tied[shared] & (ids < tokens[shared])).sum(dim=-1)
    return ahead + 1


def top_ids(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The ids of the ``k`` highest scores of each row, ties broken as argmax.

    ``torch.topk`` orders tied values arbitrarily, and picks arbitrary ones of
    the tokens tied at the k-th score; here a tie goes to the smaller id, so row
    ``i`` lists its first ``k`` tokens by :func:`rank_of`, in rank order (the
    first is ``argmax``). Returns ``(N, k)`` ids.
    """
    values, ids = scores.topk(k, dim=-1)  # the values are exact, ties or not
    kth = values[:, -1:]
    # Rows with more tokens at the k-th score than the top k holds: keep the
    # smallest ids of those.
    crowded = (scores == kth).sum(dim=-1) > (values == kth).sum(dim=-1)
    if crowded.any():
        rows = scores[crowded]
        tied = rows == kth[crowded]
        room = k - (rows > kth[crowded]).sum(dim=-1, keepdim=True)
        chosen = (rows > kth[crowded]) | (tied & (tied.cumsum(dim=-1) <= room))
        ids[crowded] = chosen.nonzero()[:, 1].view(-1, k)
    ids = ids.sort(dim=-1).values  # then a stable sort by score keeps ties by id
    order = scores.gather(-1, ids).argsort(dim=-1, descending=True, stable=True)
    return ids.gather(-1, order)


def compare_distributions(
    sft_logits: torch.Tensor,
    foundation_logits: torch.Tensor,
    targets: torch.Tensor | None = None,
    top_k: int = TOP_K,
) -> dict[str, np.ndarray]:
    """Scalars and top-k candidates for rows of next-token logits.

    ``sft_logits`` and ``foundation_logits`` are ``(N, V)`` next-token logits of
    the same N prefixes (normalized log-probabilities work too: the
    ``log_softmax`` taken here leaves them as they are); ``targets`` the N
    answer tokens. Returns one array per statistic (length N; the ``*_top_*``
    ones ``(N, k)``), named as the columns of :func:`teacher_forced_positions`.

    Choices are made on the logits as greedy decoding makes them: argmax, ties to
    the smaller id. The rank of the SFT argmax (:func:`rank_of`) is exact and
    breaks ties the same way, so it is 1 exactly where the two argmaxes agree;
    the top-k ids (:func:`top_ids`) list tied tokens by id.
    """
    if sft_logits.shape != foundation_logits.shape or sft_logits.dim() != 2:
        raise InputError(
            "the two models' distributions differ in shape "
            f"({tuple(sft_logits.shape)} vs {tuple(foundation_logits.shape)}): "
            "do the models share their vocabulary?"
        )
    sft_logits = _as_scores(sft_logits)
    foundation_logits = _as_scores(foundation_logits)
    sft_log = sft_logits.log_softmax(dim=-1)
    foundation_log = foundation_logits.log_softmax(dim=-1)
    sft_argmax = sft_logits.argmax(dim=-1)
    foundation_argmax = foundation_logits.argmax(dim=-1)
    k = min(top_k, sft_logits.shape[-1])
    sft_top_ids = top_ids(sft_logits, k)
    foundation_top_ids = top_ids(foundation_logits, k)
    values = {
        "sft_argmax": sft_argmax,
        "foundation_argmax": foundation_argmax,
        RANK: rank_of(foundation_logits, sft_argmax),
        "p_sft_chosen": _at(sft_log, sft_argmax).exp(),
        "p_foundation_chosen": _at(foundation_log, foundation_argmax).exp(),
        "p_foundation_of_sft_choice": _at(foundation_log, sft_argmax).exp(),
        "kl_sft_foundation": kl(sft_log, foundation_log),
        "js": js(sft_log, foundation_log),
        "cross_entropy": cross_entropy(sft_log, foundation_log),
        "entropy_sft": entropy(sft_log),
        "entropy_foundation": entropy(foundation_log),
        "sft_top_ids": sft_top_ids,
        "sft_top_logprobs": sft_log.gather(-1, sft_top_ids),
        "foundation_top_ids": foundation_top_ids,
        "foundation_top_logprobs": foundation_log.gather(-1, foundation_top_ids),
    }
    if targets is not None:
        values["p_sft_of_answer"] = _at(sft_log, targets).exp()
        values["p_foundation_of_answer"] = _at(foundation_log, targets).exp()
    return {name: value.detach().cpu().numpy() for name, value in values.items()}


def _at(rows: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``rows[i, tokens[i]]`` for every row ``i``."""
    return rows.gather(-1, tokens.to(rows.device)[:, None])[:, 0]


def _compare_in_chunks(
    sft_logits: torch.Tensor,
    foundation_logits: torch.Tensor,
    targets: torch.Tensor,
    top_k: int,
    rows: int = _CHUNK_ROWS,
) -> dict[str, np.ndarray]:
    """:func:`compare_distributions` a few hundred rows at a time (bounded memory)."""
    chunks = [
        compare_distributions(
            sft_logits[start : start + rows],
            foundation_logits[start : start + rows],
            targets[start : start + rows],
            top_k=top_k,
        )
        for start in range(0, len(sft_logits), rows)
    ]
    return {
        name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]
    }


def _check_lengths(named: dict[str, Sequence[Any] | None], count: int) -> None:
    for name, values in named.items():
        if values is not None and len(values) != count:
            raise InputError(
                f"{name} has {len(values)} entries but there are {count} answers",
                field=name,
            )


def teacher_forced_positions(
    foundation: ModelBackend,
    sft: ModelBackend,
    prompts_foundation: Sequence[Sequence[int]],
    prompts_sft: Sequence[Sequence[int]],
    answers_ids: Sequence[Sequence[int]],
    *,
    sample_ids: Sequence[Any] | None = None,
    prompt_texts_foundation: Sequence[str] | None = None,
    prompt_texts_sft: Sequence[str] | None = None,
    prefix: str | None = None,
    max_positions: int | None = None,
    batch_size: int = 8,
    top_k: int = TOP_K,
    padding_side: Literal["left", "right"] = "left",
    progress: bool = False,
) -> pd.DataFrame:
    """Both models' next-token choices along each SFT answer, under teacher forcing.

    ``foundation`` and ``sft`` are loaded models of backends that can teacher-force
    (:meth:`prettyflow.backends.ModelBackend.teacher_forced_logits`) and share
    their tokenizer. Sample ``i`` is read by the foundation model as
    ``prompts_foundation[i] + answers_ids[i]`` and by the SFT model as
    ``prompts_sft[i] + answers_ids[i]`` (token ids of the shared tokenizer; the
    SFT prompt may be in its chat template, the foundation prompt plain). One
    forward pass per model per batch of ``batch_size`` samples (length-sorted,
    ``padding_side`` padding, each model on its own device, fp32
    ``log_softmax``) gives the next-token distributions
    at every answer position ``j`` (the prefix is the prompt + ``answer[:j]``);
    ``max_positions`` keeps only the first positions of long answers. Samples
    with an empty answer give no rows.

    Returns one row per (sample, position), the columns of :data:`COLUMNS`, in
    input order; ``sample_id`` defaults to the sample's index. ``prefix``
    describes the prefix given to each model (stored in every row, like the two
    prompt texts; decoded from the ids when not given). The columns:

    - ``sample_id``, ``position`` (j), ``setup`` (:func:`setup_label`),
      ``answer_length`` (tokens of the whole answer), ``answer_token_id`` and
      ``answer_token`` (the answer token at j, as text);
    - ``sft_argmax``, ``foundation_argmax`` (ids) and their ``*_token`` texts;
      ``foundation_rank_of_sft_argmax`` (1 = the foundation's own top token,
      ties broken as argmax: :func:`rank_of`; agreement@K is ``rank <= K``);
    - ``p_sft_chosen``, ``p_foundation_chosen`` (each model's probability for its
      own argmax), ``p_foundation_of_sft_choice``, ``p_sft_of_answer``,
      ``p_foundation_of_answer``;
    - ``kl_sft_foundation`` = KL(SFT || foundation), ``js``, ``cross_entropy`` =
      H(SFT, foundation), ``entropy_sft``, ``entropy_foundation`` (nats);
    - ``sft_top_ids``, ``sft_top_logprobs``, ``foundation_top_ids``,
      ``foundation_top_logprobs``: lists of ``top_k``, most likely first;
    - ``same_prompt``, ``prefix``, ``foundation_prompt``, ``sft_prompt``.

    Long because batching, the out-of-memory halving and the per-position records share
    one loop state.
    """
    for role, model in (("foundation", foundation), ("SFT", sft)):
        if not model.teacher_forcing:
            raise InputError(
                f"the {role} model {model.name!r} runs on a backend without "
                "teacher-forced logits; the decision space needs one that has them",
                field="backend",
            )
    count = len(answers_ids)
    _check_lengths(
        {
            "prompts_foundation": prompts_foundation,
            "prompts_sft": prompts_sft,
            "sample_ids": sample_ids,
            "prompt_texts_foundation": prompt_texts_foundation,
            "prompt_texts_sft": prompt_texts_sft,
        },
        count,
    )
    if padding_side not in ("left", "right"):
        raise InputError(
            f"padding_side must be left or right, not {padding_side!r}",
            field="padding_side",
        )
    if batch_size < 1:
        raise InputError("batch_size must be at least 1", field="batch_size")
    sample_ids = list(range(count)) if sample_ids is None else list(sample_ids)
    answers = [
        [int(token) for token in answer][:max_positions] for answer in answers_ids
    ]
    found_prompts = [[int(token) for token in prompt] for prompt in prompts_foundation]
    sft_prompts = [[int(token) for token in prompt] for prompt in prompts_sft]
    for index in range(count):
        if answers[index] and not (found_prompts[index] and sft_prompts[index]):
            raise InputError(
                f"sample {sample_ids[index]!r} has an empty prompt: the first answer "
                "token needs a prefix to be predicted from"
            )
    tokenizer = foundation.tokenizer
    texts: dict[int, str] = {}

    def token_text(token: int) -> str:
        if token not in texts:
            texts[token] = tokenizer.decode([token])
        return texts[token]

    def prompt_text(given: Sequence[str] | None, ids: list[int], index: int) -> str:
        if given is not None:
            return given[index]
        return tokenizer.decode(ids, skip_special_tokens=False)

    def describe_prefix(index: int) -> str:
        if prefix is not None:
            return prefix
        if found_prompts[index] == sft_prompts[index]:
            return "the same prompt tokens for both models, then the SFT answer"
        return (
            "each model's own prompt (foundation_prompt, sft_prompt), "
            "then the same SFT answer tokens"
        )

    # Per-sample columns, repeated on each of the sample's rows.
    per_sample = {
        "same_prompt": lambda i: found_prompts[i] == sft_prompts[i],
        "prefix": describe_prefix,
        "foundation_prompt": lambda i: prompt_text(
            prompt_texts_foundation, found_prompts[i], i
        ),
        "sft_prompt": lambda i: prompt_text(prompt_texts_sft, sft_prompts[i], i),
    }

    todo = [index for index in range(count) if answers[index]]

    # Longest first: padding stays small and running out of memory shows at once.
    def padded_work(index: int) -> int:
        return (
            len(found_prompts[index])
            + len(sft_prompts[index])
            + 2 * len(answers[index])
        )

    todo.sort(key=padded_work, reverse=True)
    parts: list[pd.DataFrame] = []
    bar = tqdm(
        total=len(todo), disable=not progress, desc="teacher forcing", unit="sample"
    )
    start = 0
    while start < len(todo):
        batch = todo[start : start + batch_size]
        positions = [len(answers[index]) for index in batch]
        batch_answers = [answers[i] for i in batch]
        try:
            found_logits = foundation.teacher_forced_logits(
                [found_prompts[i] for i in batch],
                batch_answers,
                padding_side=padding_side,
            )
            sft_logits = sft.teacher_forced_logits(
                [sft_prompts[i] for i in batch],
                batch_answers,
                padding_side=padding_side,
            ).to(found_logits.device)
        except Exception as error:
            if not is_out_of_memory(error) or len(batch) == 1:
                raise
            found_logits = sft_logits = None
            release_cached_memory(torch.device(foundation.device))
            # Halve for the rest: samples come longest first (as decoding does).
            batch_size = len(batch) // 2
            log.warning(
                "out of memory teacher-forcing %d samples: retrying in batches of %d "
                "(lower compute.batch_size to avoid the failed attempts)",
                len(batch),
                batch_size,
            )
            continue
        start += len(batch)
        bar.update(len(batch))
        targets = torch.tensor([token for i in batch for token in answers[i]])
        stats = _compare_in_chunks(sft_logits, found_logits, targets, top_k)
        del found_logits, sft_logits
        part: dict[str, Any] = {
            "_order": np.repeat(np.array(batch), positions),
            "sample_id": [sample_ids[i] for i in batch for _ in answers[i]],
            "position": np.concatenate([np.arange(n) for n in positions]),
            "answer_length": np.repeat(
                np.array([len(answers_ids[i]) for i in batch]), positions
            ),
            "answer_token_id": targets.numpy(),
        }
        for name, value in stats.items():
            part[name] = value.tolist() if value.ndim == 2 else value
        for name, value in per_sample.items():
            part[name] = [
                repeated for i in batch for repeated in [value(i)] * len(answers[i])
            ]
        parts.append(pd.DataFrame(part))
    bar.close()
    if not parts:
        return pd.DataFrame({column: [] for column in COLUMNS})
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.sort_values(["_order", "position"], kind="stable").reset_index(
        drop=True
    )
    frame["setup"] = [setup_label(int(position)) for position in frame["position"]]
    frame["answer_token"] = [token_text(int(t)) for t in frame["answer_token_id"]]
    frame["sft_argmax_token"] = [token_text(int(t)) for t in frame["sft_argmax"]]
    frame["foundation_argmax_token"] = [
        token_text(int(t)) for t in frame["foundation_argmax"]
    ]
    return frame[list(COLUMNS)]


# --- aggregations ------------------------------------------------------------


def _at_position(frame: pd.DataFrame, position: int) -> pd.DataFrame:
    rows = frame[frame["position"] == position]
    if rows["sample_id"].duplicated().any():
        raise InputError(
            f"several rows per sample at position {position}: "
            "aggregate one subset and family at a time"
        )
    return rows


def agreement_at_k(
    frame: pd.DataFrame, position: int, ks: Iterable[int] = range(1, TOP_K + 1)
) -> pd.DataFrame:
    """Equation 3: the share of samples whose SFT argmax is in the foundation's top K.

    One row per K: ``setup``, ``position``, ``k``, ``n_samples`` (samples with an
    answer position ``position``), ``n_agree`` and ``agreement`` (a share in
    [0, 1], NaN without samples).
    """
    rows = _at_position(frame, position)
    ranks = rows[RANK].to_numpy()
    n = len(ranks)
    records = []
    for k in ks:
        agree = int((ranks <= k).sum())
        records.append(
            {
                "setup": setup_label(position),
                "position": position,
                "k": int(k),
                "n_samples": n,
                "n_agree": agree,
                "agreement": agree / n if n else math.nan,
            }
        )
    return pd.DataFrame(records)


@dataclass(frozen=True)
class SilentMajority:
    """Among samples whose argmaxes differ, how many SFT choices the top k holds."""

    setup: str
    position: int
    k: int
    n_samples: int
    n_disagree: int  # samples whose SFT argmax is not the foundation's top token
    n_covered: int  # ... of which the SFT argmax is in the foundation's top k
    share: float  # n_covered / n_disagree (NaN when the models never disagree)


def silent_majority(
    frame: pd.DataFrame, position: int, k: int = TOP_K
) -> SilentMajority:
    """The "silent majority": disagreements whose SFT choice is in the foundation top k.

    A disagreement is a sample where the SFT argmax has rank > 1 among the
    foundation model's candidates (the paper: 90.8% are in the top 20).
    """
    rows = _at_position(frame, position)
    ranks = rows[RANK].to_numpy()
    disagree = ranks > 1
    covered = int((disagree & (ranks <= k)).sum())
    n_disagree = int(disagree.sum())
    return SilentMajority(
        setup=setup_label(position),
        position=position,
        k=k,
        n_samples=len(ranks),
        n_disagree=n_disagree,
        n_covered=covered,
        share=covered / n_disagree if n_disagree else math.nan,
    )


def _describe(values: pd.Series) -> dict[str, float]:
    values = values.astype(float)
    n = int(values.count())
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    return {
        "n": n,
        "mean": float(values.mean()) if n else math.nan,
        "std": std,
        "sem": std / math.sqrt(n) if n > 1 else math.nan,
        "median": float(values.median()) if n else math.nan,
        "q25": float(values.quantile(0.25)) if n else math.nan,
        "q75": float(values.quantile(0.75)) if n else math.nan,
        "min": float(values.min()) if n else math.nan,
        "max": float(values.max()) if n else math.nan,
    }


def divergence_summary(
    frame: pd.DataFrame,
    positions: Iterable[int] | None = None,
    metrics: Sequence[str] = DIVERGENCES,
) -> pd.DataFrame:
    """Mean, median, spread of KL(SFT||foundation), JS, cross-entropy by position.

    Positions 0 and 1 are the paper's two setups (``setup`` names them); by
    default every position in ``frame``. Columns: ``position``, ``setup``,
    ``metric``, ``n``, ``mean``, ``std``, ``sem``, ``median``, ``q25``, ``q75``,
    ``min``, ``max``.
    """
    if positions is None:
        positions = sorted(int(p) for p in frame["position"].unique())
    records = []
    for position in positions:
        rows = _at_position(frame, position)
        for metric in metrics:
            records.append(
                {
                    "position": position,
                    "setup": setup_label(position),
                    "metric": metric,
                    **_describe(rows[metric]),
                }
            )
    return pd.DataFrame(records)


def chosen_probabilities(
    frame: pd.DataFrame, positions: Iterable[int] = tuple(SETUPS)
) -> pd.DataFrame:
    """Figure 3's data: the probability each model gives its own argmax, per sample.

    Long format: ``sample_id``, ``position``, ``setup``, ``model`` (SFT or
    foundation), ``probability``.
    """
    parts = []
    for position in positions:
        rows = _at_position(frame, position)
        for model, column in CHOSEN.items():
            parts.append(
                pd.DataFrame(
                    {
                        "sample_id": rows["sample_id"].to_numpy(),
                        "position": position,
                        "setup": setup_label(position),
                        "model": model,
                        "probability": rows[column].to_numpy(dtype=float),
                    }
                )
            )
    if not parts:
        return pd.DataFrame(
            columns=["sample_id", "position", "setup", "model", "probability"]
        )
    return pd.concat(parts, ignore_index=True)


def chosen_probability_summary(
    frame: pd.DataFrame, positions: Iterable[int] = tuple(SETUPS)
) -> pd.DataFrame:
    """Per setup and model, statistics of the chosen-token probability.

    Columns: ``position``, ``setup``, ``model``, ``n``, ``mean``, ``std``,
    ``sem``, ``median``, ``q25``, ``q75``, ``min``, ``max``.
    """
    long = chosen_probabilities(frame, positions)
    records = []
    for (position, model), rows in long.groupby(["position", "model"], sort=False):
        records.append(
            {
                "position": int(position),
                "setup": setup_label(int(position)),
                "model": model,
                **_describe(rows["probability"]),
            }
        )
    return pd.DataFrame(records)


def by_position(
    frame: pd.DataFrame, max_position: int | None = None, k: int = TOP_K
) -> pd.DataFrame:
    """Every quantity against the answer position: does the prior's effect last?

    One row per position (up to ``max_position``): ``n_samples``,
    ``agreement_at_1``, ``agreement_at_{k}``, ``silent_majority_top{k}`` (shares
    in [0, 1]), mean and SEM of KL, JS and cross-entropy, and the mean
    chosen-token probability of each model.
    """
    positions = sorted(int(p) for p in frame["position"].unique())
    if max_position is not None:
        positions = [p for p in positions if p <= max_position]
    records = []
    for position in positions:
        rows = _at_position(frame, position)
        agreement = agreement_at_k(frame, position, ks=(1, k)).set_index("k")
        record: dict[str, Any] = {
            "position": position,
            "setup": setup_label(position),
            "n_samples": len(rows),
            "agreement_at_1": agreement.loc[1, "agreement"],
            f"agreement_at_{k}": agreement.loc[k, "agreement"],
            f"silent_majority_top{k}": silent_majority(frame, position, k).share,
        }
        for metric in DIVERGENCES:
            described = _describe(rows[metric])
            record[f"{metric}_mean"] = described["mean"]
            record[f"{metric}_sem"] = described["sem"]
        for column in CHOSEN.values():
            record[f"{column}_mean"] = float(rows[column].mean())
        records.append(record)
    return pd.DataFrame(records)
