"""RMSNorm with weight fused with the per-token absmax int8 activation quantizer of every BitLinear input
(BitNet b1.58): for each token of D elements

    p_i = x_i * g_i (exact)        pmax = max_i |p_i|
    q_i = round(qmax * p_i / pmax)  (reciprocal based, see docs/rmsnorm_quant_numerics.md)
    s   ~ (pmax / 2^g_frac) / (rms(x) * qmax) * 2^s_frac,  rms(x) = sqrt(mean(x_real^2) + eps)

so that (RMSNorm(x) * gamma)_i ~= q_i * s / 2^s_frac. The 1/rms factor cancels in q, so q needs no rsqrt; s
needs one rsqrt per token (table of 2^k entries + one Newton step) and q one reciprocal per token (pipelined
restoring divider, constant numerator).

    streams: s_axis_gamma (setup): `lanes` g_bits values per beat, ceil(D / lanes) beats, loaded once
             s_axis_x: `lanes` signed x_bits values per beat, ceil(D / lanes) beats per token (zero padded)
             m_axis_q: `lanes` signed q_bits values per beat, the same beats per token, tlast on a token's last
             m_axis_s: one unsigned 32-bit scale per token (one beat, tlast), emitted with the token's first q
                       beat (same cycle at zero stall), so a token's last output beat is its last q beat
    timing:  pass 1 (products, sum of squares, absmax) while the token is written into a token ring buffer;
             a per-token scale pipeline (rsqrt, reciprocal); pass 2 (q) reads the ring. Token t+1's pass 1
             overlaps token t's pass 2: ii = beats per token.
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

# ----------------------------------------------------------------------------- fixed internal formats
NA = 26          # pmax (and every |p_i|) normalised to NA bits: pmax_n in [2^(NA-1), 2^NA)
R_BITS = 17      # reciprocal R = round(qmax 2^K / pmax_n), < 2^R_BITS (one DSP port)
NV = 26          # V normalised by an even shift to Vn in [2^(NV-2), 2^NV): m = Vn / 2^(NV-2) in [1, 4)
F0 = 16          # rsqrt table entries: y0 = round(2^F0 / sqrt(m_mid))
FT = 20          # fraction bits of T1 = m * y0
FD = 24          # fraction bits of d = 3 - m y0^2
FY = 24          # fraction bits of y1 (Newton result, ~ 1/sqrt(m))
SP1 = 25         # P1 = (pmax_n * y1) >> SP1
CB = 24          # constant C = sqrt(D) 2^(s_frac - g_frac) / qmax as Cm 2^ce, Cm in [2^(CB-1), 2^CB)
S_BITS = 32      # output scale width (unsigned)
DIV_BITS_PER_STAGE = 2   # quotient bits per divider pipeline stage (two compare-subtracts per cycle)
LZ_GROUP = 4             # leading-one detectors: nibble flags and positions, then the highest nibble

# pipeline constants of the RTL (templates/rmsnorm/rtl/rmsnorm.v.j2), see RmsNormModel
PASS1_FIXED = 5      # last x beat accepted -> scale stage 0, besides the tree registers (x reg, gamma/x reg,
                     # products, token accumulators, st0); pass1_cycles(lanes) adds the tree's pipeline registers
SCALE_STAGES = 13    # scale stage 0 -> the scale FIFO entry is written (st1 .. st13)
DIV_START = 3        # the divider's divisor pmax_n is the st3 register; its stages are st4 ..
PASS2_CYCLES = 5     # read issued -> the q output register (buffer read, |p|, product, shift, round/sign)


def square_pieces(x_bits: int) -> list[dict]:
    """x * x as registered DSP-sized partial products (attention_rtl.split_mul) where Yosys would otherwise
    split it into more than two DSP tiles added in fabric in the same cycle (x_bits > 27); [] keeps one
    `x * x` (one or two tiles)."""
    from .attention_rtl import split_mul

    pieces = split_mul(x_bits, True, x_bits, True)
    return pieces if len(pieces) > 2 else []


def tree_levels(lanes: int, x_bits: int) -> list[dict]:
    """The max|p| / sum-of-squares trees over the lanes (padded to a power of two with zeros): level 0 holds the
    leaves (|p| is computed there, and the sum of the square's pieces if split), level k has 2^(LG-k) nodes.
    A pipeline register follows every odd level (every even one, level 0 included, when the square is split)
    and the root, so no cycle holds more than |p| and one compare or two compare/add levels."""
    lg = (lanes - 1).bit_length()
    odd = 0 if square_pieces(x_bits) else 1
    return [{"k": k, "prev": k - 1, "n": 1 << (lg - k), "reg": (k % 2 == odd) or k == lg} for k in range(lg + 1)]


def pass1_cycles(lanes: int, x_bits: int) -> int:
    return PASS1_FIXED + sum(lv["reg"] for lv in tree_levels(lanes, x_bits))


BufferMemory = Literal["auto", "lutram", "bram"]


class RmsNormSpec(KernelSpec):
    kind: Literal["rmsnorm_quant"] = "rmsnorm_quant"
    D: int = Field(1536, ge=1, le=16384, description="elements per token (the hidden size)")
    lanes: int = Field(16, ge=1, le=64, description="elements per stream beat (zero padding if D % lanes)")
    M_max: int = Field(128, ge=1, le=65536, description="max tokens per HLS call")
    x_bits: int = Field(24, ge=2, le=28, description="signed input width")
    x_frac: int = Field(12, ge=0, le=32, description="input fraction bits (matter for eps only)")
    g_bits: int = Field(16, ge=2, le=24, description="signed gamma width")
    g_frac: int = Field(12, ge=0, le=32, description="gamma fraction bits")
    eps: float = Field(1e-5, ge=0.0, le=1e-2, description="RMSNorm epsilon in real units of x^2")
    q_bits: int = Field(8, ge=2, le=8, description="output activation width, qmax = 2^(q_bits-1) - 1")
    s_frac: int = Field(24, ge=0, le=40, description="fraction bits of the unsigned 32-bit output scale")
    rsqrt_index_bits: int = Field(10, ge=8, le=12, description="internal: rsqrt table index bits k (2^k entries)")
    buffer_memory: BufferMemory = Field("auto", description="token ring and gamma memories (auto: LUTRAM up to "
                                                            "64 beats, else block RAM)")


@dataclass(frozen=True)
class RmsNormModel:
    top: str
    D: int
    lanes: int
    beats: int            # beats per token
    D_pad: int
    M_max: int
    x_bits: int
    x_frac: int
    g_bits: int
    g_frac: int
    q_bits: int
    qmax: int
    s_frac: int
    eps: float
    eps_int: int          # round(eps * 2^(2 x_frac))
    p_bits: int           # signed product x * g
    a_bits: int           # |p| unsigned
    sq_bits: int          # x^2 unsigned
    bsum_bits: int        # sum of one beat's squares
    ss_bits: int          # sum of squares of a token
    v_bits: int           # V = ss + D * eps_int
    v_eps: int            # D * eps_int
    u_bits: int           # u = bitlen(pmax) - 1
    K: int                # q = (a_n R + 2^(K-1)) >> K
    div_num: int          # qmax * 2^(K+1): the divider's constant numerator
    div_stages: int
    k: int                # rsqrt table index bits
    y0_bits: int
    t1_bits: int
    h_bits: int
    d_bits: int
    y1_bits: int
    p1_bits: int
    p2_bits: int
    cm: int
    ce: int
    r_const: int          # r = r_const - u - j: the final right shift of P2
    r_bits: int           # signed width of r
    pass1_cycles: int     # last x beat accepted -> scale stage 0 holds the token
    depth: int            # token ring buffer, beats
    sf_depth: int         # scale FIFO entries
    ram_style: str        # "distributed" | "block"
    latency: int
    ii: int

    def as_dict(self) -> dict:
        return asdict(self)


def _bitlen(v: int) -> int:
    return int(v).bit_length()


@lru_cache(maxsize=None)
def rsqrt_table(k: int) -> tuple[int, ...]:
    """2^k entries; index i in [2^(k-2), 2^k) covers m in [i, i+1) / 2^(k-2): round(2^F0 / sqrt(midpoint)).
    Entries below 2^(k-2) are never read (0)."""
    out = []
    for i in range(1 << k):
        if i < 1 << (k - 2):
            out.append(0)
        else:
            mid = (i + 0.5) / (1 << (k - 2))
            out.append(int(math.floor((1 << F0) / math.sqrt(mid) + 0.5)))
    return tuple(out)


def _newton(vn: int, y0: int) -> tuple[int, int, int, int]:
    """One Newton step y1 = y0 (3 - m y0^2) / 2 in integers: (T1, h, d, y1)."""
    t1 = (vn * y0) >> (NV - 2 + F0 - FT)
    h = t1 * y0
    d = ((3 << (FT + F0)) - h) >> (FT + F0 - FD)
    y1 = (y0 * d) >> (F0 + FD + 1 - FY)
    return t1, h, d, y1


def _const(D: int, qmax: int, g_frac: int, s_frac: int) -> tuple[int, int]:
    """C = sqrt(D) 2^(s_frac - g_frac) / qmax as (Cm, ce): C ~= Cm 2^ce, Cm in [2^(CB-1), 2^CB)."""
    base = math.sqrt(D) / qmax            # C = base * 2^(s_frac - g_frac)
    e = math.frexp(base)[1] - 1           # base in [2^e, 2^(e+1))
    ce = e + (s_frac - g_frac) - (CB - 1)
    cm = int(math.floor(math.ldexp(base, CB - 1 - e) + 0.5))
    if cm >= 1 << CB:
        cm, ce = cm >> 1, ce + 1
    return cm, ce


class RmsNormQuantKernel(TokenKernel):
    setup_flag = "load_gamma"
    kind = "rmsnorm_quant"
    spec_model = RmsNormSpec
    description = "RMSNorm with weight fused with per-token absmax activation quantization (q, scale s)"
    node_types = ("product_lane", "reduce_tree", "token_buffer", "gamma_bank", "rsqrt_unit", "divider",
                  "quant_lane", "fifo")

    def check(self, spec) -> None:
        eps_int = int(math.floor(spec.eps * 2.0 ** (2 * spec.x_frac) + 0.5))
        if spec.D * eps_int >= 1 << 62:
            raise UserError("x_frac", f"D * round(eps * 2^(2 x_frac)) = {spec.D * eps_int} does not fit 62 bits; "
                                      "allowed: a smaller x_frac or eps")
        if spec.lanes * (spec.x_bits + spec.g_bits) > 4096:
            raise UserError("lanes", f"lanes * (x_bits + g_bits) = {spec.lanes * (spec.x_bits + spec.g_bits)} "
                                     "bits per buffer word; allowed: at most 4096")

    @lru_cache(maxsize=256)
    def model(self, spec: RmsNormSpec) -> RmsNormModel:
        B = -(-spec.D // spec.lanes)
        qmax = (1 << (spec.q_bits - 1)) - 1
        eps_int = int(math.floor(spec.eps * 2.0 ** (2 * spec.x_frac) + 0.5))
        a_bits = spec.x_bits + spec.g_bits - 1
        sq_max = (1 << (spec.x_bits - 1)) ** 2
        ss_max = spec.D * sq_max
        v_eps = spec.D * eps_int
        v_bits = _bitlen(ss_max + v_eps)
        K = NA + R_BITS - spec.q_bits
        k = spec.rsqrt_index_bits
        tab = rsqrt_table(k)
        # widths of the Newton chain from the extreme Vn of every table interval (each step is monotone)
        t1m = hm = dm = y1m = 0
        for i in range(1 << (k - 2), 1 << k):
            for vn in (i << (NV - k), ((i + 1) << (NV - k)) - 1):
                t1, h, d, y1 = _newton(vn, tab[i])
                assert d > 0
                t1m, hm, dm, y1m = max(t1m, t1), max(hm, h), max(dm, d), max(y1m, y1)
        cm, ce = _const(spec.D, qmax, spec.g_frac, spec.s_frac)
        y1_bits = _bitlen(y1m)
        p1_bits = NA + y1_bits - SP1
        p2_bits = p1_bits + CB
        # s 2^s_frac = P2 2^E, E = u + j + E0 (docs/rmsnorm_quant_numerics.md); r = -E
        e0 = SP1 - (NA - 1) - FY - (NV - 2) // 2 + ce
        jmin, jmax = (NV - v_bits) // 2, (NV - 1) // 2
        r_lo, r_hi = -e0 - (a_bits - 1) - jmax, -e0 - jmin
        r_bits = max(_bitlen(abs(r_lo)), _bitlen(abs(r_hi))) + 2
        p1c = pass1_cycles(spec.lanes, spec.x_bits)
        dr = p1c + SCALE_STAGES + 1          # last beat accepted -> its token's first read issued
        depth = max(2 * B, B + dr + 1)
        ram = spec.buffer_memory if spec.buffer_memory != "auto" else ("lutram" if depth <= 64 else "bram")
        latency = (B - 1) + dr + (B - 1) + PASS2_CYCLES + 1
        return RmsNormModel(
            top=spec.design_name, D=spec.D, lanes=spec.lanes, beats=B, D_pad=pad_to(spec.D, spec.lanes),
            M_max=spec.M_max, x_bits=spec.x_bits, x_frac=spec.x_frac, g_bits=spec.g_bits, g_frac=spec.g_frac,
            q_bits=spec.q_bits, qmax=qmax, s_frac=spec.s_frac, eps=spec.eps, eps_int=eps_int,
            p_bits=spec.x_bits + spec.g_bits, a_bits=a_bits, sq_bits=2 * spec.x_bits - 1,
            bsum_bits=_bitlen(spec.lanes * sq_max), ss_bits=_bitlen(ss_max), v_bits=v_bits, v_eps=v_eps,
            u_bits=index_bits(a_bits), K=K, div_num=qmax << (K + 1),
            div_stages=-(-(R_BITS + 1) // DIV_BITS_PER_STAGE), k=k, y0_bits=_bitlen(max(tab)),
            t1_bits=_bitlen(t1m), h_bits=_bitlen(hm), d_bits=_bitlen(dm), y1_bits=y1_bits, p1_bits=p1_bits,
            p2_bits=p2_bits, cm=cm, ce=ce, r_const=-e0, r_bits=r_bits, pass1_cycles=p1c, depth=depth,
            sf_depth=2 + (depth - 1) // B, ram_style="distributed" if ram == "lutram" else "block",
            latency=latency, ii=B)

    # --- numerics (the bit definition; the HLS and RTL twins compute exactly this) ----------------------------
    def scale_token(self, m: RmsNormModel, pmax: int, V: int) -> dict:
        """The per-token scalar path: pmax = max |p_i|, V = sum x_i^2 + D eps_int -> u, R, s (and internals)."""
        pmax, V = int(pmax), int(V)
        if pmax == 0:
            return {"u": 0, "R": 0, "s": 0, "zero": True}
        u = _bitlen(pmax) - 1
        pn = (pmax << (NA - 1)) >> u
        q_ = m.div_num // pn
        R = (q_ + 1) >> 1
        n = _bitlen(V)
        j = (NV - n) // 2
        vn = V << (2 * j) if j >= 0 else V >> (-2 * j)
        y0 = rsqrt_table(m.k)[vn >> (NV - m.k)]
        _, _, _, y1 = _newton(vn, y0)
        p1 = (pn * y1) >> SP1
        p2 = p1 * m.cm
        r = m.r_const - u - j
        if r <= 0:
            s = (1 << S_BITS) - 1
        else:
            sh = min(r - 1, m.p2_bits)
            s = ((p2 >> sh) + 1) >> 1
            s = min(s, (1 << S_BITS) - 1)
        return {"u": u, "R": R, "s": s, "zero": False, "pn": pn, "j": j, "vn": vn, "y0": y0, "y1": y1,
                "p1": p1, "p2": p2, "r": r}

    def quantize(self, m: RmsNormModel, p: np.ndarray, u: int, R: int) -> np.ndarray:
        """q of one token's products p (int64 array) given the token's u and R:
        |q| = round(|p| R / 2^(K + u - NA + 1)) (half up), the sign of p."""
        a = np.abs(p).astype(np.int64)
        if m.a_bits + R_BITS > 62:            # |p| R beyond int64: Python integers
            a = a.astype(object)
        sh = u + m.K - NA                     # = (K + u - NA + 1) - 1
        qa = ((((a * R) >> sh) + 1) >> 1).astype(np.int64)
        return np.where(p < 0, -qa, qa)

    # --- interface and performance --------------------------------------------------------------
    def ports(self, spec):
        m = self.model(spec)
        return [Port("gamma", "in", m.lanes, m.g_bits, True, "s_axis_gamma", role="setup", unit_elements=m.D),
                Port("x", "in", m.lanes, m.x_bits, True, "s_axis_x", input_key="x", unit_elements=m.D),
                Port("q", "out", m.lanes, m.q_bits, True, "m_axis_q", unit_elements=m.D),
                Port("s", "out", 1, S_BITS, False, "m_axis_s", unit_elements=1)]

    def performance(self, spec) -> Performance:
        m = self.model(spec)
        return Performance(latency_cycles=m.latency, ii=m.ii, unit=self.unit, macs=2 * m.D,
                           macs_per_cycle=3 * m.lanes,
                           bytes={"x": m.D * m.x_bits / 8, "q": m.D * m.q_bits / 8, "s": S_BITS / 8,
                                  "gamma": m.D * m.g_bits / 8})


    # --- data ------------------------------------------------------------------------------------
    @staticmethod
    def _range(bits: int) -> tuple[int, int]:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def random_inputs(self, spec, rng, vectors):
        m = self.model(spec)
        xlo, xhi = self._range(m.x_bits)
        glo, ghi = self._range(m.g_bits)
        # realistic tokens: gaussian activations around a quarter of full scale, gammas around 1.0 (+-)
        scale = max(1.0, xhi / 8)
        x = np.clip(np.round(rng.standard_normal((vectors, m.D)) * scale), xlo, xhi).astype(np.int64)
        one = 1 << m.g_frac
        g = np.clip(np.round(one * (0.5 + rng.random(m.D)) * rng.choice([-1, 1], m.D)), glo, ghi).astype(np.int64)
        g[0] = ghi
        if m.D > 1:
            g[1] = glo
        # extremes: max magnitudes, an all-zero token, one large outlier, the negative max, full-range noise
        extremes = [np.where(np.arange(m.D) % 2 == 0, xhi, xlo),          # max magnitude x both ways
                    np.zeros(m.D, np.int64),                               # all-zero token
                    None,                                                  # one large outlier
                    np.full(m.D, xlo),                                     # the negative max everywhere
                    rng.integers(xlo, xhi + 1, m.D),                       # uniform full range
                    rng.integers(-2, 3, m.D)]                              # tiny values (eps matters)
        outlier = rng.integers(-(1 << max(0, m.x_bits - 9)), (1 << max(0, m.x_bits - 9)) + 1, m.D)
        outlier[m.D // 2] = xlo
        extremes[2] = outlier
        for t, row in enumerate(extremes):
            if 2 + t < vectors:                 # the first two tokens stay full random ones
                x[2 + t] = row
        return {"x": x, "gamma": g}

    def input_names(self, spec):
        return ("x", "gamma")

    def input_doc(self, spec):
        return f"x [M, {spec.D}] and gamma [{spec.D}] integers"

    def validate_inputs(self, spec, inputs):
        m = self.model(spec)
        x, g = np.asarray(inputs["x"]), np.asarray(inputs["gamma"])
        if x.ndim != 2 or x.shape[1] != m.D or x.shape[0] < 1:
            raise UserError("x", f"shape {list(x.shape)} does not match the config; expected [M, {m.D}] with M >= 1")
        if g.ndim != 1 or g.shape[0] != m.D:
            raise UserError("gamma", f"shape {list(g.shape)} does not match the config; expected [{m.D}]")
        for key, arr, bits in (("x", x, m.x_bits), ("gamma", g, m.g_bits)):
            if arr.dtype.kind not in "iu":
                raise UserError(key, f"dtype {arr.dtype} is not an integer type")
            lo, hi = self._range(bits)
            if arr.min() < lo or arr.max() > hi:
                raise UserError(key, f"values outside [{lo}, {hi}] ({'x' if key == 'x' else 'g'}_bits={bits}): "
                                     f"min {arr.min()}, max {arr.max()}")
        return {"x": x.astype(np.int64), "gamma": g.astype(np.int64)}

    def vector_count(self, spec, inputs):
        return int(inputs["x"].shape[0])

    def golden(self, spec, inputs):
        m = self.model(spec)
        x, g = inputs["x"].astype(np.int64), inputs["gamma"].astype(np.int64)
        p = x * g[None, :]
        q = np.zeros_like(p)
        s = np.zeros((x.shape[0], 1), np.int64)
        for t in range(x.shape[0]):
            pmax = int(np.abs(p[t]).max())
            V = int(sum(int(v) * int(v) for v in x[t])) + m.v_eps
            sc = self.scale_token(m, pmax, V)
            q[t] = self.quantize(m, p[t], sc["u"], sc["R"])
            s[t, 0] = sc["s"]
        return {"q": q, "s": s}

    def stream_beats(self, spec, inputs):
        m = self.model(spec)
        x = np.zeros((inputs["x"].shape[0], m.D_pad), np.int64)
        x[:, : m.D] = inputs["x"]
        g = np.zeros(m.D_pad, np.int64)
        g[: m.D] = inputs["gamma"]
        rows = x.reshape(-1, m.lanes).tolist()
        grows = g.reshape(-1, m.lanes).tolist()
        return {"gamma": [(int(i == len(grows) - 1), r) for i, r in enumerate(grows)],
                "x": [(int(i % m.beats == m.beats - 1), r) for i, r in enumerate(rows)]}

    def output_units(self, spec, inputs):
        n = self.vector_count(spec, inputs)
        return {"q": [self.model(spec).beats] * n, "s": [1] * n}

    def from_beats(self, spec, inputs, beats):
        m = self.model(spec)
        n = self.vector_count(spec, inputs)
        out = {}                                   # a composition asks for one port at a time
        if "q" in beats:
            out["q"] = np.asarray(beats["q"], np.int64).reshape(n, m.D_pad)[:, : m.D]
        if "s" in beats:
            out["s"] = np.asarray(beats["s"], np.int64).reshape(n, 1)
        return out

    def user_output(self, spec, inputs, outputs):
        return {"q": outputs["q"].astype(np.int8 if spec.q_bits <= 8 else np.int16),
                "s": outputs["s"][:, 0].astype(np.uint32)}

    def extra_metrics(self, spec, inputs, outputs):
        """Relative error of s against float64 RMSNorm scale (tokens with s > 0, not saturated)."""
        if "s" not in outputs:
            return {}
        ref = reference_scale(spec, inputs["x"], inputs["gamma"])
        s = outputs["s"][:, 0].astype(np.float64)
        ok = (ref > 0) & (ref < 2.0 ** S_BITS - 1)
        if not ok.any():
            return {}
        return {"s_rel_err_max": float(np.max(np.abs(s[ok] - ref[ok]) / ref[ok]))}

    # --- render ----------------------------------------------------------------------------------
    def render_context(self, spec):
        m = self.model(spec)
        tab = rsqrt_table(m.k)
        B = m.beats
        ctx = {
            "top": m.top, "m": m, "description": self.description,
            "x_beat_bits": m.lanes * m.x_bits, "g_beat_bits": m.lanes * m.g_bits, "q_beat_bits": m.lanes * m.q_bits,
            "p_beat_bits": m.lanes * m.p_bits, "x_msb": m.lanes * m.x_bits - 1, "g_msb": m.lanes * m.g_bits - 1,
            "q_msb": m.lanes * m.q_bits - 1, "p_msb": m.lanes * m.p_bits - 1, "s_msb": S_BITS - 1,
            "s_bits": S_BITS, "s_max": (1 << S_BITS) - 1, "s_max_bits": S_BITS + 1,
            "last_beat": B - 1, "beat_w": index_bits(B), "addr_w": index_bits(m.depth), "last_addr": m.depth - 1,
            "cnt_w": index_bits(m.depth + 1), "sf_w": index_bits(m.sf_depth), "sf_cnt_w": index_bits(m.sf_depth + 1),
            "sf_last": m.sf_depth - 1,
            "na": NA, "na_m1": NA - 1, "r_bits_q": R_BITS, "nv": NV, "f0": F0, "ft": FT, "fd": FD, "fy": FY,
            "sp1": SP1, "cb": CB,
            "ext_bits": m.a_bits + NA - 1,                 # |p| << (NA-1)
            "vext_bits": m.v_bits + NV,                    # V << 2j (j >= 0)
            "vl_max": NV - 1,
            "idx_shift": NV - m.k,
            "t1_shift": NV - 2 + F0 - FT,
            "three": 3 << (FT + F0), "three_bits": _bitlen(3 << (FT + F0)),
            "d_shift": FT + F0 - FD,
            "y1_shift": F0 + FD + 1 - FY,
            "vn_t1_bits": NV + m.y0_bits, "t1y0_bits": m.t1_bits + m.y0_bits, "y0d_bits": m.y0_bits + m.d_bits,
            "pny1_bits": NA + m.y1_bits,
            "div_q_bits": R_BITS + 1, "div_rem_bits": NA + 1, "div_bps": DIV_BITS_PER_STAGE,
            "div_num_bits": _bitlen(m.div_num),
            "div_init": m.div_num >> (R_BITS + 1),
            "div_stage_bits": [[(m.div_num >> b) & 1 for b in range(R_BITS - s * DIV_BITS_PER_STAGE,
                                                                    max(-1, R_BITS - (s + 1) * DIV_BITS_PER_STAGE), -1)]
                               for s in range(m.div_stages)],
            "div_delay": SCALE_STAGES - DIV_START - m.div_stages - 1,   # R rounding register .. st SCALE_STAGES
            "prod_bits": m.a_bits + R_BITS, "q_pre_shift": m.K - NA, "qa_bits": m.q_bits + 1,
            "rom": list(tab), "rom_bits": m.y0_bits, "rom_depth": len(tab), "rom_last": len(tab) - 1,
            "scale_stages": SCALE_STAGES,
            "rom_block": m.k >= 9,
            "v_w": m.v_bits, "ubits": m.u_bits, "lz_bits": index_bits(m.v_bits + 1),
            "fifo_bits": S_BITS + R_BITS + m.u_bits,
            "p2_shift_max": m.p2_bits, "sh_bits": index_bits(m.p2_bits + 1),
            "u_wide": m.r_bits,
            # pass 1 trees (tree_levels) and the leading-one detectors (LZ_GROUP-bit groups)
            "tree": tree_levels(m.lanes, m.x_bits), "tree_p": 1 << (m.lanes - 1).bit_length(),
            "tree_root": (m.lanes - 1).bit_length(),
            "tree_regs": sum(lv["reg"] for lv in tree_levels(m.lanes, m.x_bits)),
            "sq_pieces": square_pieces(m.x_bits), "sq_bits_full": 2 * m.x_bits,
            "lz_g": LZ_GROUP, "nga": -(-m.a_bits // LZ_GROUP), "ngv": -(-m.v_bits // LZ_GROUP),
            "a_pad": -(-m.a_bits // LZ_GROUP) * LZ_GROUP, "v_pad": -(-m.v_bits // LZ_GROUP) * LZ_GROUP,
            "lzpw": index_bits(LZ_GROUP), "mvw": index_bits(m.v_bits),
            # the shifts of V: 2j (j >= 0, at most 2 floor(NV / 2) for V = 0) or -2j
            "vsh_w": index_bits(max(2 * (NV // 2), -2 * ((NV - m.v_bits) // 2)) + 1),
            # delay lines of the scale unit (stage of the source register -> stage of its use)
            "dl_pn": 9 - DIV_START,          # pmax_n: st3 -> st9 (P1 = pmax_n y1 at st10)
            "dl_y0": 3,                      # y0: st5 (ROM) -> st8 (y1 = y0 d at st9)
            "dl_u": SCALE_STAGES - 3,        # u: st3 -> st13 (FIFO)
            "dl_r": 6,                       # r: st4 -> st10 (the rounding shift at st11)
            "dl_z": SCALE_STAGES - 1 - DIV_START,   # all-zero flag: st3 -> st12
            "dl_sv": SCALE_STAGES - 1,       # token valid: st1 -> st13
        }
        assert ctx["div_delay"] >= 0, "the divider must finish before the s path"
        assert all(len(b) == DIV_BITS_PER_STAGE or s == m.div_stages - 1 for s, b in enumerate(ctx["div_stage_bits"]))
        assert sum(len(b) for b in ctx["div_stage_bits"]) == R_BITS + 1
        return ctx

    def outputs(self, backend):
        if backend == "hls":
            return [("rmsnorm/hls/rmsnorm.h.j2", "hls/{top}.h"), ("rmsnorm/hls/rmsnorm.cpp.j2", "hls/{top}.cpp")]
        return [("rmsnorm/rtl/rmsnorm.v.j2", "rtl/{top}.v"), ("lib/rtl/hwgen_delay.v", "rtl/hwgen_delay.v")]

    # --- surrogate -------------------------------------------------------------------------------
    def graph(self, spec):
        return build_graph(self, spec)


# ----------------------------------------------------------------------------- float references

def reference_scale(spec, x: np.ndarray, gamma: np.ndarray, eps: float | None = None) -> np.ndarray:
    """float64 s * 2^s_frac from the formula in real units: s = max_i |x_real_i g_real_i| / (rms(x) qmax),
    rms(x) = sqrt(mean(x_real^2) + eps) over the D real elements, so that RMSNorm(x) gamma ~= q s.
    eps defaults to the value the hardware adds, eps_int / 2^(2 x_frac) (pass spec.eps for the raw one)."""
    qmax = (1 << (spec.q_bits - 1)) - 1
    if eps is None:
        eps = math.floor(spec.eps * 2.0 ** (2 * spec.x_frac) + 0.5) / 2.0 ** (2 * spec.x_frac)
    xr = x.astype(np.float64) / 2.0 ** spec.x_frac
    gr = gamma.astype(np.float64) / 2.0 ** spec.g_frac
    rms = np.sqrt(np.mean(xr * xr, axis=1) + eps)
    pmax = np.abs(xr * gr[None, :]).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(pmax > 0, pmax / np.where(rms > 0, rms, 1.0) / qmax, 0.0)
    return s * 2.0 ** spec.s_frac


# ----------------------------------------------------------------------------- hardware graph

def build_graph(kernel: RmsNormQuantKernel, spec):
    """Pass 1 per lane: x*g (one DSP) and x*x (DSP tiles by costs.product), registered; the beat's max|p| and
    sum-of-squares trees and the token accumulators; the token ring (lanes x p_bits x depth) and the gamma bank
    (LUTRAM or BRAM); the scale unit (leading-one detectors, two normalising shifters, the rsqrt ROM, four
    Newton/scale products in DSPs, the final rounding shifter) and the pipelined divider (div_stages stages of
    DIV_BITS_PER_STAGE compare-subtracts); the scale FIFO; pass 2 per lane: abs, the normalising barrel shifter,
    a_n x R (one DSP), rounding and negation."""
    from hwgen.surrogate import costs as A
    from hwgen.surrogate.ir import HwGraph

    from .tlmm_graph import C_CONTROL

    m = kernel.model(spec)
    perf = kernel.performance(spec)
    fam = spec.target_info.yosys_family
    L = m.lanes
    g = HwGraph(family=fam, cycles=perf.latency_cycles, ii=perf.ii, macs=2 * L, kinds=(spec.kind,))
    xin = g.node("stream_in", "x", width=L * m.x_bits)
    gin = g.node("stream_in", "gamma", width=L * m.g_bits)
    qout = g.node("stream_out", "q", width=L * m.q_bits)
    sout = g.node("stream_out", "s", width=S_BITS)
    g.ports.update(x=xin, gamma=gin, q=qout, s=sout)
    bw, aw, sfw = index_bits(m.beats), index_bits(m.depth), index_bits(m.sf_depth)
    ctrl_ff = 2 * bw + 2 * aw + index_bits(m.depth + 1) + 2 * sfw + 12 + 3 * 4 + 2 * bw
    ctrl = g.node("control", "control", width=ctrl_ff, est={**A.zero(), "ff": ctrl_ff, "lut": C_CONTROL * ctrl_ff})
    style = "lutram" if m.ram_style == "distributed" else "bram"
    gb = g.node("gamma_bank", "gamma", style=style, depth=m.beats, width=L * m.g_bits,
                storage_bits=m.D_pad * m.g_bits, est=A.memory(m.beats, L * m.g_bits, style, fam))
    g.edge(gin, gb, L * m.g_bits, "weight_load")
    buf = g.node("token_buffer", "ring", style=style, depth=m.depth, width=L * m.p_bits,
                 storage_bits=m.depth * L * m.p_bits, est=A.memory(m.depth, L * m.p_bits, style, fam))
    g.edge(ctrl, buf, 2 * aw, "address")
    # reduction trees over the lanes of a beat and the token accumulators
    tree_bits = (L - 1) * (m.bsum_bits + m.a_bits)
    # pipeline registers after every odd tree level and the root (tree_levels; padding nodes fold away)
    tree_reg_nodes = sum(min(lv["n"], -(-L // (1 << lv["k"]))) for lv in tree_levels(L, m.x_bits) if lv["reg"])
    red = g.node("reduce_tree", "trees", leaves=L, leaf_bits=m.sq_bits, out_bits=m.ss_bits,
                 adder_bits=tree_bits + m.ss_bits + m.a_bits, width=m.ss_bits + m.a_bits,
                 est=A.add(A.adder(tree_bits + m.ss_bits + 2 * m.a_bits),
                           {**A.zero(), "lut": (L - 1) * m.a_bits * 0.5 + m.a_bits * 0.5},   # max select muxes
                           A.registers(tree_reg_nodes * (m.bsum_bits + m.a_bits) + m.a_bits + m.ss_bits + 4)))
    # scale unit: LZ + shifters, ROM, products, final shift; divider
    rom_style = "bram" if m.k >= 9 else "rom"
    rom_est = ({**A.zero(), "bram36": A.bram36(1 << m.k, m.y0_bits, rom=True)} if rom_style == "bram"
               else A.memory(1 << m.k, m.y0_bits, "rom", fam))
    sc_mult = (A.product(NV, False, m.y0_bits, False, fam), A.product(m.t1_bits, False, m.y0_bits, False, fam),
               A.product(m.y0_bits, False, m.d_bits, False, fam), A.product(NA, False, m.y1_bits, False, fam),
               A.product(m.p1_bits, False, CB, False, fam))
    # normalising shifters (pmax_n; Vn left and right), the final rounding shift: one 2:1 mux per output bit and
    # stage (Yosys 0.23 builds them from LUT3s)
    shifters = (NA * math.ceil(math.log2(m.a_bits + 1)) + 2 * NV * math.ceil(math.log2(m.v_bits + 1))
                + (S_BITS + 1) * math.ceil(math.log2(m.p2_bits + 1)))
    # stage registers (st0..st13: pmax and V through the leading-one stages st0..st3 (one copy of the two
    # plain st1 -> st2 -> st3 hops ends up in SRL16s), the group flags and positions, u/j/shift amounts, Vn twice,
    # the Newton and scale products, P2 before and after the rounding shift); the plain delay chains (y0
    # st5..st8, u, r, the zero flag, valid) become SRL16s (LUTRAM sites) with one output flip-flop per bit;
    # the pmax_n line st3..st9 is the divider's divisor registers (merged)
    chains = m.y0_bits + m.u_bits + m.r_bits + 2
    groups = 3 * (-(-m.a_bits // LZ_GROUP) + -(-m.v_bits // LZ_GROUP))
    sc_ff = 2 * (m.a_bits + m.v_bits) + groups + NA + m.v_bits + 3 * NV + m.t1_bits + m.y0_bits + m.h_bits \
        + m.d_bits + m.y1_bits + m.p1_bits + 2 * m.p2_bits + S_BITS + 2 * (m.u_bits + m.r_bits) + 16 + chains
    sc_srl = {**A.zero(), "lutram": float(chains + m.a_bits + m.v_bits)}
    rs = g.node("rsqrt_unit", "scale", depth=1 << m.k, width=m.y0_bits, leaves=1, leaf_bits=m.v_bits,
                out_bits=S_BITS, mult_bits=NV * m.y0_bits + m.t1_bits * m.y0_bits + m.y0_bits * m.d_bits
                + NA * m.y1_bits + m.p1_bits * CB, adder_bits=m.h_bits + m.d_bits,
                est=A.add(rom_est, *sc_mult, A.adder(m.h_bits + S_BITS + 2 * m.r_bits + m.v_bits),
                          {**A.zero(), "lut": shifters + m.a_bits + m.v_bits}, A.registers(sc_ff), sc_srl))
    dq = R_BITS + 1
    div = g.node("divider", "recip", count=m.div_stages, leaves=DIV_BITS_PER_STAGE, leaf_bits=NA + 1,
                 out_bits=R_BITS, adder_bits=dq * (NA + 1), width=NA,
                 # per quotient bit an NA+2-bit subtract and an NA-bit remainder select; per stage the remainder,
                # the divisor and the quotient so far are registered (the divider of D=96 lanes=1 synthesized alone:
                # 922 LUTs, this term 989)
                est=A.add(A.adder(dq * (2 * NA + 2) + R_BITS),
                          # the divisor's delay line (u_pnd) stays in FFs, no SRL16s: Yosys merges its stages with
                          # the divider stages' divisor registers, whose taps keep it from xilinx_srl (D=96, lanes=1:
                          # u_pnd.sr 130 FFs, no SRL16E on it)
                          A.registers(m.div_stages * (NA + 1) + NA + dq * (m.div_stages + 1) / 2 + R_BITS)))
    fifo_w = S_BITS + R_BITS + m.u_bits
    # sfifo (sync write, async read of the head) is a LUTRAM (Yosys: RAM32M16 x ceil(fifo_w / 14) on xcup), not
    # sf_depth x fifo_w FFs and a read mux: memory_libmap's LUTRAM cost is far below the FF cost at these widths
    fifo = g.node("fifo", "scale_fifo", style="lutram", depth=m.sf_depth, width=fifo_w,
                  storage_bits=m.sf_depth * fifo_w, est=A.memory(m.sf_depth, fifo_w, "lutram", fam, sync_read=False))
    g.edge(red, rs, m.v_bits + m.a_bits, "data")
    g.edge(red, div, m.a_bits, "data")
    g.edge(rs, fifo, S_BITS + m.u_bits, "data")
    g.edge(div, fifo, R_BITS, "data")
    g.edge(fifo, sout, S_BITS, "stream")
    sreg = A.registers(S_BITS * 5 + 1)
    g.nodes[fifo]["est"] = A.add(g.nodes[fifo]["est"], sreg)
    first = len(g.nodes)
    sqp = square_pieces(m.x_bits)
    # one lane of pass 1 and pass 2
    pl = g.node("product_lane", "p0", leaves=2, leaf_bits=m.x_bits, out_bits=m.p_bits,
                mult_bits=m.x_bits * m.g_bits + m.x_bits * m.x_bits, width=m.p_bits,
                est=A.add(A.product(m.x_bits, True, m.g_bits, True, fam, reg_bits=m.p_bits),
                          # split square: registered pieces, summed in fabric (the same LUTs as Yosys' own split)
                          (A.add(A.pieces(sqp, fam), {**A.zero(), "lut": m.x_bits * (len(sqp) - 1.0)}) if sqp else
                           A.product(m.x_bits, True, m.x_bits, True, fam, reg_bits=m.sq_bits)),
                          # x (c1, c1b) and gamma (c1b) registers
                          A.registers(2 * m.x_bits + m.g_bits), {**A.zero(), "lut": 2.0 * m.a_bits}))  # |p|
    g.edge(xin, pl, m.x_bits, "stream")
    g.edge(gb, pl, m.g_bits, "data")
    g.edge(pl, buf, m.p_bits, "data")
    g.edge(pl, red, m.p_bits + m.sq_bits, "data")
    span = math.ceil(math.log2(m.a_bits))        # the result shifter: q_bits + 1 bits out of |p| R >> (K - NA + u)
    ql = g.node("quant_lane", "q0", leaves=1, leaf_bits=m.p_bits, out_bits=m.q_bits, mult_bits=m.a_bits * R_BITS,
                adder_bits=m.a_bits + 2 * (m.q_bits + 1), width=m.q_bits,
                est=A.add(A.product(m.a_bits, False, R_BITS, False, fam, reg_bits=m.a_bits + R_BITS),
                          A.adder(2 * m.a_bits + 2 * (m.q_bits + 1)),                    # |p|, round, negate
                          {**A.zero(), "lut": sum(m.q_bits + (1 << b) for b in range(span))},   # log shifter
                          A.registers(m.a_bits + 3 + m.q_bits + m.q_bits + 1)))      # |p|, signs, ps4, q
    g.edge(buf, ql, m.p_bits, "data")
    g.edge(fifo, ql, R_BITS + m.u_bits, "data")
    g.edge(ql, qout, m.q_bits, "stream")
    g.edge(ctrl, ql, 1, "control")
    g.repeat(first, L)
    return g
