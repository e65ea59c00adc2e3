"""Small random BitNet checkpoints made with transformers' own `save_pretrained` (never downloaded), and transformers'
BitNetDecoderLayer as the reference. Needs the `reference` extra (torch, transformers, accelerate); nothing else in
hwgen imports this module."""
from __future__ import annotations

from pathlib import Path

QUANT = {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "online"}


def make_checkpoint(path: Path, *, hidden=256, intermediate=512, layers=2, heads=4, kv_heads=2, act="relu2",
                    theta=10000.0, seed=0, vocab=256, max_pos=256, norm_spread=0.2) -> Path:
    import torch
    from transformers import BitNetConfig, BitNetForCausalLM

    cfg = BitNetConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv_heads, hidden_act=act,
                       max_position_embeddings=max_pos, rope_parameters={"rope_type": "default", "rope_theta": theta},
                       bos_token_id=0, eos_token_id=1, quantization_config=QUANT)
    torch.manual_seed(seed)
    model = BitNetForCausalLM(cfg)
    with torch.no_grad():       # non-trivial norm weights (the init is all ones)
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + norm_spread * torch.randn_like(p))
    model.save_pretrained(path)
    return Path(path)


def transformers_layer(path: Path, layer: int, dtype=None):
    """transformers' BitNetDecoderLayer `layer` (AutoBitLinear, online quantization) and its rotary embedding."""
    from transformers import BitNetForCausalLM

    model = BitNetForCausalLM.from_pretrained(path)
    model.eval()
    if dtype is not None:
        model = model.to(dtype)
    return model, model.model.layers[layer], model.model.rotary_emb


def run_transformers_layer(path: Path, layer: int, x, dtype=None):
    """Prefill the float hidden states x [M, D] through the layer; returns numpy [M, D]."""
    import numpy as np
    import torch

    model, lyr, rot = transformers_layer(path, layer, dtype)
    dt = dtype or torch.float32
    xt = torch.tensor(np.asarray(x), dtype=dt)[None]
    M = xt.shape[1]
    pos = torch.arange(M)[None]
    cos, sin = rot(xt, pos)
    mask = torch.full((M, M), float("-inf"), dtype=dt).triu(1)[None, None]
    with torch.no_grad():
        y = lyr(xt, attention_mask=mask, position_ids=pos, position_embeddings=(cos, sin))
    y = y[0] if isinstance(y, tuple) else y
    return y[0].to(torch.float64).numpy()
