"""BitLinear output scaling after a TLMM: y_j = acc_j * s * ws_j (docs/bitlinear_scale_numerics.md).

    acc  the TLMM's integer output (signed acc_bits), `lanes` per beat, ceil(N / lanes) beats per token
    s    the token's activation scale from rmsnorm_quant (unsigned s_bits, s_frac fraction bits), one beat of one
         element per token; the kernel takes a token's s together with the token's first acc beat (the t-th s
         beat belongs to the t-th token; s may arrive any time before, it waits in its stream)
    ws   the weight scale mean|W| (unsigned ws_bits, ws_frac fraction bits): one value (per tensor) or N values
         (per output channel, `lanes` per beat in acc's layout), a setup stream loaded once

Bits (two products, each rounded half up once):
    c = round(s * ws / 2^k)                 k = s_bits + ws_bits - c_bits (c_bits unsigned; k = 0: exact)
    y = sat_out_bits(round(acc * c / 2^sh)) sh = s_frac + ws_frac - out_frac - k (sh <= 0: exact left shift)
c is per token (per tensor) or per element (per channel). Error vs the exact real product: <= 1/2 LSB of y
plus |acc| / 2^(sh+1) LSB when k > 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, Optional

import numpy as np
from pydantic import Field

from ..bits import index_bits, pad_to
from ..errors import UserError
from ..spec import KernelSpec
from .base import Performance, Port, TokenKernel
from .elementwise import (INT64_SAFE_BITS, STAGES, beat_ctx, control_luts, from_lane_beats, mul_cost, mul_ctx,
                          out_cost, out_ctx, round_shift, saturate, signed_range, to_beats)

C_BITS_DEFAULT = 34        # two 17-bit unsigned pieces on a DSP's 18-bit port: acc x c in 2 DSPs per lane


class BitLinearScaleSpec(KernelSpec):
    kind: Literal["bitlinear_scale"] = "bitlinear_scale"
    N: int = Field(1536, ge=1, le=65536, description="outputs per token")
    lanes: int = Field(16, ge=1, le=256, description="elements per stream beat")
    M_max: int = Field(128, ge=1, le=65536, description="max tokens per HLS call")
    acc_bits: int = Field(20, ge=2, le=40, description="signed width of the TLMM output acc")
    s_bits: int = Field(32, ge=2, le=32, description="unsigned width of the activation scale s")
    s_frac: int = Field(24, ge=0, le=48, description="fraction bits of s")
    ws_bits: int = Field(16, ge=2, le=32, description="unsigned width of the weight scale ws = mean|W|")
    ws_frac: int = Field(20, ge=0, le=40, description="fraction bits of ws")
    per_channel: bool = Field(False, description="ws per output channel (N values) instead of one per tensor")
    c_bits: Optional[int] = Field(None, ge=1, le=64, description="unsigned width of c = round(s * ws / 2^k); "
                                  "default min(s_bits + ws_bits, 34); s_bits + ws_bits: exact")
    out_bits: int = Field(24, ge=2, le=48, description="signed output width (saturating)")
    out_frac: int = Field(12, ge=0, le=48, description="fraction bits of the output y")


@dataclass(frozen=True)
class BitLinearScaleModel:
    top: str
    N: int
    lanes: int
    beats: int            # beats per token
    N_pad: int
    M_max: int
    acc_bits: int
    s_bits: int
    s_frac: int
    ws_bits: int
    ws_frac: int
    per_channel: bool
    ws_elements: int      # ws values per setup beat (1 per tensor, lanes per channel)
    ws_beats: int         # setup beats (1 or beats)
    sw_bits: int          # s * ws, unsigned (exact)
    c_bits: int
    c_drop: int           # k: bits rounded off s * ws
    prod_bits: int        # acc * c, signed (exact)
    out_shift: int        # sh
    out_bits: int
    out_frac: int
    stages: int

    def as_dict(self) -> dict:
        return asdict(self)


class BitLinearScaleKernel(TokenKernel):
    setup_flag = "load_weights"
    kind = "bitlinear_scale"
    spec_model = BitLinearScaleSpec
    description = "BitLinear output scaling y = acc * s * ws (two rounded products, saturating), lanes per cycle"
    node_types = ("scale_product", "scale_lane", "scale_memory")

    def model(self, spec: BitLinearScaleSpec) -> BitLinearScaleModel:
        sw_bits = spec.s_bits + spec.ws_bits
        c_bits = spec.c_bits if spec.c_bits is not None else min(sw_bits, C_BITS_DEFAULT)
        lo_c = min(spec.s_bits, spec.ws_bits)
        if not lo_c <= c_bits <= sw_bits:
            raise UserError("c_bits", f"{c_bits} outside [{lo_c}, {sw_bits}] (min(s_bits, ws_bits) .. s_bits + ws_bits)")
        if sw_bits > INT64_SAFE_BITS:
            raise UserError("ws_bits", f"s_bits + ws_bits = {sw_bits} exceeds {INT64_SAFE_BITS}")
        k = sw_bits - c_bits
        prod_bits = spec.acc_bits + c_bits + 1
        sh = spec.s_frac + spec.ws_frac - spec.out_frac - k
        if prod_bits + 1 + max(0, -sh) > INT64_SAFE_BITS + 1:
            raise UserError("c_bits", f"acc_bits + c_bits + 1 = {prod_bits} (+ {max(0, -sh)} bits of left shift) "
                                      f"exceeds {INT64_SAFE_BITS} bits; lower c_bits or acc_bits, or raise out_frac")
        beats = -(-spec.N // spec.lanes)
        return BitLinearScaleModel(
            top=spec.design_name, N=spec.N, lanes=spec.lanes, beats=beats, N_pad=pad_to(spec.N, spec.lanes),
            M_max=spec.M_max, acc_bits=spec.acc_bits, s_bits=spec.s_bits, s_frac=spec.s_frac, ws_bits=spec.ws_bits,
            ws_frac=spec.ws_frac, per_channel=spec.per_channel, ws_elements=spec.lanes if spec.per_channel else 1,
            ws_beats=beats if spec.per_channel else 1, sw_bits=sw_bits, c_bits=c_bits, c_drop=k,
            prod_bits=prod_bits, out_shift=sh, out_bits=spec.out_bits, out_frac=spec.out_frac, stages=STAGES)

    def check(self, spec) -> None:
        self.model(spec)

    # --- interface and performance --------------------------------------------------------------
    def ports(self, spec):
        m = self.model(spec)
        return [Port("ws", "in", m.ws_elements, m.ws_bits, False, "s_axis_ws", role="setup",
                     unit_elements=m.N if m.per_channel else 1),
                Port("acc", "in", m.lanes, m.acc_bits, True, "s_axis_acc", input_key="acc", unit_elements=m.N),
                Port("s", "in", 1, m.s_bits, False, "s_axis_s", input_key="s", unit_elements=1),
                Port("y", "out", m.lanes, m.out_bits, True, "m_axis_y", unit_elements=m.N)]

    def performance(self, spec) -> Performance:
        m = self.model(spec)
        return Performance(latency_cycles=m.beats + m.stages, ii=m.beats, unit=self.unit, macs=2 * m.N,
                           macs_per_cycle=2 * m.lanes,
                           bytes={"acc": m.N * m.acc_bits / 8, "s": m.s_bits / 8, "y": m.N * m.out_bits / 8,
                                  "ws": (m.N if m.per_channel else 1) * m.ws_bits / 8})


    # --- data ------------------------------------------------------------------------------------
    def random_inputs(self, spec, rng, vectors):
        """Realistic magnitudes (log-uniform scales, acc of random size) plus the extremes: token 0 at full scale
        both ways (saturates), a zero-acc token and an s = 0 token when there are enough tokens."""
        m = self.model(spec)
        lo, hi = signed_range(m.acc_bits)
        smax, wmax = (1 << m.s_bits) - 1, (1 << m.ws_bits) - 1
        mag = np.exp2(rng.uniform(0, m.acc_bits - 1, size=(vectors, 1)))
        acc = np.clip(np.round(rng.uniform(-1, 1, size=(vectors, m.N)) * mag), lo, hi).astype(np.int64)
        s = np.minimum(np.exp2(rng.uniform(0, m.s_bits, size=vectors)).astype(np.int64), smax)
        n_ws = m.N if m.per_channel else 1
        ws = np.minimum(np.exp2(rng.uniform(0, m.ws_bits, size=n_ws)).astype(np.int64), wmax)
        acc[0, : m.N // 2], acc[0, m.N // 2:] = hi, lo
        s[0] = smax
        ws[0] = wmax
        if vectors >= 3:
            acc[1] = 0
        if vectors >= 4:
            s[2] = 0
        if vectors >= 5:
            acc[3, ::2], acc[3, 1::2] = hi, lo
        return {"acc": acc, "s": s, "ws": ws}

    def input_names(self, spec):
        return ("acc", "s", "ws")

    def input_doc(self, spec):
        n_ws = spec.N if spec.per_channel else 1
        return f"acc [M, {spec.N}] integers, s [M] unsigned, ws [{n_ws}] unsigned"

    def validate_inputs(self, spec, inputs):
        m = self.model(spec)
        acc, s, ws = (np.asarray(inputs[k]) for k in ("acc", "s", "ws"))
        for key, x in (("acc", acc), ("s", s), ("ws", ws)):
            if x.dtype.kind not in "iu":
                raise UserError(key, f"dtype {x.dtype} is not an integer type")
        if acc.ndim != 2 or acc.shape[1] != m.N or acc.shape[0] < 1:
            raise UserError("acc", f"shape {list(acc.shape)} does not match the config; expected [M, {m.N}] with M >= 1")
        s = s.reshape(-1) if s.ndim == 2 and s.shape[1] == 1 else s
        if s.ndim != 1 or s.shape[0] != acc.shape[0]:
            raise UserError("s", f"shape {list(s.shape)}; expected [{acc.shape[0]}] (one scale per token of acc)")
        n_ws = m.N if m.per_channel else 1
        ws = ws.reshape(-1)
        if ws.shape[0] != n_ws:
            raise UserError("ws", f"has {ws.shape[0]} values; expected {n_ws} (per_channel={m.per_channel})")
        lo, hi = signed_range(m.acc_bits)
        for key, x, a, b in (("acc", acc, lo, hi), ("s", s, 0, (1 << m.s_bits) - 1),
                             ("ws", ws, 0, (1 << m.ws_bits) - 1)):
            if x.min() < a or x.max() > b:
                raise UserError(key, f"values outside [{a}, {b}]: min {x.min()}, max {x.max()}")
        return {"acc": acc.astype(np.int64), "s": s.astype(np.int64), "ws": ws.astype(np.int64)}

    def vector_count(self, spec, inputs):
        return int(inputs["acc"].shape[0])

    def scale_c(self, spec, s: np.ndarray, ws: np.ndarray) -> np.ndarray:
        """The first product: c = round(s * ws / 2^k), [M, 1] (per tensor) or [M, N] (per channel)."""
        m = self.model(spec)
        sw = np.asarray(s, np.int64).reshape(-1, 1) * np.asarray(ws, np.int64).reshape(1, -1)
        return round_shift(sw, m.c_drop)

    def golden(self, spec, inputs):
        m = self.model(spec)
        c = self.scale_c(spec, inputs["s"], inputs["ws"])
        y = round_shift(inputs["acc"].astype(np.int64) * c, m.out_shift)
        return {"y": saturate(y, m.out_bits)}

    def stream_beats(self, spec, inputs):
        m = self.model(spec)
        ws = inputs["ws"].reshape(1, -1)
        return {"acc": to_beats(inputs["acc"], m.lanes, m.beats),
                "s": [(1, [int(v)]) for v in inputs["s"]],
                "ws": to_beats(ws, m.ws_elements, m.ws_beats)}

    def output_units(self, spec, inputs):
        return {"y": [self.model(spec).beats] * self.vector_count(spec, inputs)}

    def from_beats(self, spec, inputs, beats):
        m = self.model(spec)
        return {"y": from_lane_beats(beats["y"], self.vector_count(spec, inputs), m.N, m.lanes, m.beats)}

    # --- render ----------------------------------------------------------------------------------
    def _muls(self, m: BitLinearScaleModel) -> tuple[dict, dict]:
        return (mul_ctx("cp", m.s_bits, False, m.ws_bits, False),
                mul_ctx("pp", m.acc_bits, True, m.c_bits, False))

    def render_context(self, spec):
        m = self.model(spec)
        mul_c, mul_y = self._muls(m)
        rnd_c = out_ctx(mul_c["bits"], m.c_drop, m.c_bits + 1)
        return {"top": m.top, "m": m, "description": self.description, **beat_ctx(m.beats),
                "mul_c": mul_c, "mul_y": mul_y, "rnd_c": rnd_c, "out": out_ctx(m.prod_bits, m.out_shift, m.out_bits),
                "acc_beat_bits": m.lanes * m.acc_bits, "y_beat_bits": m.lanes * m.out_bits,
                "ws_beat_bits": m.ws_elements * m.ws_bits, "c_row_bits": (m.lanes if m.per_channel else 1) * m.c_bits,
                "ws_addr_w": index_bits(m.ws_beats), "ws_last": m.ws_beats - 1,
                "ws_ram_style": "distributed" if m.ws_beats <= 64 else "block",
                "c_units": m.lanes if m.per_channel else 1}

    def outputs(self, backend):
        if backend == "hls":
            return [("bitlinear_scale/hls/bitlinear_scale.h.j2", "hls/{top}.h"),
                    ("bitlinear_scale/hls/bitlinear_scale.cpp.j2", "hls/{top}.cpp")]
        return [("bitlinear_scale/rtl/bitlinear_scale.v.j2", "rtl/{top}.v")]

    # --- surrogate -------------------------------------------------------------------------------
    def graph(self, spec):
        from ..surrogate import costs as A
        from ..surrogate.ir import HwGraph

        m = self.model(spec)
        perf = self.performance(spec)
        fam = spec.target_info.yosys_family
        mul_c, mul_y = self._muls(m)
        g = HwGraph(family=fam, cycles=perf.latency_cycles, ii=perf.ii, macs=2 * m.lanes, kinds=(spec.kind,))
        acc = g.node("stream_in", "acc", width=m.lanes * m.acc_bits)
        s = g.node("stream_in", "s", width=m.s_bits)
        ws = g.node("stream_in", "ws", width=m.ws_elements * m.ws_bits)
        y = g.node("stream_out", "y", width=m.lanes * m.out_bits)
        g.ports.update(acc=acc, s=s, ws=ws, y=y)
        ctrl_ff = index_bits(m.beats) + index_bits(m.ws_beats) + 2 + 2 * m.stages
        # the tlast delay line through the stages has no reset: Yosys maps it to one SRL16E (a LUTRAM site)
        ctrl_lut = control_luts(index_bits(m.beats), index_bits(m.ws_beats))
        ctrl = g.node("control", "control", width=ctrl_ff, est={**A.zero(), "ff": ctrl_ff - (m.stages - 1),
                                                                "lut": ctrl_lut, "lutram": 1.0})
        # the weight scales: a register (per tensor) or a memory of beats x (lanes x ws_bits) words
        if m.per_channel:
            # per channel, the one s1 register (s_bits) is counted here, not in each lane's c unit: before, every lane
            # carried its own, 32 FFs per lane above the per-channel records of datasets/layer_kernels
            style = "lutram" if m.ws_beats <= 64 else "bram"
            mem = g.node("scale_memory", "ws_mem", style=style, depth=m.ws_beats, width=m.lanes * m.ws_bits,
                         storage_bits=m.ws_beats * m.lanes * m.ws_bits, ports=1,
                         est=A.add(A.memory(m.ws_beats, m.lanes * m.ws_bits, style, fam), A.registers(m.s_bits)))
        else:
            mem = g.node("scale_memory", "ws_reg", style="reg", depth=1, width=m.ws_bits, storage_bits=m.ws_bits,
                         est=A.registers(m.ws_bits))
        g.edge(ws, mem, m.ws_elements * m.ws_bits, "weight_load")
        g.edge(s, ctrl, m.s_bits, "stream")

        def c_node(name, s_reg):   # s register (once: s1 feeds every c unit), s x ws pieces, the rounded c register
            # the rounding constant joins the pieces' sum in one adder (alumacc; Yosys 0.23 maps s x ws + half with
            # the same LUTs as s x ws): its own adder only when s x ws is one piece
            est = A.add(mul_cost(mul_c, fam), A.registers(m.s_bits * s_reg + m.c_bits),
                        A.adder(m.c_bits + 1) if m.c_drop and mul_c["n"] == 1 else A.zero())
            return g.node("scale_product", name, leaves=mul_c["n"], leaf_bits=m.s_bits, out_bits=m.c_bits,
                          width=m.c_bits, mult_bits=m.s_bits * m.ws_bits, est=est)

        shared = None
        if not m.per_channel:
            shared = c_node("c", 1)
            g.edge(s, shared, m.s_bits, "stream")
            g.edge(mem, shared, m.ws_bits, "data")
        first = len(g.nodes)
        o = out_ctx(m.prod_bits, m.out_shift, m.out_bits)
        est = A.add(mul_cost(mul_y, fam), A.registers(3 * m.acc_bits + m.out_bits), out_cost(o, m.out_bits))
        lane = g.node("scale_lane", "lane0", leaves=mul_y["n"], leaf_bits=m.acc_bits, out_bits=m.out_bits,
                      adder_bits=m.prod_bits, width=m.out_bits, mult_bits=m.acc_bits * m.c_bits, est=est)
        if m.per_channel:
            cn = c_node("c_lane0", 0)
            g.edge(mem, cn, m.ws_bits, "data")
            g.edge(s, cn, m.s_bits, "stream")
            g.edge(cn, lane, m.c_bits, "data")
        else:
            g.edge(shared, lane, m.c_bits, "data")
        g.edge(acc, lane, m.acc_bits, "stream")
        g.edge(lane, y, m.out_bits, "stream")
        g.edge(ctrl, lane, 1, "control")
        g.repeat(first, m.lanes)
        return g
