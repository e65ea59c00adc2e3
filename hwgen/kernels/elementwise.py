"""Shared pieces of the lane-streamed element-wise kernels (bitlinear_scale, glu_act): the integer rounding
and saturation that define their bits, the beat layout of a token, and the rendering decisions of the
two-multiplier pipeline both use.

Both kernels take `lanes` elements per beat, ceil(n / lanes) beats per token (zero padded), one beat per cycle,
through the same five register stages (first data beat accepted at cycle 0, a token's last output beat at
cycle beats - 1 + STAGES, so latency = beats + STAGES and ii = beats):

    s1  input registers (and the synchronous table / weight-scale memory read)
    s2  first product, as registered DSP-sized partial products (attention_rtl.split_mul)
    s3  first product summed (and rounded) into its stated width
    s4  second product, registered partial products
    s5  sum, round half up, saturate: the output register

All stages advance together on en = !m_axis_tvalid || m_axis_tready (a global stall).
"""
from __future__ import annotations

import numpy as np

from ..bits import index_bits
from .attention_rtl import split_mul

STAGES = 5
INT64_SAFE_BITS = 62      # every intermediate of a golden model fits in int64 with a bit to spare


def round_shift(x: np.ndarray, sh: int) -> np.ndarray:
    """x / 2^sh rounded half up (floor(x / 2^sh + 1/2)) for sh > 0, x * 2^-sh for sh <= 0 (exact), int64."""
    x = np.asarray(x, np.int64)
    if sh > 0:
        return (x + (np.int64(1) << np.int64(sh - 1))) >> np.int64(sh)
    return x << np.int64(-sh)


def saturate(x: np.ndarray, bits: int) -> np.ndarray:
    lo, hi = signed_range(bits)
    return np.clip(x, lo, hi)


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def product_bits(aw: int, a_signed: bool, bw: int, b_signed: bool) -> int:
    """Signed width that holds every a * b (an unsigned operand counts one sign bit more)."""
    return aw + (not a_signed) + bw + (not b_signed)


def to_beats(x: np.ndarray, lanes: int, beats: int) -> list:
    """[units, n] -> [(tlast, [lanes elements])] beats, zero padded to beats * lanes per unit."""
    units = x.shape[0]
    xp = np.zeros((units, beats * lanes), np.int64)
    xp[:, : x.shape[1]] = x
    rows = xp.reshape(-1, lanes).tolist()
    return [(int(i % beats == beats - 1), r) for i, r in enumerate(rows)]


def from_lane_beats(beats_arr, units: int, n: int, lanes: int, beats: int) -> np.ndarray:
    return np.asarray(beats_arr, np.int64).reshape(units, beats * lanes)[:, :n]


def mul_ctx(name: str, aw: int, a_signed: bool, bw: int, b_signed: bool) -> dict:
    """One registered split multiply: the pieces (split_mul) and the exact product's signed width."""
    pieces = split_mul(aw, a_signed, bw, b_signed)
    return {"name": name, "pieces": pieces, "n": len(pieces), "bits": product_bits(aw, a_signed, bw, b_signed),
            "aw": aw, "bw": bw, "a_signed": a_signed, "b_signed": b_signed}


def out_ctx(prod_bits: int, sh: int, out_bits: int) -> dict:
    """The output stage: q = round_shift(p, sh) of a prod_bits signed p, then saturation to out_bits.

    mode "rshift": r = p + 2^(sh-1) in prod_bits + 1 bits, q = r[rw-1:sh]; "none": q = p; "lshift": q = p << -sh.
    """
    lo, hi = signed_range(out_bits)
    if sh > 0:
        rw = prod_bits + 1
        qw, mode, half = rw - sh, "rshift", 1 << (sh - 1)
    elif sh == 0:
        rw, qw, mode, half = prod_bits, prod_bits, "none", 0
    else:
        rw, qw, mode, half = prod_bits, prod_bits - sh, "lshift", 0
    return {"mode": mode, "sh": max(sh, 0), "lsh": max(-sh, 0), "rw": rw, "qw": qw, "half": half,
            "rw_msb": rw - 1, "saturate": qw > out_bits, "out_max": hi, "out_min": lo, "zeros": max(-sh, 0),
            "sat_w": max(qw, out_bits)}


def beat_ctx(beats: int) -> dict:
    return {"beat_w": index_bits(beats), "last_beat": beats - 1}


# LUTs per bit of a wrapping beat counter (increment and last-value compare) and of the stream handshakes; the
# valid / tlast flags that travel with the stages are plain delay FFs. Before: 2 LUTs per control FF, flags
# included, which put the one-lane glu_act / bitlinear_scale anchors 60-130 % high (bench/surrogate_anchor_bias.py).
C_COUNTER = 1.5
HANDSHAKE_LUTS = 4


def control_luts(*counter_bits: int) -> float:
    """Analytical LUTs of an elementwise kernel's control: its counters and handshakes."""
    return C_COUNTER * sum(counter_bits) + HANDSHAKE_LUTS


def mul_cost(mul: dict, family: str, count: float = 1.0) -> dict:
    """Analytical cost of one registered split multiply and the adder that sums its pieces."""
    from hwgen.surrogate import costs as A   # the cost primitives (a leaf module; kernels import it lazily)

    est = A.pieces(mul["pieces"], family, count)
    if mul["n"] > 1:   # the bits below the smallest shifted piece pass through the sum
        low = min(pp["shift"] for pp in mul["pieces"] if pp["shift"] > 0)
        est = A.add(est, A.adder(mul["bits"] - low, count * (mul["n"] - 1)))
    return est


ROUND_ADD_LUTS = 1.0


def out_cost(o: dict, out_bits: int, count: float = 1.0) -> dict:
    """Analytical LUTs of the output stage (out_ctx): the rounding adder above the dropped bits, and when it
    saturates the output mux (an empirical split, see below)."""
    from hwgen.surrogate import costs as A

    # without saturation the rounding add of the constant 2^(sh-1) is a carry chain whose propagate inputs are the
    # sum's own bits (x ^ 0 = x: no LUT) but for the one set bit; with saturation its rw - sh + 1 bits cost a LUT
    # each (glu_act, datasets/layer_kernels: the 6 unsaturated designs 0-17 LUTs per lane below the per-bit
    # estimate, e.g. relu2 in8 -> out24 >> 12: 24 LUTs in all, 36 estimated; the 26 saturating ones on it)
    if o["mode"] != "rshift":
        lut = 0.0
    else:
        lut = float(o["rw"] - o["sh"] + 1) if o["saturate"] else ROUND_ADD_LUTS
    if o["saturate"]:
        # empirical: rw - sh + 1 LUTs for the rounding add plus the output mux fit the saturating records of
        # glu_act and bitlinear_scale (datasets/layer_kernels anchor LUT SMAPE 14.5 -> 5.5 % and 10.8 -> 8.5 %
        # against the former extra 2 * ceil((qw - out_bits + 1) / 3) overflow-detection LUTs). The stage
        # synthesized alone (a registered 52-bit p >> 10 saturated to 12 bits) splits differently: 38 LUTs, the
        # constant add free, ~20 LUT6 of detection and the 12-bit mux; inside the kernels p is the sum of
        # registered pieces, which Yosys merges with the rounding constant, so the alone split does not transfer
        lut += out_bits
    return {**A.zero(), "lut": lut * count}


def out_reg_bits(o: dict, out_bits: int) -> float:
    """FFs of the output register after the output stage (out_ctx): when q is narrower than out_bits (no
    saturation) the bits above it copy q's sign and Yosys merges their FFs into one (opt_merge), and the zeros that a
    left shift brings in are constant (no FF). Measured on glu_act (out_bits 24 over a 12-bit q: 12 FFs) and the
    same rule as residual_add's min(out_bits, sum_bits)."""
    return float(max(1, min(out_bits, o["qw"]) - min(o["lsh"], out_bits - 1)))
