"""Rotary position embedding (RoPE) of the q and k head vectors of one token, transformers' `rotate_half`
convention (Llama / BitNet): for each of `heads` head vectors x of length d and i < d/2, with the angle
a = pos * theta^(-2i/d),
    y[i]       = x[i] cos a - x[i + d/2] sin a
    y[i + d/2] = x[i + d/2] cos a + x[i] sin a
Numerics (bit definition = `golden`; docs/rope_numerics.md): cos/sin tables generated here in float64 and rounded
(half up) to c_bits signed with c_frac = c_bits - 2 fraction bits; y = sat(round_half_up((x_own * c + x_partner *
(+-s)) >> sh)), sh = in_frac + c_frac - out_frac, saturated to out_bits.

    streams: s_axis_x: `lanes` signed in_bits values per beat, heads * d / lanes beats per token (head 0 first,
             its first half then its second half); s_axis_pos: one unsigned index_bits(L_max) value per token,
             taken with the token's first x beat; m_axis_y: the x layout with out_bits values, tlast on a
             token's last beat
    micro-architecture: a head's first-half beat j pairs with its second-half beat j, H2 = d / (2 lanes) beats
             later. The x beats go into two LUTRAM buffers (first halves A, second halves B) of two head slots
             each; a reader issues output beats one per cycle once the partner beat is in, reads A[j], B[j] and
             the ROM row (pos * H2 + j: lanes cos and lanes sin values), and computes every element with two
             DSP products (own * cos, partner * -+sin) and one rounding / saturating add. Pipeline: memory
             read register, product register, output register.
    timing:  latency = beats + H2 + 4 (the last head's second half leaves H2 beats after its input plus the
             3-stage pipeline and the issue cycle), ii = beats per token.
    table: split: pos = p_hi * 2^k + p_lo, cos/sin from two small tables by angle addition, C = (cH cL - sH sL
             + 2^(c_frac-1)) >> c_frac, S = (sH cL + cH sL + 2^(c_frac-1)) >> c_frac (4 more DSPs per lane, 3 more
             stages: ROM data register, table products, C/S; latency beats + H2 + 7).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal, Optional

import numpy as np
from pydantic import Field

from ..bits import index_bits, signed_bits_for_bound
from ..errors import UserError
from ..spec import KernelSpec
from .base import Performance, Port, TokenKernel

TABLE_ENTRIES_MAX = 1 << 22          # L_max * d / 2 per table (cos and sin): a 4M-entry ROM is already ~1,800 BRAM36
ROM_BRAM_MIN_BITS = 16384            # rom_style auto: block RAM from a RAMB18's worth of table bits, else LUTs


class RopeSpec(KernelSpec):
    kind: Literal["rope"] = "rope"
    heads: int = Field(16, ge=1, le=1024, description="head vectors per token (q heads + kv heads on one stream)")
    d: int = Field(96, ge=2, le=1024, description="head dimension (even)")
    lanes: int = Field(16, ge=1, le=256, description="elements per stream beat; must divide d / 2")
    M_max: int = Field(128, ge=1, le=65536, description="max tokens per HLS call")
    L_max: int = Field(2048, ge=1, le=1 << 20, description="max position + 1 (rows of the cos/sin tables)")
    theta: float = Field(10000.0, gt=1.0, le=1e12, description="RoPE base (BitNet b1.58 2B-4T: 500000)")
    in_bits: int = Field(16, ge=2, le=32, description="signed width of x")
    in_frac: int = Field(8, ge=0, le=40, description="fraction bits of x")
    out_bits: Optional[int] = Field(None, ge=2, le=40, description="signed width of y, saturating "
                                                                    "(default in_bits + 1: never saturates)")
    out_frac: Optional[int] = Field(None, ge=0, le=64, description="fraction bits of y (default in_frac)")
    c_bits: int = Field(16, ge=4, le=26, description="signed width of the cos/sin table entries "
                                                     "(c_bits - 2 fraction bits: 1.0 = 2^(c_bits-2))")
    rom_style: Literal["auto", "bram", "lut"] = Field(
        "auto", description="cos/sin ROM(s): block RAM, a LUT case table, or auto (block RAM from 16 Kbit)")
    table: Literal["direct", "split"] = Field(
        "direct", description="direct: one L_max x d/2 cos/sin table; split: angle addition pos = p_hi * 2^k + p_lo "
                              "from two ~sqrt(L_max)-row tables (4 more products per element)")
    split_k: Optional[int] = Field(None, ge=1, le=20, description="split: low position bits k (default: the k "
                                                                  "with the fewest table rows)")


@dataclass(frozen=True)
class RopeModel:
    top: str
    heads: int
    d: int
    half: int             # d / 2
    lanes: int
    h2: int               # beats per half head
    head_beats: int       # 2 * h2
    beats: int            # beats per token
    M_max: int
    L_max: int
    theta: float
    pos_bits: int
    in_bits: int
    in_frac: int
    out_bits: int
    out_frac: int
    c_bits: int
    c_frac: int
    sh: int               # right shift of the sum: in_frac + c_frac - out_frac
    prod_bits: int        # signed width of one product x * c
    sum_bits: int         # signed width of p1 + p2 + rounding constant (at least out_bits)
    saturate: bool        # the output range can be exceeded (else the clamp is left out)
    rom_rows: int         # direct: L_max * h2 (row pos * h2 + j holds lanes cos and lanes sin values);
    rom_addr_bits: int    #   split: the rows of both tables
    rom_width: int        # 2 * lanes * c_bits
    rom_bram: bool
    split: bool           # table = split: angle addition from a p_hi and a p_lo table
    k: int                # split: pos = p_hi * 2^k + p_lo (0 when direct)
    hi_n: int             # split: p_hi values, ceil(L_max / 2^k)
    lo_n: int             # split: p_lo values, 2^k
    hi_rows: int          # split: hi_n * h2, row p_hi * h2 + j
    lo_rows: int          # split: lo_n * h2, row p_lo * h2 + j
    hi_addr_bits: int
    lo_addr_bits: int
    hi_bram: bool
    lo_bram: bool
    tab_prod_bits: int    # split: signed width of one table product (c x c)
    tab_sum_bits: int     # split: signed width of c*c +- c*c + rounding constant
    c_max: int            # largest |cos|, |sin| the rotation multiplies by (2^c_frac when direct; split: measured)
    pipe: int             # register stages from issue to the output register (direct 3, split 6)
    j_bits: int           # index_bits(h2): buffer address within a half (slot | j)
    buf_depth: int        # 2 slots * 2^j_bits
    x_beat_bits: int
    y_beat_bits: int

    def as_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=16)
def _tables(L_max: int, d: int, theta: float, c_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """cos/sin[pos, i] for i < d/2 as signed c_bits integers with c_bits - 2 fraction bits: float64 angles
    pos * theta^(-2i/d), rounded half up (floor(v * 2^c_frac + 0.5)). Read-only arrays."""
    c_frac = c_bits - 2
    inv_freq = 1.0 / (float(theta) ** (np.arange(0, d, 2, dtype=np.float64) / d))
    ang = np.arange(L_max, dtype=np.float64)[:, None] * inv_freq[None, :]
    scale = float(1 << c_frac)
    cos = np.floor(np.cos(ang) * scale + 0.5).astype(np.int64)
    sin = np.floor(np.sin(ang) * scale + 0.5).astype(np.int64)
    cos.setflags(write=False)
    sin.setflags(write=False)
    return cos, sin


def _round_table(ang: np.ndarray, c_bits: int) -> tuple[np.ndarray, np.ndarray]:
    scale = float(1 << (c_bits - 2))
    return (np.floor(np.cos(ang) * scale + 0.5).astype(np.int64), np.floor(np.sin(ang) * scale + 0.5).astype(np.int64))


@lru_cache(maxsize=16)
def _split_tables(L_max: int, d: int, theta: float, c_bits: int, k: int) -> tuple[np.ndarray, ...]:
    """Angle-addition tables: cos/sin of (p_hi * 2^k) * inv_freq[i] for p_hi < ceil(L_max / 2^k) and of
    p_lo * inv_freq[i] for p_lo < 2^k, float64 angles rounded half up to c_bits (c_bits - 2 fraction bits), and the
    effective [L_max, d/2] tables the hardware computes from them:
        C = (cH * cL - sH * sL + 2^(c_frac-1)) >> c_frac,   S = (sH * cL + cH * sL + 2^(c_frac-1)) >> c_frac
    (exact integer products, arithmetic shift = round half up). Returns (cH, sH, cL, sL, C, S), read-only."""
    c_frac = c_bits - 2
    inv_freq = 1.0 / (float(theta) ** (np.arange(0, d, 2, dtype=np.float64) / d))
    hi_n, lo_n = -(-L_max // (1 << k)), 1 << k
    cH, sH = _round_table((np.arange(hi_n, dtype=np.float64) * float(1 << k))[:, None] * inv_freq[None, :], c_bits)
    cL, sL = _round_table(np.arange(lo_n, dtype=np.float64)[:, None] * inv_freq[None, :], c_bits)
    p = np.arange(L_max)
    ph, pl = p >> k, p & (lo_n - 1)
    rnd = 1 << (c_frac - 1)
    C = (cH[ph] * cL[pl] - sH[ph] * sL[pl] + rnd) >> c_frac
    S = (sH[ph] * cL[pl] + cH[ph] * sL[pl] + rnd) >> c_frac
    out = (cH, sH, cL, sL, C, S)
    for a in out:
        a.setflags(write=False)
    return out


def split_k(L_max: int, k: Optional[int] = None) -> int:
    """The split's low position bits: given, or the k in 1 .. index_bits(L_max) - 1 with the fewest table rows
    ceil(L_max / 2^k) + 2^k (the smallest such k on a tie)."""
    if k is not None:
        return k
    kmax = max(index_bits(L_max) - 1, 1)
    return min(range(1, kmax + 1), key=lambda j: (-(-L_max // (1 << j)) + (1 << j), j))


def rope_split_tables(spec: RopeSpec) -> tuple[np.ndarray, ...]:
    """table = split: (cos_hi, sin_hi [ceil(L_max/2^k), d/2], cos_lo, sin_lo [2^k, d/2]) int64 (the two ROMs)."""
    return _split_tables(spec.L_max, spec.d, float(spec.theta), spec.c_bits, split_k(spec.L_max, spec.split_k))[:4]


def rope_tables(spec: RopeSpec) -> tuple[np.ndarray, np.ndarray]:
    """The cos and sin values the rotation multiplies by, [L_max, d/2] int64: the ROM's contents (direct), or the
    values the angle addition computes from the two small ROMs (split)."""
    if spec.table == "split":
        return _split_tables(spec.L_max, spec.d, float(spec.theta), spec.c_bits,
                             split_k(spec.L_max, spec.split_k))[4:]
    return _tables(spec.L_max, spec.d, float(spec.theta), spec.c_bits)


class RopeKernel(TokenKernel):
    kind = "rope"
    spec_model = RopeSpec
    description = "rotary position embedding (rotate_half) of heads x d per token, lanes elements per cycle"
    node_types = ("rope_table", "rope_lane")

    def check(self, spec: RopeSpec) -> None:
        if spec.d % 2:
            raise UserError("d", f"must be even (got {spec.d})")
        if (spec.d // 2) % spec.lanes:
            divs = [k for k in range(1, spec.d // 2 + 1) if (spec.d // 2) % k == 0]
            raise UserError("lanes", f"must divide d / 2 = {spec.d // 2} (got {spec.lanes}); allowed: {divs}")
        if spec.L_max * spec.d // 2 > TABLE_ENTRIES_MAX:
            raise UserError("L_max", f"L_max * d / 2 = {spec.L_max * spec.d // 2} table entries; allowed up to "
                                     f"{TABLE_ENTRIES_MAX} (L_max <= {TABLE_ENTRIES_MAX * 2 // spec.d})")
        if spec.in_frac > spec.in_bits + 8:
            raise UserError("in_frac", f"allowed 0..{spec.in_bits + 8} (in_bits + 8), got {spec.in_frac}")
        out_frac = spec.in_frac if spec.out_frac is None else spec.out_frac
        if out_frac > spec.in_frac + spec.c_bits - 2:
            raise UserError("out_frac", f"allowed 0..{spec.in_frac + spec.c_bits - 2} (in_frac + c_bits - 2: "
                                        f"no left shift), got {out_frac}")
        if spec.table == "split":
            if spec.L_max < 3:
                raise UserError("L_max", f"table: split needs L_max >= 3 (got {spec.L_max}); use table: direct")
            kmax = index_bits(spec.L_max) - 1
            if spec.split_k is not None and spec.split_k > kmax:
                raise UserError("split_k", f"allowed 1..{kmax} (index_bits(L_max) - 1), got {spec.split_k}")
        elif spec.split_k is not None:
            raise UserError("split_k", "only with table: split")
        sh = spec.in_frac + spec.c_bits - 2 - out_frac
        if sh > 2 * 32:
            raise UserError("out_frac", f"shift {sh} too large; allowed out_frac >= {spec.in_frac + spec.c_bits - 66}")

    def model(self, spec: RopeSpec) -> RopeModel:
        half = spec.d // 2
        h2 = half // spec.lanes
        c_frac = spec.c_bits - 2
        out_bits = spec.out_bits or spec.in_bits + 1
        out_frac = spec.in_frac if spec.out_frac is None else spec.out_frac
        sh = spec.in_frac + c_frac - out_frac
        xmax = 1 << (spec.in_bits - 1)
        one = 1 << c_frac                          # |cos|, |sin| <= 1.0 after rounding
        rnd = (1 << (sh - 1)) if sh else 0
        cos, sin = rope_tables(spec)
        # split: the angle addition's rounding can leave |C|, |S| a few LSBs above 1.0 (measured over every pos)
        c_max = max(one, int(np.max(np.abs(cos))), int(np.max(np.abs(sin)))) if cos.size else one
        if c_max > (1 << (spec.c_bits - 1)) - 1:       # cannot happen (|C| <= 1 + ~4 LSB); the C/S registers hold it
            raise UserError("c_bits", f"cos/sin peak {c_max} does not fit {spec.c_bits} bits")
        prod_bits = signed_bits_for_bound(xmax * c_max)
        # at least out_bits wide: the clamp limits and the sign extension into a wider output live in it
        sum_bits = max(signed_bits_for_bound(2 * xmax * c_max + rnd), out_bits)
        peak = int(np.max(np.abs(cos) + np.abs(sin))) if cos.size else 0
        bound = (xmax * peak + rnd) >> sh          # largest |y| before the clamp
        saturate = bound > (1 << (out_bits - 1)) - 1
        width = 2 * spec.lanes * spec.c_bits

        def in_bram(rows):
            return spec.rom_style == "bram" or (spec.rom_style == "auto" and rows * width >= ROM_BRAM_MIN_BITS)

        split = spec.table == "split"
        k = split_k(spec.L_max, spec.split_k) if split else 0
        hi_n, lo_n = (-(-spec.L_max // (1 << k)), 1 << k) if split else (0, 0)
        hi_rows, lo_rows = hi_n * h2, lo_n * h2
        rows = hi_rows + lo_rows if split else spec.L_max * h2
        tab_prod_bits = signed_bits_for_bound(one * one) if split else 0
        tab_sum_bits = signed_bits_for_bound(2 * one * one + (one >> 1)) if split else 0
        j_bits = index_bits(h2)
        return RopeModel(top=spec.design_name, heads=spec.heads, d=spec.d, half=half, lanes=spec.lanes, h2=h2,
                         head_beats=2 * h2, beats=spec.heads * 2 * h2, M_max=spec.M_max, L_max=spec.L_max,
                         theta=float(spec.theta), pos_bits=index_bits(spec.L_max), in_bits=spec.in_bits,
                         in_frac=spec.in_frac, out_bits=out_bits, out_frac=out_frac, c_bits=spec.c_bits,
                         c_frac=c_frac, sh=sh, prod_bits=prod_bits, sum_bits=sum_bits, saturate=saturate,
                         rom_rows=rows, rom_addr_bits=index_bits(rows), rom_width=width,
                         rom_bram=in_bram(hi_rows) or in_bram(lo_rows) if split else in_bram(rows),
                         split=split, k=k, hi_n=hi_n, lo_n=lo_n, hi_rows=hi_rows, lo_rows=lo_rows,
                         hi_addr_bits=index_bits(hi_rows) if split else 0,
                         lo_addr_bits=index_bits(lo_rows) if split else 0,
                         hi_bram=split and in_bram(hi_rows), lo_bram=split and in_bram(lo_rows),
                         tab_prod_bits=tab_prod_bits, tab_sum_bits=tab_sum_bits, c_max=c_max, pipe=6 if split else 3,
                         j_bits=j_bits, buf_depth=2 << j_bits, x_beat_bits=spec.lanes * spec.in_bits,
                         y_beat_bits=spec.lanes * out_bits)

    # --- interface and performance --------------------------------------------------------------
    def ports(self, spec):
        m = self.model(spec)
        n = m.heads * m.d
        return [Port("x", "in", m.lanes, m.in_bits, True, "s_axis_x", input_key="x", unit_elements=n),
                Port("pos", "in", 1, m.pos_bits, False, "s_axis_pos", input_key="pos", unit_elements=1),
                Port("y", "out", m.lanes, m.out_bits, True, "m_axis_y", unit_elements=n)]

    def performance(self, spec) -> Performance:
        m = self.model(spec)
        n = m.heads * m.d
        # the last head's last output beat is issued h2 cycles after its last input beat (the writer never
        # waits at zero stalls), then the pipe registers (direct: memory read, product, output = 3; split: memory
        # read, ROM data, table products, C/S, rotation products, output = 6), counted inclusively
        return Performance(latency_cycles=m.beats + m.h2 + 1 + m.pipe, ii=m.beats, unit=self.unit, macs=2 * n,
                           macs_per_cycle=2 * m.lanes,
                           bytes={"x": n * m.in_bits / 8, "pos": m.pos_bits / 8, "y": n * m.out_bits / 8})


    # --- data ------------------------------------------------------------------------------------
    @staticmethod
    def _range(bits: int) -> tuple[int, int]:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def random_inputs(self, spec, rng, vectors):
        m = self.model(spec)
        lo, hi = self._range(m.in_bits)
        n = m.heads * m.d
        x = rng.integers(lo, hi + 1, size=(vectors, n), dtype=np.int64)
        pos = rng.integers(0, m.L_max, size=vectors, dtype=np.int64)
        # extremes: the most negative value everywhere at the last position (largest |y|, saturation when
        # narrow), the largest positive / most negative halves, a zero vector, positions 0 and L_max - 1
        x[0] = lo
        pos[0] = m.L_max - 1
        if vectors > 1:
            xv = x[1].reshape(m.heads, 2, m.half)
            xv[:, 0], xv[:, 1] = hi, lo
        if vectors > 2:
            x[2] = 0
            pos[2] = 0
        if vectors > 3:
            x[3] = rng.choice([lo, hi], size=n)
        return {"x": x, "pos": pos}

    def input_names(self, spec):
        return ("x", "pos")

    def input_doc(self, spec):
        return f"x [M, {spec.heads * spec.d}] integers (heads x d per token) and pos [M] positions"

    def validate_inputs(self, spec, inputs):
        m = self.model(spec)
        n = m.heads * m.d
        x = np.asarray(inputs["x"])
        if x.ndim == 3 and x.shape[1:] == (m.heads, m.d):
            x = x.reshape(x.shape[0], n)
        if x.ndim != 2 or x.shape[1] != n or x.shape[0] < 1:
            raise UserError("x", f"shape {list(x.shape)} does not match the config; expected [M, {n}] "
                                 f"(or [M, {m.heads}, {m.d}]) with M >= 1")
        if x.dtype.kind not in "iu":
            raise UserError("x", f"dtype {x.dtype} is not an integer type")
        lo, hi = self._range(m.in_bits)
        if x.min() < lo or x.max() > hi:
            raise UserError("x", f"values outside [{lo}, {hi}] (in_bits={m.in_bits}): min {x.min()}, max {x.max()}")
        pos = np.asarray(inputs["pos"])
        if pos.ndim == 2 and pos.shape[1] == 1:
            pos = pos[:, 0]
        if pos.ndim != 1 or pos.shape[0] != x.shape[0]:
            raise UserError("pos", f"shape {list(pos.shape)} does not match x; expected [{x.shape[0]}] "
                                   f"(one position per token)")
        if pos.dtype.kind not in "iu":
            raise UserError("pos", f"dtype {pos.dtype} is not an integer type")
        if pos.min() < 0 or pos.max() >= m.L_max:
            raise UserError("pos", f"values outside [0, {m.L_max - 1}] (L_max={m.L_max}): min {pos.min()}, "
                                   f"max {pos.max()}")
        return {"x": x.astype(np.int64), "pos": pos.astype(np.int64)}

    def vector_count(self, spec, inputs):
        return int(inputs["x"].shape[0])

    def golden(self, spec, inputs):
        """The bit definition, numpy int64: per head, a = x[:d/2], b = x[d/2:], c/s = table[pos],
        y = sat(floor((a*c - b*s + R) / 2^sh)), sat(floor((b*c + a*s + R) / 2^sh)), R = 2^(sh-1) (0 if sh = 0)."""
        m = self.model(spec)
        cos, sin = rope_tables(spec)
        x = np.asarray(inputs["x"], np.int64).reshape(-1, m.heads, 2, m.half)
        pos = np.asarray(inputs["pos"], np.int64)
        c = cos[pos][:, None, :]
        s = sin[pos][:, None, :]
        a, b = x[:, :, 0], x[:, :, 1]
        rnd = (1 << (m.sh - 1)) if m.sh else 0
        ya = (a * c - b * s + rnd) >> m.sh
        yb = (b * c + a * s + rnd) >> m.sh
        lo, hi = self._range(m.out_bits)
        y = np.clip(np.stack([ya, yb], axis=2), lo, hi)
        return {"y": y.reshape(x.shape[0], m.heads * m.d)}

    def stream_beats(self, spec, inputs):
        m = self.model(spec)
        rows = np.asarray(inputs["x"], np.int64).reshape(-1, m.lanes).tolist()
        x = [(int(i % m.beats == m.beats - 1), r) for i, r in enumerate(rows)]
        pos = [(1, [int(p)]) for p in np.asarray(inputs["pos"], np.int64)]
        return {"x": x, "pos": pos}

    def output_units(self, spec, inputs):
        return {"y": [self.model(spec).beats] * self.vector_count(spec, inputs)}

    def from_beats(self, spec, inputs, beats):
        m = self.model(spec)
        y = np.asarray(beats["y"], np.int64).reshape(self.vector_count(spec, inputs), m.heads * m.d)
        return {"y": y}

    def extra_metrics(self, spec, inputs, outputs):
        """Largest |y - float RoPE(x)| in output LSBs (float64 reference from the math, angles in float64)."""
        m = self.model(spec)
        ref = float_rope(np.asarray(inputs["x"], np.float64) / 2.0 ** m.in_frac, np.asarray(inputs["pos"]),
                         m.heads, m.d, m.theta)
        err = np.abs(np.asarray(outputs["y"], np.float64) / 2.0 ** m.out_frac - ref) * 2.0 ** m.out_frac
        lo, hi = self._range(m.out_bits)
        inside = (ref * 2.0 ** m.out_frac >= lo) & (ref * 2.0 ** m.out_frac <= hi)   # saturated ones excluded
        return {"max_err_lsb": float(err[inside].max()) if inside.any() else 0.0}

    # --- render ----------------------------------------------------------------------------------
    def render_context(self, spec):
        from .rope_rtl import render_context

        return render_context(self, spec)

    def outputs(self, backend):
        if backend == "hls":
            return [("rope/hls/rope.h.j2", "hls/{top}.h"), ("rope/hls/rope.cpp.j2", "hls/{top}.cpp")]
        return [("rope/rtl/rope.v.j2", "rtl/{top}.v")]

    # --- surrogate -------------------------------------------------------------------------------
    def graph(self, spec):
        from .rope_rtl import build_graph

        return build_graph(self, spec)


def float_rope(x: np.ndarray, pos: np.ndarray, heads: int, d: int, theta: float) -> np.ndarray:
    """float64 RoPE written from the math (rotate_half): x [M, heads * d] real values, pos [M]."""
    half = d // 2
    inv = np.power(float(theta), -2.0 * np.arange(half) / d)
    ang = np.asarray(pos, np.float64)[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    xv = np.asarray(x, np.float64).reshape(-1, heads, 2, half)
    a, b = xv[:, :, 0], xv[:, :, 1]
    return np.stack([a * c - b * s, b * c + a * s], axis=2).reshape(x.shape[0], heads * d)


__all__ = ["RopeKernel", "RopeSpec", "RopeModel", "rope_tables", "rope_split_tables", "split_k", "float_rope"]
