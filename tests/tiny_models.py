"""Tiny real models for tests: built from a config in about a second, never downloaded.

The weights are random (seeded), so the models produce gibberish, but they go
through exactly the same transformers code paths (tokenizer files, chat
template, ``from_pretrained``, ``generate``) as the real checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"

# A minimal chat format in the usual style: a BOS, role markers, and the
# assistant turn opened by ``add_generation_prompt``.
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def train_byte_level_tokenizer(
    corpus: Sequence[str],
    vocab_size: int = 300,
    special_tokens: Sequence[str] = (),
    add_bos: bool = True,
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``corpus`` (any text encodes, nothing is unknown)."""
    specials = [PAD, BOS, EOS, UNK, *special_tokens]
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    if add_bos:
        bos_id = tokenizer.token_to_id(BOS)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=list(special_tokens) or None,
    )


def train_wordpiece_tokenizer(
    corpus: Sequence[str], vocab_size: int = 300
) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer (for token classification models)."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        unk_token="[UNK]",
        mask_token="[MASK]",
    )


def build_tiny_causal_lm(
    directory: str | Path,
    corpus: Sequence[str],
    chat_template: bool,
    seed: int = 0,
    vocab_size: int = 300,
) -> Path:
    """Save a 2-layer random Llama and its trained tokenizer to ``directory``; return it."""
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tokenizer = train_byte_level_tokenizer(corpus, vocab_size=vocab_size)
    if chat_template:
        tokenizer.chat_template = TINY_CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    # A larger init spread than the default makes the random model's greedy
    # choices depend on the context instead of repeating one token.
    config.initializer_range = 0.5
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_seq2seq(
    directory: str | Path,
    corpus: Sequence[str],
    seed: int = 0,
    vocab_size: int = 300,
    special_tokens: Sequence[str] = (),
) -> Path:
    """Save a 2-layer random T5 and its tokenizer; ``special_tokens`` e.g. language codes."""
    from transformers import T5Config, T5ForConditionalGeneration

    directory = Path(directory)
    tokenizer = train_byte_level_tokenizer(
        corpus, vocab_size, special_tokens, add_bos=False
    )
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        initializer_factor=5.0,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_token_classifier(
    directory: str | Path,
    corpus: Sequence[str],
    labels: Sequence[str],
    seed: int = 0,
    vocab_size: int = 300,
) -> Path:
    """Save a 2-layer random BERT token classifier whose ``id2label`` is ``labels``."""
    from transformers import BertConfig, BertForTokenClassification

    directory = Path(directory)
    tokenizer = train_wordpiece_tokenizer(corpus, vocab_size)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = BertForTokenClassification(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _llama_cpp_permute(weight: torch.Tensor, num_heads: int) -> torch.Tensor:
    # llama.cpp stores q/k rows interleaved per rotary half; transformers undoes this on load.
    rows = weight.shape[0]
    return (
        weight.reshape(num_heads, 2, rows // num_heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def write_tiny_gguf(model_dir: str | Path, gguf_path: str | Path) -> Path:
    """Write the tiny Llama of :func:`build_tiny_causal_lm` as a float32 GGUF file.

    Laid out as llama.cpp's converter does (names, q/k permutation, byte-level
    vocabulary with merges), so transformers' GGUF loader reads it back.
    """
    import json

    import gguf
    from safetensors.torch import load_file

    model_dir, gguf_path = Path(model_dir), Path(gguf_path)
    config = json.loads((model_dir / "config.json").read_text())
    tokenizer_json = json.loads((model_dir / "tokenizer.json").read_text())
    weights = load_file(model_dir / "model.safetensors")
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]

    vocab = tokenizer_json["model"]["vocab"]
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    special = {
        added["content"] for added in tokenizer_json["added_tokens"] if added["special"]
    }
    merges = [
        merge if isinstance(merge, str) else " ".join(merge)
        for merge in tokenizer_json["model"]["merges"]
    ]

    writer = gguf.GGUFWriter(str(gguf_path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(config["hidden_size"] // heads)
    writer.add_rope_freq_base(
        float(config.get("rope_theta") or config["rope_parameters"]["rope_theta"])
    )
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if token in special else 1 for token in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_pad_token_id(config["pad_token_id"])
    writer.add_add_bos_token(True)

    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
    }
    per_layer = {
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    for layer in range(config["num_hidden_layers"]):
        for hf_name, gguf_name in per_layer.items():
            names[f"model.layers.{layer}.{hf_name}"] = f"blk.{layer}.{gguf_name}"
    for hf_name, gguf_name in names.items():
        tensor = weights[hf_name].float()
        if hf_name.endswith("q_proj.weight"):
            tensor = _llama_cpp_permute(tensor, heads)
        elif hf_name.endswith("k_proj.weight"):
            tensor = _llama_cpp_permute(tensor, kv_heads)
        writer.add_tensor(gguf_name, tensor.numpy())
    gguf_path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return gguf_path
