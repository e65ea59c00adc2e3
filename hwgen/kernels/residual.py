"""Residual add: y = a + b element-wise for every token, saturated to out_bits (exact when out_bits is at least
one bit wider than the wider input, the default). The BitNet decoder layer adds every sub-block's output to its
input stream this way.

    streams: s_axis_a, s_axis_b: `lanes` signed values per beat, ceil(D / lanes) beats per token (zero padded);
             m_axis_y: the same shape, tlast on a token's last beat
    timing:  one beat per cycle when both inputs are valid; one register stage (the output register)

The whole kernel is this module, templates/residual/ and one line in hwgen/kernels/__init__.py.
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


class ResidualSpec(KernelSpec):
    kind: Literal["residual_add"] = "residual_add"
    D: int = Field(1536, ge=1, le=65536, description="elements per token (the hidden size)")
    lanes: int = Field(16, ge=1, le=256, description="elements per stream beat")
    a_bits: int = Field(16, ge=2, le=32, description="signed width of input a (the residual stream)")
    b_bits: int = Field(16, ge=2, le=32, description="signed width of input b (the sub-block output)")
    out_bits: Optional[int] = Field(None, ge=2, le=32, description="signed output width; narrower than "
                                                                   "max(a_bits, b_bits) + 1 saturates (default: exact)")
    M_max: int = Field(128, ge=1, le=65536, description="max tokens per HLS call")


@dataclass(frozen=True)
class ResidualModel:
    top: str
    D: int
    lanes: int
    beats: int            # beats per token
    D_pad: int
    a_bits: int
    b_bits: int
    sum_bits: int         # exact sum width
    out_bits: int
    saturate: bool
    M_max: int

    def as_dict(self) -> dict:
        return asdict(self)


class ResidualAddKernel(TokenKernel):
    kind = "residual_add"
    spec_model = ResidualSpec
    description = "residual add y = a + b per element (saturating to out_bits), lanes elements per cycle"
    node_types = ("adder_lane",)

    def model(self, spec: ResidualSpec) -> ResidualModel:
        sum_bits = max(spec.a_bits, spec.b_bits) + 1
        out_bits = spec.out_bits or sum_bits
        return ResidualModel(top=spec.design_name, D=spec.D, lanes=spec.lanes, beats=-(-spec.D // spec.lanes),
                             D_pad=pad_to(spec.D, spec.lanes), a_bits=spec.a_bits, b_bits=spec.b_bits,
                             sum_bits=sum_bits, out_bits=out_bits, saturate=out_bits < sum_bits, M_max=spec.M_max)

    # --- interface and performance --------------------------------------------------------------
    def ports(self, spec):
        m = self.model(spec)
        return [Port("a", "in", m.lanes, m.a_bits, True, "s_axis_a", input_key="a", unit_elements=m.D),
                Port("b", "in", m.lanes, m.b_bits, True, "s_axis_b", input_key="b", unit_elements=m.D),
                Port("y", "out", m.lanes, m.out_bits, True, "m_axis_y", unit_elements=m.D)]

    def performance(self, spec) -> Performance:
        m = self.model(spec)
        # beats accepted back to back, each leaving through the output register one cycle later
        return Performance(latency_cycles=m.beats + 1, ii=m.beats, unit=self.unit, macs=0, macs_per_cycle=0,
                           bytes={"a": m.D * m.a_bits / 8, "b": m.D * m.b_bits / 8, "y": m.D * m.out_bits / 8})


    # --- data ------------------------------------------------------------------------------------
    def _range(self, bits: int) -> tuple[int, int]:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def random_inputs(self, spec, rng, vectors):
        m = self.model(spec)
        out = {}
        for key, bits in (("a", m.a_bits), ("b", m.b_bits)):
            lo, hi = self._range(bits)
            x = rng.integers(lo, hi + 1, size=(vectors, m.D), dtype=np.int64)
            x[0, : m.D // 2] = hi          # both extremes, so a saturating design saturates both ways
            x[-1, m.D // 2:] = lo
            out[key] = x
        return out

    def input_names(self, spec):
        return ("a", "b")

    def input_doc(self, spec):
        return f"a [M, {spec.D}] and b [M, {spec.D}] integers"

    def validate_inputs(self, spec, inputs):
        m = self.model(spec)
        out = {}
        for key, bits in (("a", m.a_bits), ("b", m.b_bits)):
            x = np.asarray(inputs[key])
            if x.ndim != 2 or x.shape[1] != m.D or x.shape[0] < 1:
                raise UserError(key, f"shape {list(x.shape)} does not match the config; expected [M, {m.D}] with M >= 1")
            if x.dtype.kind not in "iu":
                raise UserError(key, f"dtype {x.dtype} is not an integer type")
            lo, hi = self._range(bits)
            if x.min() < lo or x.max() > hi:
                raise UserError(key, f"values outside [{lo}, {hi}] ({key}_bits={bits}): min {x.min()}, max {x.max()}")
            out[key] = x.astype(np.int64)
        if out["a"].shape[0] != out["b"].shape[0]:
            raise UserError("b", f"has {out['b'].shape[0]} tokens but a has {out['a'].shape[0]}")
        return out

    def vector_count(self, spec, inputs):
        return int(inputs["a"].shape[0])

    def golden(self, spec, inputs):
        lo, hi = self._range(self.model(spec).out_bits)
        return {"y": np.clip(inputs["a"].astype(np.int64) + inputs["b"].astype(np.int64), lo, hi)}

    def stream_beats(self, spec, inputs):
        m = self.model(spec)
        out = {}
        for key in ("a", "b"):
            x = np.zeros((inputs[key].shape[0], m.D_pad), np.int64)
            x[:, : m.D] = inputs[key]
            rows = x.reshape(-1, m.lanes).tolist()
            out[key] = [(int(i % m.beats == m.beats - 1), r) for i, r in enumerate(rows)]
        return out

    def output_units(self, spec, inputs):
        return {"y": [self.model(spec).beats] * self.vector_count(spec, inputs)}

    def from_beats(self, spec, inputs, beats):
        m = self.model(spec)
        y = np.asarray(beats["y"], np.int64).reshape(self.vector_count(spec, inputs), m.D_pad)
        return {"y": y[:, : m.D]}

    # --- render ----------------------------------------------------------------------------------
    def render_context(self, spec):
        m = self.model(spec)
        lo, hi = self._range(m.out_bits)
        return {"top": m.top, "m": m, "description": self.description, "last_beat": m.beats - 1,
                "beat_w": index_bits(m.beats), "a_msb": m.lanes * m.a_bits - 1, "b_msb": m.lanes * m.b_bits - 1,
                "y_msb": m.lanes * m.out_bits - 1, "a_beat_bits": m.lanes * m.a_bits,
                "b_beat_bits": m.lanes * m.b_bits, "y_beat_bits": m.lanes * m.out_bits, "out_min": lo, "out_max": hi}

    def outputs(self, backend):
        if backend == "hls":
            return [("residual/hls/residual.h.j2", "hls/{top}.h"), ("residual/hls/residual.cpp.j2", "hls/{top}.cpp")]
        return [("residual/rtl/residual.v.j2", "rtl/{top}.v")]

    # --- surrogate -------------------------------------------------------------------------------
    def graph(self, spec):
        from ..surrogate import costs as A
        from ..surrogate.ir import HwGraph

        m = self.model(spec)
        perf = self.performance(spec)
        fam = spec.target_info.yosys_family
        g = HwGraph(family=fam, cycles=perf.latency_cycles, ii=perf.ii, macs=m.lanes, kinds=(spec.kind,))
        a = g.node("stream_in", "a", width=m.lanes * m.a_bits)
        b = g.node("stream_in", "b", width=m.lanes * m.b_bits)
        y = g.node("stream_out", "y", width=m.lanes * m.out_bits)
        g.ports.update(a=a, b=b, y=y)
        ctrl_ff = index_bits(m.beats) + 1
        ctrl = g.node("control", "control", width=ctrl_ff, est={**A.zero(), "ff": ctrl_ff, "lut": 2.0 * ctrl_ff})
        first = len(g.nodes)
        # one lane: a sum_bits adder, the saturation compare and select when narrower, the output register (a
        # wider output only sign-extends the sum: its upper bits share one FF). Saturation per lane, Yosys 0.23 on
        # 20 residual records (1-32 lanes, 9-25 sum bits): ~2.4 LUT per output bit (the three-way select of
        # value / max / min and its carry-chain compare) + 0.8 per overflow bit compared
        sat_lut = 2.4 * m.out_bits + 0.8 * (m.sum_bits - m.out_bits) if m.saturate else 0.0
        lane = g.node("adder_lane", "lane0", leaves=2, leaf_bits=max(m.a_bits, m.b_bits), out_bits=m.out_bits,
                      adder_bits=m.sum_bits, width=m.out_bits,
                      est=A.add(A.adder(m.sum_bits), {**A.zero(), "lut": sat_lut},
                                A.registers(min(m.out_bits, m.sum_bits))))
        g.edge(a, lane, m.a_bits, "stream")
        g.edge(b, lane, m.b_bits, "stream")
        g.edge(lane, y, m.out_bits, "stream")
        g.edge(ctrl, lane, 1, "control")
        g.repeat(first, m.lanes)
        return g
