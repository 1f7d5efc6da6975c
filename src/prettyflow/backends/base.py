"""What a model backend gives: the interface every entry of ``MODEL_BACKENDS`` implements.

A backend is a class; :meth:`ModelBackend.load` returns an instance of it, one
loaded model with its tokenizer, and the instance does the work: encoding and
chat rendering (text -> prompt token ids), greedy generation from prompt ids
with stop strings, and, where the backend can, teacher-forced logits over the
whole vocabulary. Every step that runs a causal LM (decoding, the decision
space, the refined ``hf_causal``/``hf_seq2seq`` models, the warm decode worker)
goes through this interface; which backend is named by the model's
``models.<name>.backend`` (default ``hf``). Training is not part of it: LoRA
training is Hugging Face's by design (:mod:`prettyflow.training`).

The results must not depend on how prompts are batched: a decode of one prompt
is the same alone, in any batch and in any shard (tests/test_shards.py).

This module imports only the standard library: the config check reads the
backends' capabilities without loading torch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

if TYPE_CHECKING:
    import torch

    from prettyflow.decode import Generation

# A causal (decoder-only) language model, what decoding and the decision space use;
# an encoder-decoder model (NLLB, mT5, ...), what refined hf_seq2seq uses.
CAUSAL = "causal"
SEQ2SEQ = "seq2seq"


class ChatPrompts(NamedTuple):
    """Prompts rendered in a chat template: the texts, and the token ids the model reads."""

    texts: list[str]
    token_ids: list[list[int]]


class ModelBackend(ABC):
    """One loaded model of a backend, and what can be done with it.

    Subclasses set the capabilities (class attributes), implement :meth:`load`,
    :meth:`load_tokenizer` and the abstract methods, and fill the instance
    attributes below in :meth:`load`.

    Capabilities, checked when the config is (``prettyflow.config``):

    - ``teacher_forcing``: :meth:`teacher_forced_logits` gives full-vocabulary
      logits, which the decision space needs;
    - ``architectures``: the model kinds :meth:`load` can load
      (:data:`CAUSAL`, :data:`SEQ2SEQ`);
    - ``trainable``: LoRA training may start from a model of this backend.

    Instance attributes:

    - ``name``: the model's name (the config's ``models`` key, or its path);
    - ``settings``: the model settings it was loaded from;
    - ``tokenizer``: the model's tokenizer (Hugging Face-compatible: ``decode``,
      ``pad_token_id``, ``eos_token_id``); the decision space reads token texts
      with it;
    - ``device``, ``dtype``: where and in what precision it runs, as the outputs'
      provenance records them (e.g. ``"cpu"``, ``"float32"``).
    """

    teacher_forcing: ClassVar[bool] = False
    architectures: ClassVar[frozenset[str]] = frozenset({CAUSAL})
    # Whether LoRA training (hf's by design) may start from a model whose settings
    # name this backend; a decode-only backend says no.
    trainable: ClassVar[bool] = True

    @classmethod
    def job_settings(cls, compute: Mapping[str, Any]) -> dict[str, Any]:
        """What a job's model settings take from the config's ``compute`` for this
        backend (part of the job's parameters: changing it reruns the job)."""
        return {}

    name: str
    settings: Mapping[str, Any]
    tokenizer: Any
    device: str
    dtype: str

    @classmethod
    @abstractmethod
    def load(
        cls,
        settings: Mapping[str, Any],
        *,
        device: str = "auto",
        threads: int | None = None,
        architecture: str = CAUSAL,
    ) -> ModelBackend:
        """The model of ``settings``, loaded once, ready to decode.

        ``settings`` are the plan's model settings (``name``, ``path``,
        ``revision``, ``dtype``, ``adapter``, ``adapter_revision``,
        ``merge_adapter``, ``chat_template``, ``local_dir`` of a converted GGUF;
        see :func:`prettyflow.models.spec_from_settings`) or a refined
        backend's options (``model``, ``gguf_file``, ...). ``device`` is
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; ``threads`` the CPU threads it
        may use. A missing model is a
        :class:`prettyflow.errors.MissingResourceError` saying how to provide it.
        """

    @classmethod
    @abstractmethod
    def load_tokenizer(cls, settings: Mapping[str, Any]) -> Any:
        """Only the tokenizer of ``settings`` (no weights): prior jobs count tokens
        with it, the decision space compares the two models' tokenizers."""

    @abstractmethod
    def encode(
        self, texts: Sequence[str], *, add_special_tokens: bool = True
    ) -> list[list[int]]:
        """The token ids of each plain-text prompt (with the tokenizer's BOS and the
        like unless ``add_special_tokens`` is false)."""

    @abstractmethod
    def render_chat(
        self, prompts: Sequence[str], *, system: str | None = None
    ) -> ChatPrompts:
        """Each prompt as one user turn in the model's chat template, opening the
        assistant's turn (after an optional ``system`` turn).

        Trailing whitespace of a prompt (a plain template's answer slot) is
        dropped: the template opens the answer itself. The ids are the rendered
        texts' tokens as they are (the template holds BOS and the like). A model
        without a chat template is an :class:`prettyflow.errors.InputError`
        naming ``chat_template``.
        """

    @abstractmethod
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
        """Greedy continuations of ``prompt_ids`` (in input order), in batches.

        The greedy choice is the argmax of the fp32 logits, ties to the smaller
        id; no sampling, penalties or checkpoint generation settings. A row
        ends at EOS, after ``max_new_tokens``, or at its first stop string
        after the answer's first non-blank text
        (:func:`prettyflow.cleaning.stop_position`); ``answer_prefixes`` (one
        per prompt, e.g. the prior the prompt ends with) are the answers'
        starts: after one with text, a stop string counts from the first new
        token. Returns :class:`prettyflow.decode.Generation` records: the
        continuation cut before its stop string, the raw text, the new ids
        (EOS excluded), the prompt ids and why it stopped. The results do not
        depend on ``batch_size``; a batch that runs out of accelerator memory
        is retried in halves.
        """

    def teacher_forced_logits(
        self,
        prompts: Sequence[Sequence[int]],
        answers: Sequence[Sequence[int]],
        *,
        padding_side: str = "left",
    ) -> torch.Tensor:
        """Full-vocabulary fp32 logits predicting each answer token, under teacher forcing.

        Sample ``i`` is read as ``prompts[i] + answers[i]`` in one forward pass
        for all samples; row ``j`` of sample ``i`` holds the logits of the next
        token after ``prompts[i] + answers[i][:j]``. Returns a
        ``(sum(len(answer)), vocabulary)`` tensor, sample by sample (every
        answer has at least one token). A row's logits do not depend on the
        other samples or on ``padding_side``. Only backends with
        ``teacher_forcing``.
        """
        raise NotImplementedError(
            f"model backend {type(self).__name__} gives no teacher-forced logits"
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
        """An encoder-decoder model's output text for each input (same order).

        Only for a model loaded as :data:`SEQ2SEQ`. ``language_codes`` maps the
        workflow's language codes to the model's (NLLB: ``pt`` ->
        ``por_Latn``; empty: the model takes none); the target language's code
        is given as the forced first token (``target_code_as: forced_bos``)
        or as the decoder's start token (``decoder_start``). Greedy with
        ``num_beams`` 1, else beam search.
        """
        raise NotImplementedError(
            f"model backend {type(self).__name__} has no encoder-decoder models"
        )

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """What identifies the weights and the software that ran them (the outputs'
        ``model`` provenance; :func:`prettyflow.model_description.describe_model`
        renders it)."""


class HFTokenizerBackend(ModelBackend):
    """A backend whose prompts are encoded and chat-rendered by a Hugging Face
    tokenizer (``self.tokenizer``): the ``hf`` backend, and ``vllm``, which is
    handed token ids, so that both see the same ids."""

    tokenizer: Any

    def encode(
        self, texts: Sequence[str], *, add_special_tokens: bool = True
    ) -> list[list[int]]:
        texts = list(texts)
        if not texts:
            return []
        return self.tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]

    def render_chat(
        self, prompts: Sequence[str], *, system: str | None = None
    ) -> ChatPrompts:
        from prettyflow.decode import chat_prompts

        texts, add_special_tokens = chat_prompts(self.tokenizer, prompts, system)
        return ChatPrompts(
            texts, self.encode(texts, add_special_tokens=add_special_tokens)
        )
