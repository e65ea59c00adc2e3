"""The FFN's gated activation f = act(g) * u per element (docs/glu_act_numerics.md).

    act = relu2: relu(g)^2 (BitNet b1.58 2B-4T), exact
    act = silu:  g * sigmoid(g) (SwiGLU), sigmoid from a table of 2^E entries over [-R, R), R = 2^sig_range_log2:
                 sig(g) = T[(g + R) >> idx_shift] inside the range, 1 for g >= R, 0 for g < -R (2^V = 1.0);
                 T[i] = round(2^V * sigmoid(midpoint of the inputs of entry i)), generated here and emitted into
                 the HLS (kSig[]) and the Verilog (a ROM)
    bits:        a = relu(g)^2 (a_frac = 2 in_frac) or g * sig (a_frac = in_frac + V), exact
                 f = sat_out_bits(round half up(a * u / 2^(a_frac + in_frac - out_frac)))

    streams: s_axis_g, s_axis_u: `lanes` signed in_bits values per beat, ceil(F / lanes) beats per token (zero
             padded), taken together; m_axis_f: the same shape, out_bits, tlast on a token's last beat
    timing:  one beat per cycle, five register stages (hwgen/kernels/elementwise.py)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import Field

from ..bits import index_bits, pad_to
from ..errors import UserError
from ..spec import KernelSpec
from .base import Performance, Port, TokenKernel
from .elementwise import (INT64_SAFE_BITS, STAGES, beat_ctx, control_luts, from_lane_beats, mul_cost, mul_ctx,
                          out_cost, out_ctx, out_reg_bits, round_shift, saturate, signed_range, to_beats)

ROM_BRAM_MIN_E = 9    # sigmoid tables of 2^E >= 512 entries go to block-RAM ROMs (one per two lanes), smaller
                      # ones are case ROMs in LUTs


class GluActSpec(KernelSpec):
    kind: Literal["glu_act"] = "glu_act"
    act: Literal["relu2", "silu"] = Field("relu2", description="relu2 = relu(g)^2 (BitNet 2B-4T), silu = g*sigmoid(g)")
    F: int = Field(4096, ge=1, le=65536, description="elements per token (the FFN width)")
    lanes: int = Field(16, ge=1, le=256, description="elements per stream beat")
    M_max: int = Field(128, ge=1, le=65536, description="max tokens per HLS call")
    in_bits: int = Field(16, ge=2, le=24, description="signed width of g and u")
    in_frac: int = Field(8, ge=0, le=23, description="fraction bits of g and u")
    out_bits: int = Field(24, ge=2, le=48, description="signed output width (saturating)")
    out_frac: int = Field(8, ge=0, le=48, description="fraction bits of the output f")
    sig_index_bits: int = Field(10, ge=1, le=16, description="silu: sigmoid table entries 2^E")
    sig_range_log2: int = Field(4, ge=0, le=22, description="silu: the table covers g in [-2^r, 2^r)")
    sig_value_bits: int = Field(16, ge=2, le=24, description="silu: sigmoid fraction bits V (1.0 = 2^V)")


@dataclass(frozen=True)
class GluActModel:
    top: str
    act: str
    F: int
    lanes: int
    beats: int
    F_pad: int
    M_max: int
    in_bits: int
    in_frac: int
    out_bits: int
    out_frac: int
    a_bits: int           # act(g), exact (relu2: unsigned; silu: signed)
    a_signed: bool
    a_frac: int
    prod_bits: int        # a * u, signed (exact)
    out_shift: int
    E: int                # silu table (0 for relu2)
    r: int
    V: int
    idx_shift: int
    table_entries: int
    rom_bram: bool
    stages: int

    def as_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=None)
def sigmoid_table(in_frac: int, E: int, r: int, V: int) -> tuple[int, ...]:
    """T[i] = round half up(2^V * sigmoid(x_i)), at most 2^V, x_i the mean of the inputs g that index entry i."""
    sh = in_frac + r + 1 - E
    out = []
    for i in range(1 << E):
        g0 = -(1 << (r + in_frac)) + (i << sh)
        x = (g0 + ((1 << sh) - 1) / 2) / (1 << in_frac)
        sig = 1.0 / (1.0 + math.exp(-x)) if x >= -700 else 0.0
        out.append(min(int(math.floor(sig * (1 << V) + 0.5)), 1 << V))
    return tuple(out)


class GluActKernel(TokenKernel):
    kind = "glu_act"
    spec_model = GluActSpec
    description = "gated FFN activation f = act(g) * u (relu2 exact, silu by a sigmoid table), lanes per cycle"
    node_types = ("act_table", "glu_lane")

    def model(self, spec: GluActSpec) -> GluActModel:
        ib, fr = spec.in_bits, spec.in_frac
        if fr >= ib:
            raise UserError("in_frac", f"{fr} must be below in_bits ({ib})")
        E = r = V = sh_idx = 0
        if spec.act == "relu2":
            a_bits, a_signed, a_frac = 2 * (ib - 1), False, 2 * fr
        else:
            E, r, V = spec.sig_index_bits, spec.sig_range_log2, spec.sig_value_bits
            if r + fr > ib - 1:
                raise UserError("sig_range_log2", f"{r}: the table range 2^{r} exceeds the input range "
                                                  f"(at most {ib - 1 - fr} for in_bits={ib}, in_frac={fr})")
            sh_idx = fr + r + 1 - E
            if sh_idx < 0:
                raise UserError("sig_index_bits", f"{E}: more entries than inputs in the range; at most {fr + r + 1}")
            a_bits, a_signed, a_frac = ib + V + 1, True, fr + V
        prod_bits = a_bits + (not a_signed) + ib
        sh = a_frac + fr - spec.out_frac
        if prod_bits + 1 + max(0, -sh) > INT64_SAFE_BITS + 1:
            raise UserError("in_bits", f"the product act(g) * u needs {prod_bits} bits (+ {max(0, -sh)} of left "
                                       f"shift), over {INT64_SAFE_BITS}; lower in_bits or sig_value_bits")
        beats = -(-spec.F // spec.lanes)
        return GluActModel(top=spec.design_name, act=spec.act, F=spec.F, lanes=spec.lanes, beats=beats,
                           F_pad=pad_to(spec.F, spec.lanes), M_max=spec.M_max, in_bits=ib, in_frac=fr,
                           out_bits=spec.out_bits, out_frac=spec.out_frac, a_bits=a_bits, a_signed=a_signed,
                           a_frac=a_frac, prod_bits=prod_bits, out_shift=sh, E=E, r=r, V=V, idx_shift=sh_idx,
                           table_entries=(1 << E) if E else 0, rom_bram=bool(E) and E >= ROM_BRAM_MIN_E,
                           stages=STAGES)

    def check(self, spec) -> None:
        self.model(spec)

    # --- interface and performance --------------------------------------------------------------
    def ports(self, spec):
        m = self.model(spec)
        return [Port("g", "in", m.lanes, m.in_bits, True, "s_axis_g", input_key="g", unit_elements=m.F),
                Port("u", "in", m.lanes, m.in_bits, True, "s_axis_u", input_key="u", unit_elements=m.F),
                Port("f", "out", m.lanes, m.out_bits, True, "m_axis_f", unit_elements=m.F)]

    def performance(self, spec) -> Performance:
        m = self.model(spec)
        return Performance(latency_cycles=m.beats + m.stages, ii=m.beats, unit=self.unit, macs=2 * m.F,
                           macs_per_cycle=2 * m.lanes,
                           bytes={"g": m.F * m.in_bits / 8, "u": m.F * m.in_bits / 8, "f": m.F * m.out_bits / 8})


    # --- numerics --------------------------------------------------------------------------------
    def table(self, spec) -> tuple[int, ...]:
        m = self.model(spec)
        return sigmoid_table(m.in_frac, m.E, m.r, m.V) if m.act == "silu" else ()

    def act_fixed(self, spec, g: np.ndarray) -> np.ndarray:
        """The first product: act(g) as an integer with a_frac fraction bits (exact, int64)."""
        m = self.model(spec)
        g = np.asarray(g, np.int64)
        if m.act == "relu2":
            gp = np.maximum(g, 0)
            return gp * gp
        t = np.asarray(self.table(spec), np.int64)
        rh = 1 << (m.r + m.in_frac)
        idx = np.clip((g + rh) >> m.idx_shift, 0, m.table_entries - 1)
        sig = np.where(g >= rh, 1 << m.V, np.where(g < -rh, 0, t[idx]))
        return g * sig

    # --- data ------------------------------------------------------------------------------------
    def random_inputs(self, spec, rng, vectors):
        """Half the elements uniform over the full range, half around the activation's interesting region;
        token 0 at the extremes (saturation both ways), a zero token when there are three or more."""
        m = self.model(spec)
        lo, hi = signed_range(m.in_bits)
        shape = (vectors, m.F)
        wide = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
        narrow = np.clip(np.round(rng.normal(0, 3 * (1 << m.in_frac), size=shape)), lo, hi).astype(np.int64)
        pick = rng.random(shape) < 0.5
        g = np.where(pick, wide, narrow)
        u = np.where(rng.random(shape) < 0.5, rng.integers(lo, hi + 1, size=shape, dtype=np.int64),
                     np.clip(np.round(rng.normal(0, 3 * (1 << m.in_frac), size=shape)), lo, hi).astype(np.int64))
        half = m.F // 2
        g[0, :half], u[0, :half] = hi, hi
        g[0, half:], u[0, half:] = lo, np.where(np.arange(m.F - half) % 2 == 0, hi, lo)
        if vectors >= 3:
            g[1], u[1] = 0, 0
        return {"g": g, "u": u}

    def input_names(self, spec):
        return ("g", "u")

    def input_doc(self, spec):
        return f"g [M, {spec.F}] and u [M, {spec.F}] integers"

    def validate_inputs(self, spec, inputs):
        m = self.model(spec)
        lo, hi = signed_range(m.in_bits)
        out = {}
        for key in ("g", "u"):
            x = np.asarray(inputs[key])
            if x.ndim != 2 or x.shape[1] != m.F or x.shape[0] < 1:
                raise UserError(key, f"shape {list(x.shape)} does not match the config; expected [M, {m.F}] with M >= 1")
            if x.dtype.kind not in "iu":
                raise UserError(key, f"dtype {x.dtype} is not an integer type")
            if x.min() < lo or x.max() > hi:
                raise UserError(key, f"values outside [{lo}, {hi}] (in_bits={m.in_bits}): min {x.min()}, max {x.max()}")
            out[key] = x.astype(np.int64)
        if out["g"].shape[0] != out["u"].shape[0]:
            raise UserError("u", f"has {out['u'].shape[0]} tokens but g has {out['g'].shape[0]}")
        return out

    def vector_count(self, spec, inputs):
        return int(inputs["g"].shape[0])

    def golden(self, spec, inputs):
        m = self.model(spec)
        a = self.act_fixed(spec, inputs["g"])
        return {"f": saturate(round_shift(a * inputs["u"].astype(np.int64), m.out_shift), m.out_bits)}

    def stream_beats(self, spec, inputs):
        m = self.model(spec)
        return {key: to_beats(inputs[key], m.lanes, m.beats) for key in ("g", "u")}

    def output_units(self, spec, inputs):
        return {"f": [self.model(spec).beats] * self.vector_count(spec, inputs)}

    def from_beats(self, spec, inputs, beats):
        m = self.model(spec)
        return {"f": from_lane_beats(beats["f"], self.vector_count(spec, inputs), m.F, m.lanes, m.beats)}

    # --- render ----------------------------------------------------------------------------------
    def _muls(self, m: GluActModel) -> tuple[dict, dict]:
        if m.act == "relu2":
            mul_a = mul_ctx("ap", m.in_bits - 1, False, m.in_bits - 1, False)
        else:
            mul_a = mul_ctx("ap", m.in_bits, True, m.V + 1, False)
        return mul_a, mul_ctx("fp", m.a_bits, m.a_signed, m.in_bits, True)

    def render_context(self, spec):
        m = self.model(spec)
        mul_a, mul_f = self._muls(m)
        roms = -(-m.lanes // 2)
        rh = 1 << (m.r + m.in_frac)
        return {"top": m.top, "m": m, "description": self.description, **beat_ctx(m.beats),
                "mul_a": mul_a, "mul_f": mul_f, "out": out_ctx(m.prod_bits, m.out_shift, m.out_bits),
                "in_beat_bits": m.lanes * m.in_bits, "f_beat_bits": m.lanes * m.out_bits,
                "relu_bits": m.in_bits - 1, "relu_msb": m.in_bits - 2, "sign_bit": m.in_bits - 1,
                "sig_bits": m.V + 1, "one": 1 << m.V, "gx_bits": m.in_bits + 1, "range_hi": rh,
                "table": self.table(spec), "roms": roms, "idx_w": roms * 2 * max(m.E, 1),
                "sig_w": roms * 2 * (m.V + 1)}

    def outputs(self, backend):
        if backend == "hls":
            return [("glu_act/hls/glu_act.h.j2", "hls/{top}.h"), ("glu_act/hls/glu_act.cpp.j2", "hls/{top}.cpp")]
        return [("glu_act/rtl/glu_act.v.j2", "rtl/{top}.v")]

    # --- surrogate -------------------------------------------------------------------------------
    def graph(self, spec):
        from ..surrogate import costs as A
        from ..surrogate.ir import HwGraph

        m = self.model(spec)
        perf = self.performance(spec)
        fam = spec.target_info.yosys_family
        mul_a, mul_f = self._muls(m)
        g = HwGraph(family=fam, cycles=perf.latency_cycles, ii=perf.ii, macs=2 * m.lanes, kinds=(spec.kind,))
        gi = g.node("stream_in", "g", width=m.lanes * m.in_bits)
        ui = g.node("stream_in", "u", width=m.lanes * m.in_bits)
        fo = g.node("stream_out", "f", width=m.lanes * m.out_bits)
        g.ports.update(g=gi, u=ui, f=fo)
        ctrl_ff = index_bits(m.beats) + 2 * m.stages
        # the tlast delay line through the stages has no reset: Yosys maps it to one SRL16E (a LUTRAM site)
        ctrl_lut = control_luts(index_bits(m.beats))
        ctrl = g.node("control", "control", width=ctrl_ff, est={**A.zero(), "ff": ctrl_ff - (m.stages - 1),
                                                                "lut": ctrl_lut, "lutram": 1.0})
        sig_bits = m.V + 1
        rom = None
        if m.act == "silu":
            roms = -(-m.lanes // 2)
            if m.rom_bram:    # one true-dual-port block RAM per two lanes (it absorbs the read registers)
                est = {**A.zero(), "bram36": A.bram36(m.table_entries, sig_bits, true_dual=True) * roms}
            else:             # a case ROM per lane and its read register
                est = A.add(A.memory(m.table_entries, sig_bits, "rom", fam, replicas=m.lanes),
                            A.registers(sig_bits * m.lanes))
            rom = g.node("act_table", "sig_rom", style="bram" if m.rom_bram else "rom", count=roms,
                         depth=m.table_entries, width=sig_bits, storage_bits=m.table_entries * sig_bits,
                         ports=2, est=est)
            g.edge(gi, rom, m.E, "address")
        first = len(g.nodes)
        # one lane: input registers, act product (pieces + sum), a register, a x u pieces, round, saturate, output
        o = out_ctx(m.prod_bits, m.out_shift, m.out_bits)
        pipe_ff = 2 * m.in_bits + 2 * m.in_bits + m.a_bits + out_reg_bits(o, m.out_bits)   # g1, u1..u3, a3, f5
        # relu: a zero mux; silu: the index adder, the two range compares and the 1.0 / 0 / table mux
        lut = m.in_bits - 1 if m.act == "relu2" else m.E + 2 * (m.in_bits + 1) / 3 + sig_bits
        est = A.add(mul_cost(mul_a, fam), mul_cost(mul_f, fam), A.registers(pipe_ff), out_cost(o, m.out_bits),
                    {**A.zero(), "lut": lut})
        lane = g.node("glu_lane", "lane0", leaves=mul_a["n"] + mul_f["n"], leaf_bits=m.in_bits, out_bits=m.out_bits,
                      adder_bits=m.prod_bits, width=m.out_bits,
                      mult_bits=mul_a["aw"] * mul_a["bw"] + m.a_bits * m.in_bits, est=est)
        g.edge(gi, lane, m.in_bits, "stream")
        g.edge(ui, lane, m.in_bits, "stream")
        if rom is not None:
            g.edge(rom, lane, sig_bits, "data")
        g.edge(lane, fo, m.out_bits, "stream")
        g.edge(ctrl, lane, 1, "control")
        g.repeat(first, m.lanes)
        return g
