"""Weights of one BitNet decoder layer, ternarized exactly as BitNet b1.58 does.

Float checkpoints (what `save_pretrained` writes for `linear_class: autobitlinear`, online quantization): per tensor
    s_w = 1 / max(mean|W|, 1e-5),  W_t = clamp(round(W * s_w), -1, 1)     (round half to even, as torch.round)
and the real weight is W_t / s_w, so `TernaryLinear.scale` = 1 / s_w.
Packed checkpoints (the released 2B-4T layout, transformers' `BitLinear`): uint8 [ceil(out/4), in], value i of a
byte in bits 2i..2i+1 (stored as w + 1) for output row i * ceil(out/4) + r, plus `weight_scale`; transformers
computes y = acc / (s_x * weight_scale), so `scale` = 1 / weight_scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from .config import BitNetConfig
from .safetensors_io import TensorStore

VALUES_PER_BYTE = 4


@dataclass(frozen=True)
class TernaryLinear:
    name: str
    w: np.ndarray          # int8 [out, in], values in {-1, 0, 1}
    scale: float           # real weight = w * scale


@dataclass(frozen=True)
class LayerWeights:
    index: int
    norms: dict            # name -> float64 [n] RMSNorm weight (gamma)
    linears: dict          # name -> TernaryLinear


def absmean_ternarize(w: np.ndarray) -> tuple[np.ndarray, float]:
    w32 = np.asarray(w, np.float32)
    s_w = np.float32(1.0) / np.maximum(np.abs(w32).mean(dtype=np.float32), np.float32(1e-5))
    wt = np.clip(np.rint(w32 * s_w), -1, 1).astype(np.int8)
    return wt, float(1.0 / np.float64(s_w))


def unpack_ternary(packed: np.ndarray, out_features: int) -> np.ndarray:
    packed = np.asarray(packed, np.uint8)
    parts = [((packed >> (2 * i)) & 3).astype(np.int8) - 1 for i in range(VALUES_PER_BYTE)]
    return np.concatenate(parts, axis=0)[:out_features]


def _finite(name: str, a: np.ndarray) -> None:
    if not np.all(np.isfinite(a)):
        raise UserError("model", f"tensor {name} has non-finite values (NaN/Inf)")


def load_layer(model_dir: str | Path, cfg: BitNetConfig, layer: int) -> LayerWeights:
    if not 0 <= layer < cfg.num_hidden_layers:
        raise UserError("layer", f"{layer} is out of range; allowed: 0..{cfg.num_hidden_layers - 1}")
    store = TensorStore(model_dir)
    prefix = f"model.layers.{layer}."
    if not any(n.startswith(prefix) for n in store.names()):
        raise UserError("layer", f"checkpoint {model_dir} has no tensors for layer {layer} ({prefix}*)")
    norms = {}
    for name, n in cfg.norm_shapes.items():
        key = prefix + name + ".weight"
        if key not in store:
            raise UserError("model", f"checkpoint has no tensor {key}")
        g = store.get(key).astype(np.float64)
        if g.shape != (n,):
            raise UserError("model", f"tensor {key} has shape {list(g.shape)}; config says [{n}]")
        _finite(key, g)
        norms[name] = g
    linears = {}
    for name, (out_f, in_f) in cfg.linear_shapes.items():
        key = prefix + name + ".weight"
        if key not in store:
            raise UserError("model", f"checkpoint has no tensor {key}")
        w = store.get(key)
        if w.dtype == np.uint8:
            rows = -(-out_f // VALUES_PER_BYTE)
            if w.shape != (rows, in_f):
                raise UserError("model", f"packed tensor {key} has shape {list(w.shape)}; expected [{rows}, {in_f}]")
            skey = prefix + name + ".weight_scale"
            if skey not in store:
                raise UserError("model", f"packed tensor {key} has no {skey}")
            ws = store.get(skey).astype(np.float64).reshape(-1)
            _finite(skey, ws)
            if ws.size != 1 or ws[0] <= 0:
                raise UserError("model", f"{skey} must be one positive value (per-tensor scale); got {ws.tolist()[:4]}")
            wt = unpack_ternary(w, out_f)
            if wt.min() < -1 or wt.max() > 1:
                raise UserError("model", f"packed tensor {key} holds the unused code 3 (not a ternary weight)")
            linears[name] = TernaryLinear(name, wt, float(1.0 / ws[0]))
        else:
            if w.shape != (out_f, in_f):
                raise UserError("model", f"tensor {key} has shape {list(w.shape)}; config says [{out_f}, {in_f}]")
            _finite(key, w)
            wt, scale = absmean_ternarize(w)
            linears[name] = TernaryLinear(name, wt, scale)
    return LayerWeights(layer, norms, linears)
