"""The BitNet decoder layer as a chain of hwgen kernels, and its golden model.

`LayerNumerics` holds the fixed-point formats (the knobs that trade accuracy for width); `layer_program` turns
a checkpoint's config (and weights) into the spec of every kernel of the layer; `run_program` / `layer_golden`
run the layer by chaining the kernels' own golden models (through the registry, so the layer's bits are by
construction the kernels' bits) or simulations. What is host-side is documented in docs/layer_numerics.md: the
input boundary (float hidden states -> the residual format, round half to even, saturate) and the stream wiring
of GLUE (the q|k concatenation into one RoPE, the attention kernels' q/k/v and output, all without arithmetic).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..bits import clog2
from ..errors import UserError
from .checkpoint import LayerWeights
from .config import BitNetConfig


class LayerNumerics(BaseModel):
    """Fixed-point formats of the layer. `*_frac` = fraction bits of a signed `*_bits` integer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    x_bits: int = Field(24, ge=8, le=32, description="residual stream (layer input/output) width")
    x_frac: int = Field(12, ge=0, le=30, description="residual stream fraction bits")
    g_bits: int = Field(16, ge=4, le=24, description="RMSNorm weight width (fraction bits chosen from max|gamma|)")
    s_frac: int = Field(24, ge=8, le=30, description="per-token activation scale fraction bits (32-bit unsigned)")
    ws_bits: int = Field(16, ge=4, le=24, description="weight scale width (fraction bits chosen per tensor)")
    lin_bits: int = Field(16, ge=8, le=16, description="q/k/v (and the K/V cache) width")
    lin_frac: Optional[int] = Field(None, ge=0, le=15, description="q/k/v fraction bits (default: from the bound)")
    ffn_bits: int = Field(16, ge=8, le=24, description="gate/up projection output width")
    ffn_frac: Optional[int] = Field(None, ge=0, le=23, description="gate/up fraction bits (default: from the bound)")
    glu_bits: int = Field(28, ge=8, le=28, description="act(gate) * up output width")
    glu_frac: Optional[int] = Field(None, ge=0, le=27, description="act(gate) * up fraction bits (default: bound)")
    exp_index_bits: int = Field(8, ge=1, le=12, description="attention exp table index bits (E)")
    exp_bits: int = Field(16, ge=6, le=20, description="attention exp table value bits (P)")
    recip_bits: int = Field(16, ge=6, le=24, description="attention 1/l reciprocal significant bits")
    att_out_frac: int = Field(8, ge=0, le=12, description="attention output fraction bits beyond lin_frac")

    @property
    def attn_frac(self) -> int:
        """The attention output o is the value in units of 2^-lin_frac (its fixed-point q/k/v) times
        2^att_out_frac, so it enters attn_sub_norm exactly, with lin_frac + att_out_frac fraction bits."""
        return self.lin_frac + self.att_out_frac


def frac_for(max_abs: float, bits: int, signed: bool = True) -> int:
    """Most fraction bits such that max_abs still fits in `bits` (signed or unsigned)."""
    top = (1 << (bits - (1 if signed else 0))) - 1
    if max_abs <= 0:
        return bits - 2
    return int(math.floor(math.log2(top / max_abs)))


def output_bounds(cfg: BitNetConfig, w: LayerWeights) -> dict[str, float]:
    """No-overflow bounds of every BitLinear output of the layer, independent of the layer input.

    A BitLinear after an RMSNorm sees ||h||_2 <= max|gamma| sqrt(D) (an RMS-normalised vector has norm sqrt(D)),
    and its int8 re-quantization adds at most 0.5 max|h| / 127 per element; so by Cauchy-Schwarz
    |y_j| <= scale * sqrt(nnz(W_j)) * max|gamma| * sqrt(D) * (1 + 0.5 sqrt(D) / 127)."""
    out = {}
    feeds = {"self_attn.q_proj": "input_layernorm", "self_attn.k_proj": "input_layernorm",
             "self_attn.v_proj": "input_layernorm", "self_attn.o_proj": "self_attn.attn_sub_norm",
             "mlp.gate_proj": "post_attention_layernorm", "mlp.up_proj": "post_attention_layernorm",
             "mlp.down_proj": "mlp.ffn_sub_norm"}
    for name, norm in feeds.items():
        lin, g = w.linears[name], w.norms[norm]
        D = g.size
        hb = float(np.abs(g).max()) * math.sqrt(D) * (1 + 0.5 * math.sqrt(D) / 127)
        out[name] = lin.scale * math.sqrt(float(np.count_nonzero(lin.w, axis=1).max())) * hb
    return out


def resolve_numerics(cfg: BitNetConfig, w: LayerWeights | None, num: LayerNumerics) -> LayerNumerics:
    """Fill the fraction bits left open: the most that the bounds of `output_bounds` allow, so that no value of
    any input can overflow (RoPE can grow a pair's element by sqrt(2); relu2 squares the gate). Without weights
    (planning) 8 / 8 / 16 bits."""
    if w is None:
        fill = {"lin_frac": 8, "ffn_frac": 8, "glu_frac": 16}
    else:
        b = output_bounds(cfg, w)
        qkv = max(math.sqrt(2) * b["self_attn.q_proj"], math.sqrt(2) * b["self_attn.k_proj"], b["self_attn.v_proj"])
        g, u = b["mlp.gate_proj"], b["mlp.up_proj"]
        glu = g * g * u if cfg.hidden_act == "relu2" else max(g, 0.3) * u
        fill = {"lin_frac": max(0, min(15, frac_for(qkv, num.lin_bits))),
                "ffn_frac": max(0, min(23, frac_for(max(g, u), num.ffn_bits))),
                "glu_frac": max(0, min(27, frac_for(glu, num.glu_bits)))}
    return num.model_copy(update={k: v for k, v in fill.items() if getattr(num, k) is None})


def to_fixed(x: np.ndarray, bits: int, frac: int, name: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if not np.all(np.isfinite(x)):
        raise UserError(name, "contains NaN or Inf; all values must be finite")
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(np.rint(x * 2.0 ** frac), lo, hi).astype(np.int64)


@dataclass
class Step:
    """One kernel of the layer: its registry kind, spec dict and the names it reads/writes in the golden run."""
    name: str
    kind: str
    spec: dict
    inputs: dict = field(default_factory=dict)     # kernel input key -> layer tensor name
    outputs: dict = field(default_factory=dict)    # kernel output key -> layer tensor name
    glue: str = ""          # a GLUE entry: (pre, post) host-side conversions instead of `inputs` / `outputs`

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "spec": self.spec, "inputs": self.inputs,
                "outputs": self.outputs, "glue": self.glue}


# executor(step, kernel, spec, validated inputs) -> the kernel's outputs (golden model, or a simulation)
def golden_executor(step, kernel, spec, inputs) -> dict:
    return kernel.golden(spec, inputs)


LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
NORMS = ("input_layernorm", "self_attn.attn_sub_norm", "post_attention_layernorm", "mlp.ffn_sub_norm")
# rope: the direct cos/sin table up to this many rows (L_max * head_dim / (2 lanes)): one 1K-deep block RAM column
ROPE_DIRECT_ROWS_MAX = 1024


def _short(name: str) -> str:
    return name.split(".")[-1]


@dataclass
class LayerProgram:
    """Everything the golden run needs: constants (integer weights) and the kernel steps in order."""
    cfg: BitNetConfig
    num: LayerNumerics
    M_max: int
    L_max: int
    consts: dict
    steps: list
    mode: str = "prefill"  # prefill: M tokens at 0..M-1, causal; decode: one token at pos against a K/V cache


# The generator's per-target defaults for the layer's kernels (overridable per kind or per step). Every TLMM
# streams its weights: no real ternary LLM layer fits on chip (a 0.73B layer is ~5.5 MB of trits).
_URAM_BOARD = {"tlmm": {"weight_memory": "stream", "buffer_memory": "uram", "G": 3, "T": 16, "Q": 16}}
TARGET_DEFAULTS = {"kv260": _URAM_BOARD, "zcu104": _URAM_BOARD, "u280": _URAM_BOARD}
DEFAULT_KERNEL_PARAMS = {"tlmm": {"weight_memory": "stream", "G": 3, "T": 8, "Q": 8}}


def kernel_params(target: str, overrides: dict | None = None) -> dict:
    """The target's defaults merged with the user's overrides ({kind or step name: {field: value}})."""
    out = {k: dict(v) for k, v in TARGET_DEFAULTS.get(target, DEFAULT_KERNEL_PARAMS).items()}
    for key, fields in (overrides or {}).items():
        out.setdefault(key, {}).update(fields)
    return out


# Without weights (planning and synthesis from config.json alone) the formats assume |gamma| < 8 and a weight
# scale mean|W| < 0.25; the hardware is the same, only the constants' binary point moves.
PLAN_GAMMA_MAX, PLAN_SCALE_MAX = 7.99, 0.249


def layer_program(cfg: BitNetConfig, w: LayerWeights | None, num: LayerNumerics = LayerNumerics(), M_max: int = 128,
                  L_max: int | None = None, params: dict | None = None, mode: str = "prefill") -> LayerProgram:
    """The layer's kernel steps. `w` None plans from the config alone (no constants). `params` overrides kernel
    spec fields, by kind ({"tlmm": {"T": 16}}) and then by step name ({"q_proj": {"Q": 4}})."""
    from ..kernels import get, parse_spec

    D, F, H, Hkv, d = cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    L_max = L_max or cfg.max_position_embeddings
    params = params or {}
    # decode: the TLMMs take one token per call (no prefill activation/partial-sum buffers); the per-token kernels
    # are the same hardware in both modes
    tlmm_M = 1 if mode == "decode" else M_max
    num = resolve_numerics(cfg, w, num)
    consts, steps = {}, []
    gfrac, wsfrac = {}, {}
    for n in NORMS:
        g = w.norms[n] if w is not None else None
        gfrac[n] = frac_for(float(np.abs(g).max()) if g is not None else PLAN_GAMMA_MAX, num.g_bits)
        if g is not None:
            consts["g_" + _short(n)] = to_fixed(g, num.g_bits, gfrac[n], n)
            consts["ref_gamma_" + _short(n)] = np.asarray(g, np.float64)        # for the float reference only
    for n in LINEARS:
        lin = w.linears[n] if w is not None else None
        wsfrac[n] = frac_for(lin.scale if lin is not None else PLAN_SCALE_MAX, num.ws_bits, signed=False)
        if lin is not None:
            consts["w_" + _short(n)] = lin.w.T.astype(np.int64)           # TLMM weights are [K, N]
            consts["ws_" + _short(n)] = np.array([int(round(lin.scale * 2.0 ** wsfrac[n]))], np.int64)
            consts["ref_scale_" + _short(n)] = np.array([lin.scale], np.float64)

    def norm(name, src, dst, width, bits, frac):
        steps.append(Step(_short(name), "rmsnorm_quant",
                          {"kind": "rmsnorm_quant", "D": width, "x_bits": bits, "x_frac": frac, "g_bits": num.g_bits,
                           "g_frac": gfrac[name], "eps": cfg.rms_norm_eps, "s_frac": num.s_frac, "M_max": M_max},
                          {"x": src, "gamma": "g_" + _short(name)}, {"q": dst + "_q", "s": dst + "_s"}))

    def bitlinear(name, src, dst, out_bits, out_frac):
        N, K = cfg.linear_shapes[name]
        tl = {"kind": "tlmm", "K": K, "N": N, "M_max": tlmm_M, **params.get("tlmm", {}), **params.get(_short(name), {})}
        acc_bits = get("tlmm").model(parse_spec(tl)).acc_bits
        steps.append(Step(_short(name), "tlmm", tl, {"x": src + "_q", "w": "w_" + _short(name)}, {"y": dst + "_acc"}))
        steps.append(Step(_short(name) + "_scale", "bitlinear_scale",
                          {"kind": "bitlinear_scale", "N": N, "acc_bits": acc_bits, "s_frac": num.s_frac,
                           "ws_bits": num.ws_bits, "ws_frac": wsfrac[name], "per_channel": False,
                           "out_bits": out_bits, "out_frac": out_frac, "M_max": M_max},
                          {"acc": dst + "_acc", "s": src + "_s", "ws": "ws_" + _short(name)}, {"y": dst}))

    def rope():
        # one RoPE for q and k: the q heads then the k heads of a token on one stream, so the cos/sin table
        # (L_max x head_dim/2 entries, the kernel's largest memory) exists once. Its table: split (angle addition
        # from two ~sqrt(L_max)-row tables, 18-bit entries: error no worse than the direct 16-bit table) once the
        # direct table is deeper than one block RAM column (L_max * h2 > 1024 rows): below that each ROM's width,
        # not its depth, sets its block RAM, and the split would only add 4 DSPs per lane (docs/rope_numerics.md)
        lanes = math.gcd(d // 2, 16)
        table = ({"table": "split", "c_bits": 18} if L_max * (d // 2 // lanes) > ROPE_DIRECT_ROWS_MAX
                 else {"table": "direct"})
        steps.append(Step("rope", "rope",
                          {"kind": "rope", "heads": H + Hkv, "d": d, "lanes": lanes, "L_max": L_max,
                           "theta": cfg.rope_theta,
                           "in_bits": num.lin_bits, "in_frac": num.lin_frac, "out_bits": num.lin_bits,
                           "out_frac": num.lin_frac, "M_max": M_max, **table},
                          glue="qk_rope"))

    def residual(a, b, dst):
        steps.append(Step("residual_" + dst, "residual_add",
                          {"kind": "residual_add", "D": D, "a_bits": num.x_bits, "b_bits": num.x_bits,
                           "out_bits": num.x_bits, "M_max": M_max}, {"a": a, "b": b}, {"y": dst}))

    norm("input_layernorm", "x", "h", D, num.x_bits, num.x_frac)
    for n in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
        bitlinear(n, "h", _short(n)[0] + "_lin", num.lin_bits, num.lin_frac)
    rope()
    att_kind = "attention_prefill" if mode == "prefill" else "attention_decode"
    # The reciprocal 1/l carries P + clog2(max length) + recip_bits bits; the prefill's max length is M_max,
    # the decode's L_max. Prefill gets the decode's width, so a decode step reproduces its rows bit for bit.
    recip = num.recip_bits + (clog2(L_max) - clog2(M_max) if mode == "prefill" else 0)
    length = {"M_max": M_max, "N_pe": 1} if mode == "prefill" else {"L_max": L_max}
    # head_par = the GQA group: each K/V head is streamed once and serves its group's query heads side by side
    att = {"kind": att_kind, "H": H, "kv_heads": Hkv, "head_par": H // Hkv, "d": d, "lanes": math.gcd(d, 16), **length,
           "data_bits": num.lin_bits, "quant": "fixed", "data_frac": num.lin_frac,
           "exp_index_bits": num.exp_index_bits, "exp_bits": num.exp_bits, "recip_bits": recip,
           "out_frac_bits": num.att_out_frac, **params.get(att_kind, {})}
    attn_bits = get(att_kind).model(parse_spec(att)).out_bits
    steps.append(Step("attention", att_kind, att, glue=f"attention_{mode}"))
    norm("self_attn.attn_sub_norm", "a", "a", H * d, attn_bits, num.attn_frac)
    bitlinear("self_attn.o_proj", "a", "o_lin", num.x_bits, num.x_frac)
    residual("x", "o_lin", "x1")
    norm("post_attention_layernorm", "x1", "h2", D, num.x_bits, num.x_frac)
    bitlinear("mlp.gate_proj", "h2", "g_lin", num.ffn_bits, num.ffn_frac)
    bitlinear("mlp.up_proj", "h2", "u_lin", num.ffn_bits, num.ffn_frac)
    steps.append(Step("glu", "glu_act",
                      {"kind": "glu_act", "F": F, "act": cfg.hidden_act, "in_bits": num.ffn_bits,
                       "in_frac": num.ffn_frac, "out_bits": num.glu_bits, "out_frac": num.glu_frac, "M_max": M_max,
                       # the sigmoid table need not reach beyond the largest representable gate
                       **({"sig_range_log2": min(4, num.ffn_bits - 1 - num.ffn_frac)} if cfg.hidden_act == "silu" else {})},
                      {"g": "g_lin", "u": "u_lin"}, {"f": "f"}))
    norm("mlp.ffn_sub_norm", "f", "f", F, num.glu_bits, num.glu_frac)
    bitlinear("mlp.down_proj", "f", "dn_lin", num.x_bits, num.x_frac)
    residual("x1", "dn_lin", "y")
    for step in steps:          # the generator's per-kind / per-step choices (idempotent for the TLMMs)
        step.spec = {**step.spec, **params.get(step.kind, {}), **params.get(step.name, {})}
    return LayerProgram(cfg, num, M_max, L_max, consts, steps, mode)


def _attention_in(prog: LayerProgram, env: dict) -> dict:
    """q (after RoPE), k (after RoPE), v in the (lin_bits, lin_frac) format, as the values the attention kernel
    takes in its fixed quant mode (exactly on its grid: no rounding). GQA is the kernel's (kv_heads)."""
    cfg, num = prog.cfg, prog.num
    H, Hkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    unit = 2.0 ** num.lin_frac
    return {"q": env["q_rot"].reshape(-1, H, d) / unit, "k": env["k_rot"].reshape(-1, Hkv, d) / unit,
            "v": env["v_lin"].reshape(-1, Hkv, d) / unit}


def _attention_out(prog: LayerProgram, env: dict, inputs: dict, out: dict) -> None:
    """o [M, H, d] (value * 2^(lin_frac + att_out_frac)) -> the [M, H*d] stream into attn_sub_norm, unchanged."""
    o = out["o"][0]
    env["a"] = o.reshape(o.shape[0], -1).astype(np.int64)


def _attention_decode_in(prog: LayerProgram, env: dict) -> dict:
    """The token's q against the cache (positions 0..pos-1) followed by its own k and v: the layer's K/V cache
    format is exactly k after RoPE and v, int [pos, kv_heads, head_dim] with lin_frac fraction bits."""
    cfg, num = prog.cfg, prog.num
    H, Hkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    unit = 2.0 ** num.lin_frac
    k = np.concatenate([env["k_cache"], env["k_rot"].reshape(1, Hkv, d)], axis=0)
    v = np.concatenate([env["v_cache"], env["v_lin"].reshape(1, Hkv, d)], axis=0)
    return {"q": env["q_rot"].reshape(H, d) / unit, "k": k / unit, "v": v / unit}


def _attention_decode_out(prog: LayerProgram, env: dict, inputs: dict, out: dict) -> None:
    env["a"] = out["o"][0].reshape(1, -1).astype(np.int64)


def _qk_in(prog: LayerProgram, env: dict) -> dict:
    """q then k of every token on one stream (a stream concatenation in hardware)."""
    return {"x": np.concatenate([env["q_lin"], env["k_lin"]], axis=1), "pos": env["pos"]}


def _qk_out(prog: LayerProgram, env: dict, inputs: dict, out: dict) -> None:
    q_dim = prog.cfg.num_attention_heads * prog.cfg.head_dim
    env["q_rot"], env["k_rot"] = out["y"][:, :q_dim], out["y"][:, q_dim:]


# pre: (program, env) -> the kernel's raw inputs; post: (program, env, inputs, outputs) stores the results
GLUE = {"qk_rope": (_qk_in, _qk_out), "attention_prefill": (_attention_in, _attention_out),
        "attention_decode": (_attention_decode_in, _attention_decode_out)}


def run_program(prog: LayerProgram, x: np.ndarray, executor=golden_executor, pos0: int = 0,
                k_cache: np.ndarray | None = None, v_cache: np.ndarray | None = None) -> dict:
    """Run the layer on float hidden states x, each kernel through `executor`. Prefill: x [M, D] at positions
    0..M-1. Decode: x [1, D] at position pos0 against k_cache/v_cache [pos0, kv_heads, head_dim] (the layer's
    cache format, see _attention_decode_in). Returns every named tensor; `y_float` is the output as float64,
    `k_rot`/`v_lin` the new cache rows."""
    from ..kernels import get, parse_spec
    cfg, num = prog.cfg, prog.num
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != cfg.hidden_size:
        raise UserError("x", f"shape {list(x.shape)}; expected [M, {cfg.hidden_size}] (hidden_size)")
    env = dict(prog.consts)
    if prog.mode == "prefill":
        if not 1 <= x.shape[0] <= prog.M_max:
            raise UserError("x", f"M={x.shape[0]} tokens; allowed: 1..{prog.M_max} (M_max)")
        if pos0:
            raise UserError("pos", f"prefill starts at position 0 (got {pos0}); use a decode project for later tokens")
    else:
        if x.shape[0] != 1:
            raise UserError("x", f"decode takes one token; got M={x.shape[0]}")
        if not 0 <= pos0 < prog.L_max:
            raise UserError("pos", f"{pos0} is out of range; allowed: 0..{prog.L_max - 1} (L_max - 1)")
        Hkv, d = cfg.num_key_value_heads, cfg.head_dim
        lo, hi = -(1 << (num.lin_bits - 1)), (1 << (num.lin_bits - 1)) - 1
        for name, c in (("k_cache", k_cache), ("v_cache", v_cache)):
            c = np.zeros((0, Hkv, d), np.int64) if c is None and pos0 == 0 else c
            if c is None:
                raise UserError(name, f"missing; decode at pos {pos0} needs the cache of positions 0..{pos0 - 1}")
            c = np.asarray(c)
            if c.shape != (pos0, Hkv, d):
                raise UserError(name, f"shape {list(c.shape)}; expected [{pos0}, {Hkv}, {d}] (pos, kv_heads, head_dim)")
            if c.dtype.kind not in "iu" or (c.size and (c.min() < lo or c.max() > hi)):
                raise UserError(name, f"must be integers in [{lo}, {hi}] (the layer's {num.lin_bits}-bit cache format)")
            env[name] = c.astype(np.int64)
    env["x"] = to_fixed(x, num.x_bits, num.x_frac, "x")
    env["pos"] = np.arange(pos0, pos0 + x.shape[0], dtype=np.int64)
    for step in prog.steps:
        kernel, spec = get(step.kind), parse_spec(step.spec)
        pre, post = GLUE[step.glue] if step.glue else (None, None)
        raw = pre(prog, env) if pre else {k: env[v] for k, v in step.inputs.items()}
        inputs = kernel.validate_inputs(spec, raw)
        out = executor(step, kernel, spec, inputs)
        if post:
            post(prog, env, inputs, out)
        else:
            for k, v in step.outputs.items():
                env[v] = out[k]
    env["y_float"] = env["y"] / 2.0 ** num.x_frac
    return env


def reference_weights(prog: LayerProgram) -> LayerWeights:
    """The float weights the program was made from (ternary weights and their exact scales, float norm weights)."""
    from .checkpoint import TernaryLinear
    c = prog.consts
    norms = {n: c["ref_gamma_" + _short(n)] for n in NORMS}
    linears = {n: TernaryLinear(n, c["w_" + _short(n)].T.astype(np.int8), float(c["ref_scale_" + _short(n)][0]))
               for n in LINEARS}
    return LayerWeights(-1, norms, linears)


def layer_golden(prog: LayerProgram, x: np.ndarray, pos0: int = 0) -> dict:
    """The layer's bits: every kernel's golden model, chained."""
    return run_program(prog, x, golden_executor, pos0)


def layer_top_spec(prog: LayerProgram, name: str, target: str) -> dict:
    """The single-top kernel spec (`kind: bitnet_layer`) of a program (prefill or decode): its steps run as stages
    of one generated top (hwgen/kernels/bitnet_layer.py)."""
    return {"kind": "bitnet_layer", "name": name, "target": target, "mode": prog.mode, "M_max": prog.M_max,
            "L_max": prog.L_max, "config": prog.cfg.model_dump(mode="json"),
            "numerics": prog.num.model_dump(mode="json"), "steps": [s.as_dict() for s in prog.steps]}
