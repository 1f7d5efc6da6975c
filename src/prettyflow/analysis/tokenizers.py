"""Whether two tokenizers turn text into the same ids, and if not, what differs.

The decision space (:mod:`prettyflow.analysis.decision_space`) compares a
foundation model and its SFT model token id by token id, so it needs both to
share one tokenizer; :func:`tokenizer_difference` names every part that does not
agree, for the note of a skipped family.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

# The special ids both models must give the same meaning. Not the pad id: padding
# is masked, and a model without a pad token pads with EOS.
_SPECIAL_IDS = ("bos_token_id", "eos_token_id", "unk_token_id")
# The stages of a tokenizers-library pipeline (tokenizer.json), in the order text
# goes through them. The model's vocabulary is compared on its own.
_PIPELINE = ("normalizer", "pre_tokenizer", "model", "post_processor", "decoder")
# Texts both tokenizers encode when nothing else differs: a difference that the
# compared parts do not show (a slow tokenizer, an option of transformers').
_PROBES = (
    "Translate the following sentence from English to Portuguese. Hello, world!",
    "  two  spaces,\ttabs\n\nand new lines ",
    "Olá, tudo bem? Ação, coração. Grüße, 你好，世界。",
)
_EXAMPLES = 3  # differing entries named per part of a message
_ADDED_TOKEN_OPTIONS = ("special", "normalized", "lstrip", "rstrip", "single_word")


def tokenizer_difference(
    first: Any,
    second: Any,
    special_ids: Sequence[str] = _SPECIAL_IDS,
    names: tuple[str, str] = ("foundation", "SFT"),
) -> str | None:
    """What makes two tokenizers turn text into different ids, or None if nothing does.

    Compared in full: the stages of the tokenizers-library pipeline of a fast
    tokenizer (normalizer, pre-tokenizer, the model's settings and merges,
    post-processor, decoder), the vocabulary, the added tokens (text, id,
    options) and the special ids named in ``special_ids``; when all of those
    agree, a few probe texts encoded by both (which catches what the parts do not
    show, e.g. a slow tokenizer's options). The chat template is not compared: the
    decision space gives both models the same token ids.

    The message names each differing part, ``names`` the two tokenizers, e.g.
    ``tokenizers differ: pre_tokenizer (Metaspace vs ByteLevel); added tokens (3
    only in SFT: '<pad>', '<|im_start|>', '<|im_end|>')``.
    """
    parts: list[str | None] = []
    serialized = [_tokenizer_json(first), _tokenizer_json(second)]
    # Two equal tokenizer.json hold the same stages, vocabulary and added tokens
    # (comparing the strings takes no time; parsing Gemma's takes seconds).
    if serialized[0] is None or serialized[0] != serialized[1]:
        parts += _pipeline_differences(first, second, *serialized)
        parts.append(_vocabulary_difference(first, second, names))
        parts.append(_added_tokens_difference(first, second, names))
    parts += [
        f"{name} ({getattr(first, name, None)} vs {getattr(second, name, None)})"
        for name in special_ids
        if getattr(first, name, None) != getattr(second, name, None)
    ]
    found = [part for part in parts if part]
    if not found:
        probe = _probe_difference(first, second)
        found = [probe] if probe else []
    return "tokenizers differ: " + "; ".join(found) if found else None


def shared_tokenizer(
    first: Any, second: Any, special_ids: Sequence[str] = _SPECIAL_IDS
) -> bool:
    """True when the two tokenizers turn every text into the same ids.

    A family whose models do not share a tokenizer cannot be analysed here
    (token ids would mean different strings); :func:`tokenizer_difference`
    gives the note to log.
    """
    return tokenizer_difference(first, second, special_ids) is None


def _examples(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_EXAMPLES])
    return shown + (", ..." if len(items) > _EXAMPLES else "")


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def _kind(stage: Any) -> str:
    if stage is None:
        return "none"
    if isinstance(stage, dict):
        return str(stage.get("type", "?"))
    return type(stage).__name__


def _json_differences(first: Any, second: Any, path: str = "") -> list[str]:
    """The first few differing leaves of two JSON values, as ``path: a vs b``."""
    if first == second:
        return []
    at = f"{path}: " if path else ""
    if isinstance(first, dict) and isinstance(second, dict):
        if first.get("type") != second.get("type"):
            return [f"{at}{_kind(first)} vs {_kind(second)}"]
        keys = list(first) + [key for key in second if key not in first]
        found: list[str] = []
        for key in keys:
            found += _json_differences(
                first.get(key), second.get(key), f"{path}.{key}" if path else key
            )
            if len(found) >= _EXAMPLES:
                break
        return found[:_EXAMPLES]
    if isinstance(first, list) and isinstance(second, list):
        if len(first) != len(second):
            return [f"{at}{len(first)} vs {len(second)} entries"]
        found = []
        for index, (item_a, item_b) in enumerate(zip(first, second)):
            found += _json_differences(item_a, item_b, f"{path}[{index}]")
            if len(found) >= _EXAMPLES:
                break
        return found[:_EXAMPLES]
    return [f"{at}{_short(first)} vs {_short(second)}"]


def _tokenizer_json(tokenizer: Any) -> str | None:
    """A fast tokenizer's tokenizer.json, as a string (None for a slow tokenizer)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return None if backend is None else backend.to_str()


def _pipeline(serialized: str | None) -> dict[str, Any] | None:
    """The pipeline stages in a tokenizer.json string (None for a slow tokenizer)."""
    if serialized is None:
        return None
    stages = json.loads(serialized)
    model = dict(stages.get("model") or {})
    vocab = model.pop("vocab", None)
    if isinstance(vocab, list):  # Unigram: (piece, score) pairs; the pieces are
        model["scores"] = [score for _, score in vocab]  # in the vocabulary
    stages["model"] = model
    return {stage: stages.get(stage) for stage in _PIPELINE}


def _pipeline_differences(
    first: Any, second: Any, serialized_a: str | None, serialized_b: str | None
) -> list[str]:
    stages_a, stages_b = _pipeline(serialized_a), _pipeline(serialized_b)
    if stages_a is None or stages_b is None:
        if stages_a is None and stages_b is None:
            return []  # two slow tokenizers: the probes compare them
        kinds = ["fast" if stages else "slow" for stages in (stages_a, stages_b)]
        return [
            f"implementation ({kinds[0]} {type(first).__name__} vs "
            f"{kinds[1]} {type(second).__name__})"
        ]
    found = []
    for stage in _PIPELINE:
        stage_a, stage_b = stages_a[stage], stages_b[stage]
        if stage_a == stage_b:
            continue
        if _kind(stage_a) != _kind(stage_b):
            found.append(f"{stage} ({_kind(stage_a)} vs {_kind(stage_b)})")
        else:
            details = ", ".join(_json_differences(stage_a, stage_b))
            found.append(f"{stage} ({_kind(stage_a)}: {details})")
    return found


def _added_tokens(tokenizer: Any) -> dict[str, tuple[Any, ...]]:
    """Each added token's text -> (id, then its :data:`_ADDED_TOKEN_OPTIONS`)."""
    return {
        str(token): (
            int(index),
            *(bool(getattr(token, option, False)) for option in _ADDED_TOKEN_OPTIONS),
        )
        for index, token in getattr(tokenizer, "added_tokens_decoder", {}).items()
    }


def _id_differences(
    ids_a: dict[str, int], ids_b: dict[str, int], names: tuple[str, str]
) -> list[str]:
    """Tokens only in one of two token -> id maps, and tokens with other ids.

    The examples named are those of the smallest ids.
    """
    pieces = [
        f"{len(only)} only in {name}: {_examples([repr(token) for token in only])}"
        for name, only in (
            (names[0], sorted(ids_a.keys() - ids_b.keys(), key=ids_a.__getitem__)),
            (names[1], sorted(ids_b.keys() - ids_a.keys(), key=ids_b.__getitem__)),
        )
        if only
    ]
    moved = sorted(
        (t for t in ids_a.keys() & ids_b.keys() if ids_a[t] != ids_b[t]),
        key=ids_a.__getitem__,
    )
    if moved:
        described = [f"{t!r} ({ids_a[t]} vs {ids_b[t]})" for t in moved]
        pieces.append(f"{len(moved)} with other ids: {_examples(described)}")
    return pieces


def _added_tokens_difference(
    first: Any, second: Any, names: tuple[str, str]
) -> str | None:
    added_a, added_b = _added_tokens(first), _added_tokens(second)
    if added_a == added_b:
        return None
    pieces = _id_differences(
        {token: entry[0] for token, entry in added_a.items()},
        {token: entry[0] for token, entry in added_b.items()},
        names,
    )
    options = [
        token
        for token, entry in added_a.items()
        if token in added_b
        and entry[0] == added_b[token][0]
        and entry != added_b[token]
    ]
    if options:
        pieces.append(
            f"{len(options)} with other options ({', '.join(_ADDED_TOKEN_OPTIONS)}): "
            + _examples([repr(token) for token in options])
        )
    return f"added tokens ({'; '.join(pieces)})"


def _vocabulary_difference(
    first: Any, second: Any, names: tuple[str, str]
) -> str | None:
    """The vocabularies, without the added tokens (compared on their own)."""
    vocab_a, vocab_b = (
        {
            token: index
            for token, index in tokenizer.get_vocab().items()
            if token not in added
        }
        for tokenizer, added in (
            (first, _added_tokens(first)),
            (second, _added_tokens(second)),
        )
    )
    if vocab_a == vocab_b:
        return None
    pieces = [f"{len(vocab_a)} vs {len(vocab_b)} entries"]
    return (
        f"vocabulary ({'; '.join(pieces + _id_differences(vocab_a, vocab_b, names))})"
    )


def _probe_difference(first: Any, second: Any) -> str | None:
    specials = " ".join(getattr(first, "all_special_tokens", []))
    for text in (*_PROBES, f"{specials} and text"):
        ids_a, ids_b = first(text)["input_ids"], second(text)["input_ids"]
        if list(ids_a) != list(ids_b):
            return f"encoding ({_short(text)}: {_short(ids_a)} vs {_short(ids_b)})"
    return None
