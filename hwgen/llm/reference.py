"""BitNet b1.58 decoder layer in float64 numpy: the semantics hwgen implements, written from the definitions
(BitLinear absmax/absmean quantization, RMSNorm, rotate_half RoPE, GQA causal softmax attention, sub-norms).

Used for the error budget of the fixed-point layer (which knob costs what) and to cross-check transformers;
the tests hold both against transformers' own `BitNetDecoderLayer`."""
from __future__ import annotations

import numpy as np

from .checkpoint import LayerWeights, TernaryLinear
from .config import BitNetConfig


def rmsnorm(x: np.ndarray, gamma: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * gamma


def act_quant(x: np.ndarray, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    qmax = 2 ** (bits - 1) - 1
    s = qmax / np.maximum(np.max(np.abs(x), axis=-1, keepdims=True), 1e-5)
    return np.clip(np.rint(x * s), -qmax - 1, qmax), s


def bitlinear(x: np.ndarray, lin: TernaryLinear) -> np.ndarray:
    q, s = act_quant(x)
    return (q @ lin.w.T.astype(np.float64)) * lin.scale / s


def rope_tables(cfg: BitNetConfig, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = cfg.head_dim
    inv_freq = 1.0 / cfg.rope_theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
    ang = np.asarray(positions, np.float64)[:, None] * inv_freq[None, :]
    ang = np.concatenate([ang, ang], axis=-1)
    return np.cos(ang), np.sin(ang)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x [T, heads, d]; cos/sin [T, d]."""
    h = x.shape[-1] // 2
    rot = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
    return x * cos[:, None, :] + rot * sin[:, None, :]


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, q_pos: np.ndarray) -> np.ndarray:
    """q [Tq, H, d] at positions q_pos; k, v [Tk, Hkv, d] at positions 0..Tk-1; causal; returns [Tq, H*d]."""
    Tq, H, d = q.shape
    group = H // k.shape[1]
    kk = np.repeat(k, group, axis=1)
    vv = np.repeat(v, group, axis=1)
    scores = np.einsum("qhd,khd->hqk", q, kk) / np.sqrt(d)
    mask = np.arange(k.shape[0])[None, :] > np.asarray(q_pos)[:, None]
    scores = np.where(mask[None], -np.inf, scores)
    scores -= scores.max(axis=-1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("hqk,khd->qhd", p, vv).reshape(Tq, H * d)


def layer_forward(cfg: BitNetConfig, w: LayerWeights, x: np.ndarray, pos0: int = 0,
                  k_cache: np.ndarray | None = None, v_cache: np.ndarray | None = None):
    """x [T, D] at positions pos0..pos0+T-1, attending to the cache (positions 0..pos0-1) and to itself.
    Returns (y [T, D], k [pos0+T, Hkv, d], v [...]): the caches include the new tokens (k after RoPE)."""
    x = np.asarray(x, np.float64)
    T = x.shape[0]
    H, Hkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    lin, nrm, eps = w.linears, w.norms, cfg.rms_norm_eps
    pos = np.arange(pos0, pos0 + T)
    h = rmsnorm(x, nrm["input_layernorm"], eps)
    q = bitlinear(h, lin["self_attn.q_proj"]).reshape(T, H, d)
    k = bitlinear(h, lin["self_attn.k_proj"]).reshape(T, Hkv, d)
    v = bitlinear(h, lin["self_attn.v_proj"]).reshape(T, Hkv, d)
    cos, sin = rope_tables(cfg, pos)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    if pos0:
        k = np.concatenate([k_cache[:pos0], k], axis=0)
        v = np.concatenate([v_cache[:pos0], v], axis=0)
    a = attention(q, k, v, pos)
    a = rmsnorm(a, nrm["self_attn.attn_sub_norm"], eps)
    x = x + bitlinear(a, lin["self_attn.o_proj"])
    h = rmsnorm(x, nrm["post_attention_layernorm"], eps)
    g = bitlinear(h, lin["mlp.gate_proj"])
    u = bitlinear(h, lin["mlp.up_proj"])
    act = np.maximum(g, 0) ** 2 if cfg.hidden_act == "relu2" else g / (1 + np.exp(-g))
    f = rmsnorm(act * u, nrm["mlp.ffn_sub_norm"], eps)
    return x + bitlinear(f, lin["mlp.down_proj"]), k, v
