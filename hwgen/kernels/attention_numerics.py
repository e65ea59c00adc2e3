"""The fixed-point numerics of the streaming attention kernels (docs/attention_numerics.md defines the formats):
the exp table, the harness-side quantization and score multiplier, the bit-exact golden model of the
datapath, and a float64 reference. `m` is an AttentionModel (hwgen/kernels/attention.py)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import UserError
from ..memo import pure

LOG2E = 1.0 / math.log(2.0)
CM_BITS = 16          # score multiplier mantissa, unsigned, in [2^15, 2^16) (0 = scores vanish)
CSH_MIN, CSH_MAX = 1, 48
T_BITS = 32           # scaled score / running max (signed, log2 domain, E fraction bits)


def exp_table(E: int, P: int) -> list[int]:
    """exp table: entry i = round(2^P * 2^(-i / 2^E)), i in [0, 2^E). Entry 0 is exactly 2^P (= 1.0)."""
    return list(_exp_entries(E, P))


@pure
def _exp_entries(E: int, P: int) -> tuple[int, ...]:
    # memoised: every attention model holds its table (2^E entries, ~0.1 ms to compute), and the surrogate and the
    # design search build thousands of models
    return tuple(int(math.floor(2.0**P * 2.0 ** (-i / 2.0**E) + 0.5)) for i in range(1 << E))


def quantize(m, x: np.ndarray, axes) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-head quantization to data_bits: (ints, scale) with x ~= ints * scale. With fixed quant
    the scale is 2^-data_frac for every head (inputs on that grid are taken exactly; others are rounded)."""
    if m.quant == "fixed":
        shape = [1 if i in axes else n for i, n in enumerate(x.shape)]
        s = np.full(shape, 2.0 ** -m.data_frac)
        return np.clip(np.rint(x.astype(np.float64) / s), -m.qmax, m.qmax).astype(np.int64), s
    s = np.abs(x.astype(np.float64)).max(axis=axes, keepdims=True) / m.qmax
    s = np.where(s > 0, s, 1.0)
    xi = np.clip(np.rint(x / s), -m.qmax, m.qmax).astype(np.int64)
    return xi, s

def score_multiplier(m, sq: np.ndarray, sk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-head (cm, csh): t = (dot * cm + 2^(csh-1)) >> csh ~= dot * sq * sk * log2(e) / sqrt(d) * 2^E."""
    C = np.asarray(sq * sk * LOG2E / math.sqrt(m.d) * 2.0**m.E, dtype=np.float64).reshape(-1)
    cm = np.zeros(C.shape, np.int64)
    csh = np.ones(C.shape, np.int64)
    smax = m.d * m.qmax * m.qmax
    for h, c in enumerate(C.tolist()):
        e = math.floor(math.log2(c))
        sh = (CM_BITS - 1) - e
        mant = int(math.floor(c * 2.0**sh + 0.5))
        if mant >= 1 << CM_BITS:
            mant >>= 1
            sh -= 1
        if sh > CSH_MAX:
            mant, sh = 0, 1          # scores below the resolution of the table: all scores equal
        if sh < CSH_MIN or (smax * mant) >> sh >= 1 << (T_BITS - 2):
            raise UserError("inputs", f"head {h}: q/k magnitudes too large for the {T_BITS}-bit score "
                                      f"(score multiplier {c:.3g}); scale the inputs down")
        cm[h], csh[h] = mant, sh
    return cm, csh


def exp2fix(m, diff: np.ndarray) -> np.ndarray:
    """2^(-diff / 2^E) * 2^P for diff >= 0: table entry of the fraction, shifted by the integer part."""
    table = np.asarray(m.exp_table, dtype=np.int64)
    sh = diff >> m.E
    val = table[diff & (m.exp_entries - 1)] >> np.minimum(sh, 62)
    return np.where(sh > m.P, 0, val)


def golden_attention(m, qi, ki, vi, cm, csh) -> np.ndarray:
    """Bit-exact hardware arithmetic. qi [Mq, H, d], ki/vi [L, H, d] ints; cm/csh [H].
    Causal (prefill): query i sees keys 0..i. Returns int outputs [Mq, H, d]."""
    Mq, H, d = qi.shape
    L = ki.shape[0]
    one = 1 << m.P
    rnd = np.left_shift(np.int64(1), csh - 1)
    qidx = np.arange(Mq)[:, None]
    mrun = np.zeros((Mq, H), np.int64)
    l = np.zeros((Mq, H), np.int64)
    acc = np.zeros((Mq, H, d), np.int64)
    for j in range(L):
        dot = np.einsum("qhd,hd->qh", qi, ki[j])
        t = (dot * cm[None] + rnd[None]) >> csh[None]
        if j == 0:
            mrun, l = t, np.full((Mq, H), one, np.int64)
            acc = one * np.broadcast_to(vi[0][None], (Mq, H, d)).astype(np.int64)
            continue
        up = t > mrun
        e = exp2fix(m, np.abs(t - mrun))
        p = np.where(up, one, e)
        alpha = np.where(up, e, one)
        if m.causal:
            active = np.broadcast_to(j <= qidx, (Mq, H))
            p = np.where(active, p, 0)
            alpha = np.where(active, alpha, one)
            up = up & active
        mrun = np.where(up, t, mrun)
        l = ((l * alpha) >> m.P) + p
        acc = ((acc * alpha[..., None]) >> m.P) + p[..., None] * vi[j][None]
    R = (1 << m.rw) // l                                      # l >= 2^P > 0
    prod = acc.astype(object) * R[..., None].astype(object)
    o = (prod + (1 << (m.sh_out - 1))) >> m.sh_out
    lo, hi = -(1 << (m.out_bits - 1)), (1 << (m.out_bits - 1)) - 1
    return np.clip(o.astype(np.int64), lo, hi)


def float_attention(q, k, v, causal: bool) -> np.ndarray:
    """float64 reference. Decode: q [H, d], k/v [L, H, d] -> [H, d]. Prefill: q [M, H, d] -> [M, H, d]."""
    d = q.shape[-1]
    if not causal:
        s = np.einsum("hd,lhd->hl", q, k) / math.sqrt(d)
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        return np.einsum("hl,lhd->hd", p, v)
    M = q.shape[0]
    s = np.einsum("ihd,jhd->hij", q, k) / math.sqrt(d)
    mask = np.tril(np.ones((M, M), bool))
    s = np.where(mask[None], s, -np.inf)
    s -= s.max(axis=2, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=2, keepdims=True)
    return np.einsum("hij,jhd->ihd", p, v)
