"""Hugging Face export: a model folder as a ``transformers`` Llama checkpoint.

The ``gpt`` architecture is Llama's block (pre-norm RMSNorm, rotary attention without
biases, SwiGLU, tied embeddings), so an export is a renaming and a split of the fused
matrices, not a conversion: :func:`llama_config` writes the ``LlamaConfig`` and
:func:`llama_state_dict` the weights under transformers' names. Both rotate the halves
``(x_i, x_{i + D/2})`` of each head, so q and k need no permutation. The ``hybrid``
architecture's convolution blocks have no transformers counterpart: it does not export.

:func:`export_hf` writes the folder ``AutoModelForCausalLM.from_pretrained`` and
``AutoTokenizer.from_pretrained`` read: ``model.safetensors``, ``config.json``,
``generation_config.json``, the tokenizer files, the model card and ``lineage.json``.
This module imports torch and safetensors only; transformers reads the result.

Example::

    >>> from training.model import LanguageModel, ModelConfig
    >>> cfg = ModelConfig.from_preset("tiny", n_layer=1, vocab_size=64, context=16)
    >>> config = llama_config(cfg, bos_id=0, eos_id=0, pad_id=1)
    >>> config["model_type"], config["rope_parameters"], config["intermediate_size"]
    ('llama', {'rope_type': 'default', 'rope_theta': 10000.0}, 384)
    >>> weights = llama_state_dict(LanguageModel(cfg))
    >>> weights["model.layers.0.self_attn.k_proj.weight"].shape
    torch.Size([128, 128])
    >>> sorted(k for k in weights if not k.startswith("model.layers."))
    ['model.embed_tokens.weight', 'model.norm.weight']
    >>> check_exportable(ModelConfig(arch="hybrid", n_layer=3))
    Traceback (most recent call last):
    ...
    training.export.hf.ExportError: model.arch: hybrid models do not export to Hugging Face: ...
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from llmlake.lake import building_dir, write_json
from llmlake.tokenizer import EOS, PAD, TOKENIZER_FILE
from training.checkpoint import LINEAGE, WEIGHTS, load_model
from training.model import LanguageModel, ModelConfig

FORMAT = "hf"
CONFIG = "config.json"
GENERATION_CONFIG = "generation_config.json"
# What AutoTokenizer reads (llmlake.tokenizer.save writes all three), then the model card.
TOKENIZER_FILES = (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json")
MODEL_CARD = "README.md"


class ExportError(ValueError):
    """A model that cannot be exported; the message is one line naming the cause."""


def check_exportable(cfg: ModelConfig) -> None:
    """Raise :class:`ExportError` unless transformers' Llama computes exactly this model."""
    if cfg.arch != "gpt":
        raise ExportError(
            f"model.arch: {cfg.arch} models do not export to Hugging Face: their "
            "convolution blocks have no transformers equivalent; only model.arch: gpt "
            "models export")


def llama_config(cfg: ModelConfig, bos_id: int, eos_id: int, pad_id: int) -> dict[str, Any]:
    """``config.json`` of the ``LlamaForCausalLM`` that computes the model ``cfg``."""
    check_exportable(cfg)
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.n_embd,
        "intermediate_size": cfg.hidden,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.n_head,  # no grouped-query attention
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.context,
        "rms_norm_eps": cfg.norm_eps,
        # transformers 5 reads rope_parameters; rope_theta is for readers of the older layout.
        "rope_parameters": {"rope_type": "default", "rope_theta": float(cfg.rope_theta)},
        "rope_theta": float(cfg.rope_theta),
        "tie_word_embeddings": True,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": cfg.init_std,
        "pretraining_tp": 1,
        "use_cache": True,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "pad_token_id": pad_id,
        # dtype for transformers 5, torch_dtype for older readers.
        "dtype": "float32",
        "torch_dtype": "float32",
    }


def generation_config(bos_id: int, eos_id: int, pad_id: int) -> dict[str, Any]:
    return {"bos_token_id": bos_id, "eos_token_id": eos_id, "pad_token_id": pad_id}


def llama_state_dict(model: LanguageModel) -> dict[str, torch.Tensor]:
    """The model's weights under transformers' Llama names, fused matrices split.

    No ``lm_head.weight``: with ``tie_word_embeddings`` transformers ties it to the
    embedding, as the model does. Every tensor is a contiguous copy in float32, since
    safetensors refuses shared or strided storage.
    """
    check_exportable(model.config)
    ours = model.state_dict()
    out = {"model.embed_tokens.weight": ours["wte.weight"],
           "model.norm.weight": ours["norm.weight"]}
    for i in range(model.config.n_layer):
        src, dst = f"blocks.{i}.", f"model.layers.{i}."
        # Attention.forward views the fused rows as (3, n_head, head_dim): [q | k | v].
        q, k, v = ours[src + "mix.qkv.weight"].chunk(3, dim=0)
        gate, up = ours[src + "mlp.gate_up.weight"].chunk(2, dim=0)  # SwiGLU's chunk order
        out.update({
            dst + "input_layernorm.weight": ours[src + "norm1.weight"],
            dst + "self_attn.q_proj.weight": q,
            dst + "self_attn.k_proj.weight": k,
            dst + "self_attn.v_proj.weight": v,
            dst + "self_attn.o_proj.weight": ours[src + "mix.out.weight"],
            dst + "post_attention_layernorm.weight": ours[src + "norm2.weight"],
            dst + "mlp.gate_proj.weight": gate,
            dst + "mlp.up_proj.weight": up,
            dst + "mlp.down_proj.weight": ours[src + "mlp.out.weight"],
        })
    return {name: t.detach().to("cpu", torch.float32).contiguous().clone()
            for name, t in out.items()}


def special_ids(folder: Path) -> tuple[int, int, int]:
    """(bos, eos, pad) ids from the folder's tokenizer: EOS begins and ends documents."""
    from llmlake.tokenizer import load

    tok = load(folder)
    eos, pad = tok.token_to_id(EOS), tok.token_to_id(PAD)
    if eos is None or pad is None:
        missing = EOS if eos is None else PAD
        raise ExportError(f"{folder / TOKENIZER_FILE}: no {missing} token in the vocabulary")
    return eos, eos, pad


def export_hf(model_folder: str | Path, out: str | Path) -> Path:
    """Write ``model_folder`` as a Hugging Face Llama folder at ``out``, replacing an old
    export only once the new one is complete; nothing is written for a model that cannot
    be exported."""
    model_folder, out = Path(model_folder), Path(out)
    if out.resolve() == model_folder.resolve():
        raise ExportError(f"export.out: {out} is the model folder itself")
    check_exportable(ModelConfig.from_dict(json.loads((model_folder / CONFIG).read_text())))
    if not (model_folder / TOKENIZER_FILE).exists():
        raise ExportError(f"{model_folder}: no {TOKENIZER_FILE}; an export without its "
                          "tokenizer cannot encode text")
    model, lineage = load_model(model_folder)
    bos, eos, pad = special_ids(model_folder)
    with building_dir(out) as tmp:
        save_file(llama_state_dict(model), str(tmp / WEIGHTS), metadata={"format": "pt"})
        write_json(tmp / CONFIG, llama_config(model.config, bos, eos, pad))
        write_json(tmp / GENERATION_CONFIG, generation_config(bos, eos, pad))
        for name in (*TOKENIZER_FILES, MODEL_CARD):
            if (model_folder / name).is_file():
                shutil.copy2(model_folder / name, tmp / name)
        write_json(tmp / LINEAGE, {**lineage, "export": {
            "format": FORMAT, "source": str(model_folder), "architecture": "LlamaForCausalLM"}})
    return out


def count_params(folder: str | Path) -> int:
    """Parameters in an export's weights file, read from its header alone."""
    total = 0
    with safe_open(str(Path(folder) / WEIGHTS), framework="pt") as f:
        for name in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
            total += torch.Size(f.get_slice(name).get_shape()).numel()
    return total
