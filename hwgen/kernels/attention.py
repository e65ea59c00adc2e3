"""Streaming attention kernels: single-token decode against a K/V cache, and causal prefill.

Both kinds share one fixed-point datapath (documented in docs/attention_numerics.md, the one place
the number formats are defined) and one streaming micro-architecture:

    per call:        s_par: 1 length beat (L for decode, M for prefill)
    per head group:  s_par: 1 beat of score multipliers (HP heads processed side by side)
      per block:     s_q: nvalid*B beats (one query per PE, PE-major; B = d / lanes beats per vector)
                     s_k, s_v: sweep*B beats each (keys 0..sweep-1, broadcast to every PE)
                     QK^T + online softmax stage -> (p, alpha) FIFO -> S.V stage -> normalize
                     m_o: nvalid*B beats

Decode is one block of one PE (the query) sweeping all L keys. Prefill cuts the M queries into blocks
of N_pe; the baseline schedule sweeps all M keys for every block (the causal mask zeroes the excess),
the reversed schedule walks blocks from the last one backwards and cuts each sweep at the block's last
query, so PEs past their own query index retire and the masked work is skipped.

The Verilog twin (parameterised modules with a thin generated top; attention_rtl.py holds the rendering
decisions) is written for synthesis: every buffer is a memory with one write and one read address (q buffers,
accumulators and the (p, alpha) FIFO in LUTRAM, the exp table in a block RAM ROM or a case ROM), the lanes are
explicit parallel datapaths, wide multipliers are cut into DSP-sized pieces with registered partial products,
and the per-key path (dot -> score -> max -> exp -> p, alpha) is a pipeline of `lat_k` stages in which only the
running max and l are loop-carried. Cycle model at zero stalls (`block_cycles`, `call_cycles`, checked against
cosimulation): per block 1 setup cycle + nvalid*B q beats + (B + lat_k + sweep*B) sweep cycles (V trails K by the
pipeline) + the divider + nvalid*B output issues; per call 1 length beat (+1 for the reversed prefill's
last-block base) + per head group 1 parameter beat, and the output pipeline's lat_out cycles once at the end
(back-to-back calls overlap it).

`pipeline` (docs/timing.md, section 4b): with B >= 2, one stage registers the S.V accumulator read before the
acc x alpha DSPs (a write-to-read bypass covers B = 2); no cycle is added. With B = 1 the update is a one-cycle loop
with no bit-exact place for a register.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Annotated, Literal, Optional, Union

import numpy as np
from pydantic import Field

from ..errors import UserError
from ..spec import KernelSpec
from .attention_numerics import (CM_BITS, T_BITS, exp_table, float_attention, golden_attention, quantize,
                                 score_multiplier)
from .base import Kernel, Performance, Port, spec_memo
from ..bits import clog2, signed_bits_for_bound
from .. import timing

PAR_FIELD_BITS = 32   # one s_par field per head lane: [15:0] cm, [21:16] csh; length beat: field 0 = L/M
TREE_LEVELS = 3       # adder levels of the QK^T tree per register stage
LAT_OUT = 4           # output pipeline: PE select + row register, x R (DSP pieces), sum, round/saturate
MAX_PIPELINE = 1      # S.V accumulate path stages a design with B >= 2 beats per key can take


class AttentionSpec(KernelSpec):
    H: int = Field(8, ge=1, le=128, description="attention heads")
    d: int = Field(64, ge=1, le=256, description="head dimension")
    lanes: int = Field(16, ge=1, le=256, description="elements of d per stream beat (d % lanes == 0)")
    head_par: int = Field(1, ge=1, le=64, description="heads processed side by side (H % head_par == 0)")
    kv_heads: Optional[int] = Field(None, ge=1, le=128,
                                    description="K/V heads (grouped-query attention; default H): query head h uses K/V "
                                                "head h // (H / kv_heads). With head_par a multiple of the group "
                                                "size every K/V head is streamed once")
    data_bits: int = Field(8, ge=4, le=16, description="signed q/k/v width")
    quant: Literal["per_head", "fixed"] = Field(
        "per_head", description="per_head: the harness quantizes q/k/v per head by absmax; fixed: q/k/v are "
                                "fixed-point inputs with data_frac fraction bits (scales 2^-data_frac), so a decode "
                                "step and the prefill row of the same token give identical bits")
    data_frac: int = Field(8, ge=0, le=15, description="fixed quant: fraction bits of q/k/v")
    exp_index_bits: int = Field(8, ge=1, le=12,
                                description="E: exp table has 2^E entries; scores carry E fraction bits (log2 domain)")
    exp_bits: int = Field(16, ge=6, le=20, description="P: exp table values are unsigned with P fraction bits")
    recip_bits: int = Field(16, ge=6, le=32, description="significant bits of the 1/l reciprocal (at least)")
    out_frac_bits: int = Field(8, ge=0, le=12, description="output = o / s_v * 2^out_frac_bits, signed integer")
    reciprocal: Literal["divider"] = Field("divider", description="1/l by a sequential restoring divider")
    pipeline: Union[Literal["auto"], Annotated[int, Field(ge=0, le=16)]] = Field(
        "auto", description="register stages in the S.V accumulate path: 1 registers the accumulator read (with a "
                            "write-to-read bypass) so the DSP multiply starts at a flip-flop; auto = the fewest that "
                            "meet the clock under the delay model (hwgen/timing.py), or a number (0: none; at most "
                            "1, and 0 when lanes = d: that one-cycle loop has no place for a register)")


class DecodeSpec(AttentionSpec):
    kind: Literal["attention_decode"] = "attention_decode"
    L_max: int = Field(2048, ge=1, le=16384, description="max K/V cache length")


class PrefillSpec(AttentionSpec):
    kind: Literal["attention_prefill"] = "attention_prefill"
    M_max: int = Field(128, ge=1, le=4096, description="max prompt tokens per call")
    N_pe: int = Field(16, ge=1, le=128, description="query processing elements (one query each)")
    reversed: bool = Field(True, description="reversed block order with early-retiring sweeps (TeLLMe)")


@dataclass(frozen=True)
class AttentionModel:
    """Derived formats and micro-architecture shared by golden model, HLS and RTL renderers."""

    top: str
    kind: str
    causal: bool
    H: int
    d: int
    lanes: int
    head_par: int
    groups: int           # H / head_par
    beats: int            # B = d / lanes
    len_max: int          # L_max (decode) or M_max (prefill)
    npe: int              # query PEs (1 for decode)
    reversed: bool
    units: int            # npe * head_par datapaths
    data_bits: int
    qmax: int
    E: int                # exp table index bits = score fraction bits
    P: int                # exp table fraction bits
    exp_entries: int
    s_bits: int           # int dot product
    t_bits: int           # scaled score, running max
    diff_bits: int
    pv_bits: int          # p, alpha (unsigned, <= 2^P)
    l_bits: int           # softmax denominator (unsigned)
    acc_bits: int         # numerator accumulators (signed)
    rw: int               # reciprocal R = floor(2^rw / l)
    r_bits: int
    sh_out: int           # o = (acc * R + 2^(sh_out-1)) >> sh_out
    out_frac_bits: int
    out_bits: int
    cm_bits: int
    csh_bits: int
    data_w: int           # q/k/v beat width
    out_w: int            # output beat width
    par_w: int            # s_par beat width
    fifo_depth: int       # (p, alpha) FIFO entries (power of two, enough that K never waits at zero stalls)
    tree_stages: int      # register stages of the QK^T adder tree (one per TREE_LEVELS levels, root included)
    lat_k: int            # cycle-model constants (validated against RTL cosim): last K beat of a key -> its
    lat_out: int          #   (p, alpha) FIFO push; output pipeline depth (issue -> m_o beat)
    div_cycles: int
    rmw_stages: int       # S.V read-modify-write stages: 2 when B >= 2 (the product is registered), 1 when B = 1,
                          #   3 with pipeline 1 (the accumulator read is registered too)
    exp_table: list = field(default_factory=list)
    quant: str = "per_head"
    data_frac: int = 0
    kv_heads: int = 0     # K/V heads (= H without GQA)
    kv_group: int = 1     # query heads per K/V head, H / kv_heads
    kv_par: int = 1       # K/V heads per s_k / s_v beat: head_par / kv_group, or 1 when head_par divides kv_group
    kv_w: int = 0         # K/V beat width
    pipeline: int = 0     # register stages in the S.V accumulate path (spec `pipeline`, resolved)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["exp_table"] = f"{len(self.exp_table)} entries"
        return d


def accumulate_path_ns(m: AttentionModel, family: str, stages: int) -> float:
    """The slowest path of the S.V accumulate loop under the delay model (hwgen/timing.py), clock-to-out and setup
    included. The DSP pieces of acc x alpha and their sum are written as in templates/attention/rtl/unit.v.j2:
      B = 1: acc register -> DSP -> compressor LUT -> adder (acc_bits on the carry chain) -> acc register, one cycle;
      B >= 2, 0 stages: address mux (LUT) -> LUTRAM read -> DSP -> product register (the sum follows next cycle);
      B >= 2, 1 stage: read register -> DSP -> product register (read and bypass mux end at the read register).
    Calibrated on Yosys netlists of this RTL: 263 MHz (B = 1, acc 31 bits) and 307.7 MHz (B >= 2, 0 stages)."""
    from .attention_rtl import split_mul
    pieces = len(split_mul(m.acc_bits, True, m.pv_bits, False))
    if m.beats == 1:
        compress = 0 if pieces + 1 <= 2 else 1 if pieces + 1 <= 3 else 2   # LUT levels before the final adder
        return timing.path_ns(family, depth=2 + compress + 1, dsps=1, carry_entries=1,
                              carry_cascades=max(0, -(-m.acc_bits // timing.CARRY_BITS) - 1))
    if stages == 0:
        read = timing.lutram_read_segment(m.beats).depth
        return timing.path_ns(family, depth=1 + read + 1, dsps=1)
    return timing.path_ns(family, depth=1, dsps=1)


# LUT levels of the deepest path of an attention design as the open flow counts them: 7 (the score path's compare
# and exp-table index, the control's counters) in 475 of the 514 stored decode and forward-prefill designs; the
# reversed prefill schedule's sweep-length arithmetic (hwgen_attn_ctrl) adds one once it has several PEs and
# several blocks, or 32 blocks or more (a wider block counter): 8 in 93 of its 98 such stored designs.
ATTENTION_LEVELS = 7
REVERSED_SWEEP_MIN_BLOCKS = 32


def control_levels(m: AttentionModel) -> int:
    blocks = -(-m.len_max // m.npe)
    sweep = m.reversed and ((m.npe >= 2 and blocks >= 2) or blocks >= REVERSED_SWEEP_MIN_BLOCKS)
    return ATTENTION_LEVELS + (1 if sweep else 0)


# families whose netlists keep the acc x alpha DSPs unregistered, as accumulate_path_ns models them (checked against
# the stored Yosys records); on xc7 Yosys packs the product registers into the DSP48E1s, which the delay model
# treats as path boundaries, so the accumulate path is not the slowest there and is not modelled
MODELLED_FAMILIES = ("xcup",)


def max_pipeline(m: AttentionModel) -> int:
    return MAX_PIPELINE if m.beats >= 2 else 0


def with_pipeline(spec, m: AttentionModel) -> AttentionModel:
    """Resolve `pipeline`: auto = the fewest stages whose accumulate path meets the spec's clock under the delay model
    (all of them when none does). A stage moves the S.V read-modify-write from 2 to 3 cycles; the last write still
    lands during the divider, so latency and II are unchanged (the cycle model holds, cosim checks it)."""
    family = spec.target_info.yosys_family
    most = max_pipeline(m)
    if spec.pipeline == "auto":
        stages = 0 if family not in MODELLED_FAMILIES else next(
            (p for p in range(most + 1) if 1000.0 / accumulate_path_ns(m, family, p) >= spec.clock), most)
    else:
        stages = spec.pipeline
        if stages > most:
            why = ("lanes = d: one key per cycle, the accumulate loop is one cycle" if m.beats == 1
                   else "the accumulator read register")
            raise UserError("pipeline", f"{stages} register stages exceed the {most} place(s) of this design's "
                                        f"accumulate path ({why}); allowed: auto, 0..{most}")
    return replace(m, pipeline=stages, rmw_stages=3 if stages else m.rmw_stages)


class _AttentionKernel(Kernel):
    unit = "call"
    node_types = ("q_buffer", "dot_lane", "score_scale", "softmax", "exp_table", "sv_lane", "reciprocal", "normalize",
                  "fifo", "accumulator")
    template_dir = "attention"
    causal: bool = False

    # --- spec -> model ---------------------------------------------------------
    def check(self, spec) -> None:
        if spec.d % spec.lanes:
            raise UserError("lanes", f"d={spec.d} is not a multiple of lanes={spec.lanes}; allowed: divisors of d")
        if spec.H % spec.head_par:
            raise UserError("head_par", f"H={spec.H} is not a multiple of head_par={spec.head_par}; allowed: divisors of H")
        kvh = spec.kv_heads or spec.H
        if spec.H % kvh:
            raise UserError("kv_heads", f"{kvh} does not divide H={spec.H}; allowed: divisors of H")
        group = spec.H // kvh
        if spec.head_par % group and group % spec.head_par:
            raise UserError("head_par", f"{spec.head_par} must divide, or be a multiple of, the GQA group "
                                        f"H/kv_heads={group}")
        m = self.model(spec)      # names `pipeline` when it exceeds the accumulate path's places
        if m.acc_bits + m.pv_bits + 1 > 63:
            raise UserError("exp_bits", f"accumulator ({m.acc_bits} bits) x exp ({m.pv_bits} bits) exceeds 63 bits; "
                                        "lower exp_bits, data_bits or the max length")

    def _len_max(self, spec) -> int:
        raise NotImplementedError

    @spec_memo
    def model(self, spec) -> AttentionModel:
        n = self._len_max(spec)
        npe = getattr(spec, "N_pe", 1)
        qmax = (1 << (spec.data_bits - 1)) - 1
        E, P = spec.exp_index_bits, spec.exp_bits
        s_bits = signed_bits_for_bound(spec.d * qmax * qmax)
        l_bits = (n << P).bit_length()
        acc_bits = signed_bits_for_bound(qmax * (n << P)) + 1
        rw = P + clog2(n) + spec.recip_bits
        sh_out = rw - spec.out_frac_bits
        out_bits = signed_bits_for_bound(qmax << spec.out_frac_bits)
        hp = spec.head_par
        kvh = spec.kv_heads or spec.H
        group = spec.H // kvh
        kv_par = hp // group if hp % group == 0 else 1
        beats = spec.d // spec.lanes
        tree_stages = max(1, -(-max(0, clog2(spec.lanes)) // TREE_LEVELS))
        # K beat -> K register + q row, product, adder tree, dot/score, x cm, >> csh, max/diff, exp ROM, (p, alpha)
        lat_k = 2 + tree_stages + 6
        # the FIFO must hold every key between its last K beat and its last V beat: 2 + (lat_k - 1) // B of them
        fifo_depth = max(4, 1 << clog2(3 + (lat_k - 1) // beats))
        m = AttentionModel(
            top=spec.design_name, kind=spec.kind, causal=self.causal,
            H=spec.H, d=spec.d, lanes=spec.lanes, head_par=hp, groups=spec.H // hp,
            beats=beats, len_max=n, npe=npe, reversed=bool(getattr(spec, "reversed", False)),
            units=npe * hp, data_bits=spec.data_bits, qmax=qmax, E=E, P=P, exp_entries=1 << E,
            s_bits=s_bits, t_bits=T_BITS, diff_bits=T_BITS + 1, pv_bits=P + 1, l_bits=l_bits,
            acc_bits=acc_bits, rw=rw, r_bits=rw - P + 1, sh_out=sh_out,
            out_frac_bits=spec.out_frac_bits, out_bits=out_bits, cm_bits=CM_BITS, csh_bits=6,
            data_w=hp * spec.lanes * spec.data_bits, out_w=hp * spec.lanes * out_bits,
            par_w=hp * PAR_FIELD_BITS, fifo_depth=fifo_depth, tree_stages=tree_stages, lat_k=lat_k,
            lat_out=LAT_OUT, div_cycles=rw + 1, rmw_stages=2 if beats >= 2 else 1,
            exp_table=exp_table(E, P), quant=spec.quant, data_frac=spec.data_frac if spec.quant == "fixed" else 0,
            kv_heads=kvh, kv_group=group, kv_par=kv_par, kv_w=kv_par * spec.lanes * spec.data_bits,
        )
        return with_pipeline(spec, m)

    def rtl_top(self, spec) -> str:
        return spec.design_name

    def fmax_estimate(self, spec):
        """The S.V accumulate path after the pipeline stages (accumulate_path_ns), capped like a design with the
        block RAM exp ROM; the score path, the control and the output normaliser are not modelled (None outside
        MODELLED_FAMILIES)."""
        m = self.model(spec)
        family = spec.target_info.yosys_family
        if family not in MODELLED_FAMILIES:
            return None
        from .attention_rtl import EXP_BRAM_MIN_E
        return round(min([1000.0 / accumulate_path_ns(m, family, m.pipeline),
                          *timing.ram_caps(family, m.E >= EXP_BRAM_MIN_E)]), 1)

    def timing_estimate(self, spec):
        """The surrogate's timing anchor: crit_ns = the accumulate path's arrival (accumulate_path_ns less clock-to-out
        and setup) where MODELLED_FAMILIES, else a 7-level path; lut_depth = the control's deepest path
        (control_levels). The score path and the output normaliser are left to the GNN's correction."""
        m = self.model(spec)
        family = spec.target_info.yosys_family
        levels = control_levels(m)
        if family in MODELLED_FAMILIES:
            crit = accumulate_path_ns(m, family, m.pipeline) - timing.path_ns(family, 0)
        else:
            crit = timing.comb_ns(family, timing.Segment(depth=ATTENTION_LEVELS))
        return {"lut_depth": float(levels), "crit_ns": crit}

    def render_context(self, spec) -> dict:
        from .attention_rtl import render_context
        return render_context(spec, self.model(spec))

    def outputs(self, backend):
        from .attention_rtl import outputs
        return outputs(backend)

    # --- schedule ----------------------------------------------------------------
    def schedule(self, m: AttentionModel, length: int) -> list[tuple[int, int, int]]:
        """Blocks of one head group in processing order: (first query, valid queries, keys swept)."""
        if not m.causal:
            return [(0, 1, length)]
        nb = -(-length // m.npe)
        blocks = []
        order = range(nb - 1, -1, -1) if m.reversed else range(nb)
        for b in order:
            base = b * m.npe
            nvalid = min(m.npe, length - base)
            blocks.append((base, nvalid, base + nvalid if m.reversed else length))
        return blocks

    def prepare(self, spec, q: np.ndarray, k: np.ndarray, v: np.ndarray, lens: np.ndarray, single: bool) -> dict:
        """Float problems [N, ...] -> quantized ints + per-head scales; padding beyond lens[n] ignored."""
        m = self.model(spec)
        N = q.shape[0]
        qi = np.zeros(q.shape, np.int64)
        ki = np.zeros(k.shape, np.int64)                         # [N, L, kv_heads, d]
        vi = np.zeros(v.shape, np.int64)
        sq = np.ones((N, m.H)); sk = np.ones((N, m.H)); sv = np.ones((N, m.H))    # per query head
        cm = np.zeros((N, m.H), np.int64); csh = np.ones((N, m.H), np.int64)
        for n in range(N):
            L = int(lens[n])
            qn = q[n] if not m.causal else q[n, :L]
            # decode q [H, d]: scale over d; prefill q [M, H, d]: over tokens and d
            qaxes = (1,) if not m.causal else (0, 2)
            a, s = quantize(m, qn, qaxes)    # (fixed quant: the input grid itself, scale 2^-data_frac)
            if m.causal:
                qi[n, :L] = a
            else:
                qi[n] = a
            sq[n] = s.reshape(-1)
            a, s = quantize(m, k[n, :L], (0, 2)); ki[n, :L] = a; sk[n] = np.repeat(s.reshape(-1), m.kv_group)
            a, s = quantize(m, v[n, :L], (0, 2)); vi[n, :L] = a; sv[n] = np.repeat(s.reshape(-1), m.kv_group)
            cm[n], csh[n] = score_multiplier(m, sq[n], sk[n])
        return {"q": q.astype(np.float32), "k": k.astype(np.float32), "v": v.astype(np.float32),
                "lens": lens.astype(np.int64), "single": np.array(single),
                "qi": qi, "ki": ki, "vi": vi, "sq": sq, "sk": sk, "sv": sv, "cm": cm, "csh": csh}

    # --- data hooks ------------------------------------------------------------------
    def random_inputs(self, spec, rng, vectors):
        """`vectors` independent problems (decode calls / prompts) of N(0,1) data; the first two have the max
        length (the contract's ii is measured between them), the others a random length in [1, max]."""
        m = self.model(spec)
        lens = np.concatenate([[m.len_max] * 2, rng.integers(1, m.len_max + 1, size=max(0, vectors - 2))])[:vectors]
        Lu = int(lens.max())
        qshape = (vectors, m.H, m.d) if not m.causal else (vectors, Lu, m.H, m.d)
        q = rng.standard_normal(qshape).astype(np.float32)
        k = rng.standard_normal((vectors, Lu, m.kv_heads, m.d)).astype(np.float32)
        v = rng.standard_normal((vectors, Lu, m.kv_heads, m.d)).astype(np.float32)
        for n, L in enumerate(lens.tolist()):
            k[n, L:] = 0; v[n, L:] = 0
            if m.causal:
                q[n, L:] = 0
        return self.prepare(spec, q, k, v, lens, single=False)

    def input_names(self, spec):
        return ("q", "k", "v")

    def input_doc(self, spec):
        return ("q [H, d], k and v [L, kv_heads, d]" if not self.model(spec).causal
                else "q [M, H, d], k and v [M, kv_heads, d]")

    def validate_inputs(self, spec, inputs):
        m = self.model(spec)
        q, k, v = (np.asarray(inputs[key]) for key in ("q", "k", "v"))
        lname = "L" if not m.causal else "M"
        for key, x in (("q", q), ("k", k), ("v", v)):
            if x.dtype.kind not in "fiu":
                raise UserError(key, f"dtype {x.dtype} is not numeric; expected float32")
            if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
                raise UserError(key, "contains NaN or Inf; all values must be finite")
        if k.ndim != 3 or k.shape[1:] != (m.kv_heads, m.d) or k.shape[0] < 1:
            raise UserError("k", f"shape {list(k.shape)} does not match the config; expected [{lname}, {m.kv_heads}, "
                                 f"{m.d}] ({lname}, kv_heads, d) with {lname} >= 1")
        if v.shape != k.shape:
            raise UserError("v", f"shape {list(v.shape)} does not match k {list(k.shape)}")
        L = k.shape[0]
        if L > m.len_max:
            raise UserError(lname, f"{lname}={L} exceeds {lname}_max={m.len_max}; allowed: 1..{m.len_max}")
        qexp = (m.H, m.d) if not m.causal else (L, m.H, m.d)
        if q.shape != qexp:
            raise UserError("q", f"shape {list(q.shape)} does not match the config; expected {list(qexp)}")
        return self.prepare(spec, q[None].astype(np.float64), k[None].astype(np.float64),
                            v[None].astype(np.float64), np.array([L]), single=True)

    def vector_count(self, spec, inputs) -> int:
        return int(inputs["lens"].shape[0])

    def out_shape(self, m: AttentionModel, inputs) -> tuple:
        N = int(inputs["lens"].shape[0])
        return (N, m.H, m.d) if not m.causal else (N, int(inputs["lens"].max()), m.H, m.d)

    # --- golden model ----------------------------------------------------------------
    def golden(self, spec, inputs):
        m = self.model(spec)
        out = np.zeros(self.out_shape(m, inputs), np.int64)
        for n, L in enumerate(inputs["lens"].tolist()):
            qi = inputs["qi"][n][None] if not m.causal else inputs["qi"][n, :L]
            ki, vi = (np.repeat(inputs[key][n, :L], m.kv_group, axis=1) for key in ("ki", "vi"))   # GQA
            o = golden_attention(m, qi, ki, vi, inputs["cm"][n], inputs["csh"][n])
            if m.causal:
                out[n, :L] = o
            else:
                out[n] = o[0]
        return {"o": out}

    def user_output(self, spec, inputs, outputs):
        m = self.model(spec)
        sv = inputs["sv"]  # [N, H]
        scale = sv / float(1 << m.out_frac_bits)
        y = outputs["o"] * (scale[:, None, :, None] if m.causal else scale[:, :, None])
        y = y.astype(np.float32)
        if bool(inputs["single"]):
            y = y[0]
        return {"o": y}

    def reference(self, spec, inputs) -> list[np.ndarray]:
        """float64 attention on the unquantized inputs, one array per problem."""
        m = self.model(spec)
        refs = []
        for n, L in enumerate(inputs["lens"].tolist()):
            q = inputs["q"][n].astype(np.float64)
            if m.causal:
                q = q[:L]
            k, v = (np.repeat(inputs[key][n, :L].astype(np.float64), m.kv_group, axis=1) for key in ("k", "v"))
            refs.append(float_attention(q, k, v, causal=m.causal))
        return refs

    def extra_metrics(self, spec, inputs, outputs):
        m = self.model(spec)
        y = self.user_output(spec, inputs, outputs)["o"]
        if bool(inputs["single"]):
            y = y[None]
        refs = self.reference(spec, inputs)
        errs, mx = [], 0.0
        for n, ref in enumerate(refs):
            got = y[n] if not m.causal else y[n, : ref.shape[0]]
            errs.append(np.abs(got.astype(np.float64) - ref).reshape(-1))
            mx = max(mx, float(np.abs(ref).max()))
        e = np.concatenate(errs)
        denom = mx if mx > 0 else 1.0
        return {"max_abs_err_vs_float": float(e.max()), "mean_abs_err_vs_float": float(e.mean()),
                "max_abs_ref": mx, "max_rel_err_vs_float": float(e.max()) / denom,
                "mean_rel_err_vs_float": float(e.mean()) / denom}

    # --- interface and vectors ----------------------------------------------------------
    def ports(self, spec):
        m = self.model(spec)
        ne = m.head_par * m.lanes
        return [Port("par", "in", m.head_par, PAR_FIELD_BITS, False, "s_par"),
                Port("q", "in", ne, m.data_bits, True, "s_q"),
                Port("k", "in", m.kv_par * m.lanes, m.data_bits, True, "s_k"),
                Port("v", "in", m.kv_par * m.lanes, m.data_bits, True, "s_v"),
                Port("o", "out", ne, m.out_bits, True, "m_o")]

    def performance(self, spec) -> Performance:
        m = self.model(spec)
        L = m.len_max
        visible = L * (L + 1) // 2 if m.causal else L            # (query, key) pairs of one call
        eb = -(-m.data_bits // 8)
        queries = L if m.causal else 1
        kv = self.memory_bytes(m, L) // 2         # (each sums the block schedule: computed once here)
        return Performance(latency_cycles=self.call_cycles(m, L), ii=self.call_interval(m, L), unit=self.unit,
                           macs=2 * visible * m.H * m.d, macs_per_cycle=2 * m.units * m.lanes,
                           bytes={"q": queries * m.H * m.d * eb, "k": kv, "v": kv, "par": 4 * m.head_par * (1 + m.groups),
                                  "o": queries * m.H * m.d * -(-m.out_bits // 8)})

    def stream_beats(self, spec, inputs) -> dict[str, list]:
        """Every input stream's beats in order (element hp*lanes + i), tlast on each call's last beat."""
        m = self.model(spec)
        B, ln, hp = m.beats, m.lanes, m.head_par
        out: dict[str, list] = {"par": [], "q": [], "k": [], "v": []}
        for n, L in enumerate(inputs["lens"].tolist()):
            call = {"par": [[L] + [0] * (hp - 1)], "q": [], "k": [], "v": []}
            qn = inputs["qi"][n][None] if not m.causal else inputs["qi"][n]
            kn, vn = inputs["ki"][n], inputs["vi"][n]
            for g in range(m.groups):
                hs = slice(g * hp, (g + 1) * hp)
                kv0 = g * hp // m.kv_group                          # the group's first K/V head
                ks = slice(kv0, kv0 + m.kv_par)
                call["par"].append([int(c) | (int(s) << 16) for c, s in zip(inputs["cm"][n, hs], inputs["csh"][n, hs])])
                for base, nvalid, sweep in self.schedule(m, L):
                    call["q"].extend(_beats(qn[base: base + nvalid, hs], B, ln))
                    call["k"].extend(_beats(kn[:sweep, ks], B, ln))
                    call["v"].extend(_beats(vn[:sweep, ks], B, ln))
            for name, beats in call.items():
                out[name].extend((int(i == len(beats) - 1), b) for i, b in enumerate(beats))
        return out

    def output_units(self, spec, inputs):
        m = self.model(spec)
        return {"o": [m.groups * sum(nv for _, nv, _ in self.schedule(m, L)) * m.beats
                      for L in inputs["lens"].tolist()]}

    def from_beats(self, spec, inputs, beats):
        m = self.model(spec)
        y = np.asarray(beats["o"], dtype=np.int64).reshape(-1, m.head_par, m.lanes)
        out = np.zeros(self.out_shape(m, inputs), np.int64)
        pos = 0
        for n, L in enumerate(inputs["lens"].tolist()):
            for g in range(m.groups):
                hs = slice(g * m.head_par, (g + 1) * m.head_par)
                for base, nvalid, _ in self.schedule(m, L):
                    for i in range(nvalid):
                        blk = y[pos: pos + m.beats]            # [B, hp, lanes]
                        vec = np.transpose(blk, (1, 0, 2)).reshape(m.head_par, m.d)
                        if m.causal:
                            out[n, base + i, hs] = vec
                        else:
                            out[n, hs] = vec
                        pos += m.beats
        return {"o": out}

    def graph(self, spec):
        from .attention_graph import build_attention
        return build_attention(self, spec)

    # --- cycle model -------------------------------------------------------------------
    def block_cycles(self, m: AttentionModel, nvalid: int, sweep: int) -> int:
        """RTL cycles of one block with no stalls: setup; q load; K/V sweep (V starts B + lat_k cycles after K, once the
        first key's (p, alpha) is in the FIFO, and then runs at full rate); divider; output issue (the output
        pipeline drains while the next block or call loads)."""
        B = m.beats
        return 1 + nvalid * B + (B + m.lat_k + sweep * B) + m.div_cycles + nvalid * B   # 1: block setup (ST_BLK)

    def call_cycles(self, m: AttentionModel, length: int) -> int:
        """Latency of one call on its own (first input beat -> last output beat), output pipeline drain included.
        Reversed prefill spends one more cycle per call computing the last block's base (ST_CALC)."""
        per_group = sum(self.block_cycles(m, nv, sw) for _, nv, sw in self.schedule(m, length))
        return 1 + (1 if m.causal and m.reversed else 0) + m.groups * (1 + per_group) + m.lat_out

    def call_interval(self, m: AttentionModel, length: int) -> int:
        """Initiation interval of back-to-back calls: the next call's length beat is taken while this call's
        output pipeline drains (what the RTL test bench measures as `ii` for its first, length-L_max call)."""
        return self.call_cycles(m, length) - m.lat_out

    def expected_cycles(self, spec, inputs) -> int:
        """Back-to-back calls: each call's output drain overlaps the next call's length/parameter beats."""
        m = self.model(spec)
        lens = [int(L) for L in inputs["lens"].tolist()]
        return sum(self.call_interval(m, L) for L in lens[:-1]) + self.call_cycles(m, lens[-1])

    def memory_bytes(self, m: AttentionModel, length: int) -> int:
        """Bytes of K and V streamed per call (data_bits rounded up to whole bytes)."""
        eb = -(-m.data_bits // 8)
        keys = sum(sw for _, _, sw in self.schedule(m, length))
        return 2 * keys * m.groups * m.kv_par * m.d * eb        # per head group: kv_par K/V heads per key


def _beats(x: np.ndarray, B: int, lanes: int) -> list[list[int]]:
    """[T, hp, d] -> T*B beats of hp*lanes ints (token major, then beat; element hp*lanes + i)."""
    T, hp, _ = x.shape
    r = x.reshape(T, hp, B, lanes).transpose(0, 2, 1, 3).reshape(T * B, hp * lanes)
    return r.tolist()


class AttentionDecodeKernel(_AttentionKernel):
    kind = "attention_decode"
    spec_model = DecodeSpec
    causal = False
    description = "streaming decode attention: one query per head vs. a K/V cache of length L streamed from memory"

    def _len_max(self, spec) -> int:
        return spec.L_max


class AttentionPrefillKernel(_AttentionKernel):
    kind = "attention_prefill"
    spec_model = PrefillSpec
    causal = True
    description = "causal prefill attention: N_pe query PEs, K/V broadcast, online softmax, optional reversed order"

    def _len_max(self, spec) -> int:
        return spec.M_max
