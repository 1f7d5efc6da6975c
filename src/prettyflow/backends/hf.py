"""The ``hf`` model backend: Hugging Face transformers models run by torch.

Loading is :mod:`prettyflow.models` (local folders, hub ids, GGUF files and
their converted folders, LoRA adapters merged in float32 or kept as PEFT
layers), greedy decoding is :mod:`prettyflow.decode` (length-sorted left-padded
batches with a key/value cache, stop strings, halving on out-of-memory), and
teacher forcing one forward pass per batch (:func:`answer_logits`).
Encoder-decoder models (:data:`~prettyflow.backends.base.SEQ2SEQ`) generate
with ``model.generate`` (greedy or beam search).

torch and transformers are imported where they are used: the config check
reads this class's capabilities without them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from prettyflow.backends.base import (
    CAUSAL,
    SEQ2SEQ,
    HFTokenizerBackend,
)
from prettyflow.errors import InputError

if TYPE_CHECKING:
    import torch

    from prettyflow.decode import Generation
    from prettyflow.models import ModelSpec


class HFBackend(HFTokenizerBackend):
    """A transformers model and its tokenizer (``model`` and ``tokenizer``), in eval mode.

    ``spec`` is the :class:`prettyflow.models.ModelSpec` it was loaded from;
    ``torch_device`` and ``torch_dtype`` are where and how it runs.
    """

    teacher_forcing = True
    architectures = frozenset({CAUSAL, SEQ2SEQ})

    def __init__(
        self,
        settings: Mapping[str, Any],
        spec: ModelSpec,
        model: Any,
        tokenizer: Any,
        torch_device: torch.device,
        torch_dtype: torch.dtype,
        architecture: str = CAUSAL,
    ):
        self.settings = settings
        self.spec = spec
        self.name = spec.name
        self.model = model
        self.tokenizer = tokenizer
        self.torch_device = torch_device
        self.torch_dtype = torch_dtype
        self.device = str(torch_device)
        self.dtype = str(torch_dtype).removeprefix("torch.")
        self.architecture = architecture

    @classmethod
    def load(
        cls,
        settings: Mapping[str, Any],
        *,
        device: str = "auto",
        threads: int | None = None,
        architecture: str = CAUSAL,
    ) -> HFBackend:
        """See :meth:`ModelBackend.load`. A causal LM gets left padding (generation
        continues in the last column) and a pad token; an encoder-decoder model
        right padding (encoders with absolute positions, Marian and mBART,
        expect the text at position 0)."""
        import torch

        from prettyflow.models import (
            load_model_and_tokenizer,
            load_pretrained,
            resolve_device,
            resolve_dtype,
            spec_from_settings,
        )

        if architecture not in cls.architectures:
            raise InputError(
                f"the hf backend loads {', '.join(sorted(cls.architectures))} "
                f"models, not {architecture!r}",
                field="architecture",
            )
        if threads is not None:
            torch.set_num_threads(int(threads))
        torch_device = resolve_device(device)
        spec = spec_from_settings(settings)
        torch_dtype = resolve_dtype(spec.dtype, torch_device)
        if architecture == CAUSAL:
            model, tokenizer = load_model_and_tokenizer(spec, torch_device, torch_dtype)
        else:
            from transformers import AutoModelForSeq2SeqLM

            model, tokenizer = load_pretrained(
                AutoModelForSeq2SeqLM, spec, torch_device, torch_dtype
            )
            tokenizer.padding_side = "right"
        return cls(
            settings, spec, model, tokenizer, torch_device, torch_dtype, architecture
        )

    @classmethod
    def load_tokenizer(cls, settings: Mapping[str, Any]) -> Any:
        from prettyflow.models import load_tokenizer, spec_from_settings

        return load_tokenizer(spec_from_settings(settings))

    def _require(self, architecture: str, what: str) -> None:
        if self.architecture != architecture:
            raise InputError(
                f"{what} needs a {architecture} model; {self.name} was loaded as "
                f"{self.architecture}",
                field="architecture",
            )

    def generate(
        self,
        prompt_ids: Sequence[Sequence[int]],
        *,
        max_new_tokens: int,
        stop_strings: Sequence[str] = ("\n",),
        answer_prefixes: Sequence[str] | None = None,
        batch_size: int = 16,
        progress: bool = True,
        desc: str | None = None,
    ) -> list[Generation]:
        from prettyflow.decode import generate_greedy_ids

        self._require(CAUSAL, "greedy decoding")
        return generate_greedy_ids(
            self.model,
            self.tokenizer,
            prompt_ids,
            max_new_tokens=max_new_tokens,
            stop_strings=stop_strings,
            answer_prefixes=answer_prefixes,
            batch_size=batch_size,
            progress=progress,
            desc=desc,
        )

    def teacher_forced_logits(
        self,
        prompts: Sequence[Sequence[int]],
        answers: Sequence[Sequence[int]],
        *,
        padding_side: str = "left",
    ) -> torch.Tensor:
        self._require(CAUSAL, "teacher forcing")
        if padding_side not in ("left", "right"):
            raise InputError(
                f"padding_side must be left or right, not {padding_side!r}",
                field="padding_side",
            )
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            eos = self.tokenizer.eos_token_id
            pad_id = eos if eos is not None else 0
        return answer_logits(
            self.model,
            [
                list(prompt) + list(answer[:-1])
                for prompt, answer in zip(prompts, answers)
            ],
            [len(answer) for answer in answers],
            pad_id,
            padding_side,  # type: ignore[arg-type]
        )

    def generate_seq2seq(
        self,
        texts: Sequence[str],
        *,
        max_new_tokens: int,
        num_beams: int = 1,
        batch_size: int = 16,
        language_codes: Mapping[str, str] | None = None,
        source_lang: str | None = None,
        target_lang: str | None = None,
        target_code_as: str = "forced_bos",
    ) -> list[str]:
        """Each text's output (stripped), decoded longest first in batches of
        ``batch_size`` (greedy with ``num_beams`` 1, else beam search); see
        :func:`seq2seq_generation_kwargs` for the language codes."""
        import torch

        self._require(SEQ2SEQ, "encoder-decoder generation")
        tokenizer = self.tokenizer
        generation_kwargs = seq2seq_generation_kwargs(
            tokenizer,
            language_codes=language_codes or {},
            source_lang=source_lang,
            target_lang=target_lang,
            target_code_as=target_code_as,
            num_beams=num_beams,
            max_new_tokens=max_new_tokens,
        )
        inputs = list(texts)
        lengths = [len(ids) for ids in tokenizer(inputs, truncation=True)["input_ids"]]
        order = sorted(range(len(inputs)), key=lambda index: (-lengths[index], index))
        outputs: list[str] = [""] * len(inputs)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                encoded = tokenizer(
                    [inputs[index] for index in batch],
                    padding=True,
                    truncation=True,
                    return_tensors="pt",
                ).to(self.torch_device)
                generated = self.model.generate(**encoded, **generation_kwargs)
                for index, text in zip(
                    batch, tokenizer.batch_decode(generated, skip_special_tokens=True)
                ):
                    outputs[index] = text.strip()
        return outputs

    def provenance(self) -> dict[str, Any]:
        from prettyflow.models import model_provenance

        return model_provenance(
            self.spec,
            self.settings.get("local_dir"),
            self.torch_dtype,
            model=self.model,
        )


# ----------------------------------------------------------------- teacher forcing


def _forward_parameters(model: Any) -> set[str]:
    import inspect

    return set(inspect.signature(model.forward).parameters)


def _device(model: Any) -> torch.device:
    import torch

    device = getattr(model, "device", None)
    if device is None:
        device = next(model.parameters()).device
    return torch.device(device)


def answer_logits(
    model: Any,
    rows: list[list[int]],
    positions: list[int],
    pad_id: int,
    padding_side: Literal["left", "right"],
) -> torch.Tensor:
    """fp32 next-token logits at the answer positions of ``rows``.

    One forward pass for the whole batch.

    Row ``i`` is ``prompt + answer[: positions[i] - 1]``; its last
    ``positions[i]`` tokens (the prompt's last token, then the answer's) each
    predict one answer token. Returns ``(sum(positions), V)``, row by row.
    Position ids count from 0 at each row's first real token, whatever the
    padding, so a row's logits do not depend on the batch it is in.
    """
    import torch

    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    first = []  # column of the logits predicting answer token 0, per row
    for index, row in enumerate(rows):
        offset = width - len(row) if padding_side == "left" else 0
        input_ids[index, offset : offset + len(row)] = torch.tensor(row)
        attention_mask[index, offset : offset + len(row)] = 1
        first.append(offset + len(row) - positions[index])
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    parameters = _forward_parameters(model)
    device = _device(model)
    inputs: dict[str, Any] = {
        "input_ids": input_ids.to(device),
        "attention_mask": attention_mask.to(device),
    }
    if "position_ids" in parameters:
        inputs["position_ids"] = position_ids.to(device)
    if "use_cache" in parameters:
        inputs["use_cache"] = False
    # Only the columns from the earliest answer position on need logits.
    keep = width - min(first)
    if "logits_to_keep" in parameters:
        inputs["logits_to_keep"] = keep
    with torch.inference_mode():
        logits = model(**inputs).logits
        shift = width - logits.shape[1]  # columns dropped on the left
        row_index = torch.repeat_interleave(
            torch.arange(len(rows)), torch.tensor(positions)
        )
        column_index = torch.cat(
            [
                torch.arange(start - shift, start - shift + count)
                for start, count in zip(first, positions)
            ]
        )
        selected = logits[row_index.to(logits.device), column_index.to(logits.device)]
        return selected.float()  # exact for bf16 logits: their ties stay ties


# ------------------------------------------------------------------ encoder-decoder


def _language_code(codes: Mapping[str, str], lang: str | None, role: str) -> str:
    if lang not in codes:
        raise InputError(
            f"no model language code for {role} language {lang!r}; add it to language_codes "
            f"(e.g. {{en: eng_Latn, pt: por_Latn}} for NLLB); known: {sorted(codes)}",
            field="options.language_codes",
        )
    return codes[lang]


def seq2seq_generation_kwargs(
    tokenizer: Any,
    *,
    language_codes: Mapping[str, str],
    source_lang: str | None,
    target_lang: str | None,
    target_code_as: str,
    num_beams: int,
    max_new_tokens: int,
) -> dict[str, Any]:
    """Greedy/beam settings, plus the target language token when the model needs one.

    ``language_codes`` maps the workflow's language codes to the model's (empty:
    the model takes no language tokens). A tokenizer with ``src_lang``
    (NLLB, M2M100) is set to the source language's code; the target language's
    token is given as ``forced_bos`` (NLLB, M2M100, mBART) or
    ``decoder_start`` (mT5 CrossSum m2m).
    """
    kwargs: dict[str, Any] = {
        "do_sample": False,
        "num_beams": int(num_beams),
        "max_new_tokens": int(max_new_tokens),
    }
    codes = language_codes or {}
    if not codes:
        return kwargs
    if hasattr(tokenizer, "src_lang"):
        # NLLB/M2M100 tokenizers put the source language token around the input.
        tokenizer.src_lang = _language_code(codes, source_lang, "source")
    target_code = _language_code(codes, target_lang, "target")
    if hasattr(tokenizer, "get_lang_id"):  # M2M100: code "pt" is the token "__pt__"
        try:
            target_id = tokenizer.get_lang_id(target_code)
        except KeyError:
            target_id = None
    else:
        target_id = tokenizer.convert_tokens_to_ids(target_code)
    if target_id is None or target_id == tokenizer.unk_token_id:
        raise InputError(
            f"language code {target_code!r} is not a token of the model's vocabulary",
            field="options.language_codes",
        )
    if target_code_as == "forced_bos":  # NLLB, M2M100, mBART
        kwargs["forced_bos_token_id"] = target_id
    elif target_code_as == "decoder_start":  # mT5 CrossSum m2m
        kwargs["decoder_start_token_id"] = target_id
    else:
        raise InputError(
            f"target_code_as must be forced_bos or decoder_start, got {target_code_as!r}",
            field="options.target_code_as",
        )
    return kwargs
