"""Decisions for one hls4ml Dense layer, free of hls4ml and TensorFlow: is it a ternary matmul (and with which
per-column scale alpha), which TLMM `act_bits` its input grid needs, and the TLMM parameters (from the layer's
`TLMM:` config, else the analytical estimate's best area x time design).

hls4ml's Dense computes, per output n,  res[n] = res_t( accum_t(bias[n]) + sum_k accum_t(x[k] * w[k, n]) ).
With w[k, n] = t[k, n] * alpha[n] (t ternary) and x[k] = X[k] * 2^-frac (X the input's raw integer), every
product is exact in accum_t when accum_t has at least frac + frac(alpha) fractional bits, and with ap_fixed's
wrap-around overflow the sum of the products equals accum_t(alpha[n] * S[n] * 2^-frac), S = X @ t: the integer
sum the TLMM computes. That is the whole bit-exactness argument; `exactness_problem` checks its premises.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwgen.errors import UserError

MAX_ACT_BITS = 8        # TLMMSpec.act_bits: signed activations of 2..8 bits
MAX_BEAT_BITS = 1024    # ap_int's default cap: hls4ml's headers include ap_int.h before ours (no AP_INT_MAX_W)
TLMM_KEYS = ("G", "T", "Q", "table_style", "target", "weight_memory")
DEFAULT_G = 3           # 27-entry tables fit one 32-deep LUTRAM (BACKGROUND section 6: G=3 is the sweet spot)
CANDIDATE_TQ = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class Grid:
    """An input precision as the integer grid X * 2^-frac, X of `width` bits (signed or not)."""

    width: int
    frac: int
    signed: bool

    @property
    def act_bits(self) -> int:
        """The kernel's activations are signed: an unsigned b-bit input needs b + 1 bits (0..2^b - 1)."""
        return self.width if self.signed else self.width + 1


@dataclass
class Plan:
    """What to do with one Dense layer: `tlmm` (with spec fields and data) or keep hls4ml's Dense (`reason`)."""

    layer: str
    use_tlmm: bool
    reason: str = ""
    warn: bool = False                      # a fallback the user should hear about
    spec: dict = field(default_factory=dict)
    ternary: np.ndarray | None = None       # [K, N] in {-1, 0, 1}
    alpha: np.ndarray | None = None         # [N]
    grid: Grid | None = None


def precision_grid(precision) -> Grid | None:
    """hls4ml FixedPrecisionType / IntegerPrecisionType -> Grid; None for anything else (float, binary, ...)."""
    width = getattr(precision, "width", None)
    integer = getattr(precision, "integer", None)
    signed = getattr(precision, "signed", None)
    if not isinstance(width, int) or not isinstance(integer, int) or signed is None:
        return None
    if type(precision).__name__ not in ("FixedPrecisionType", "IntegerPrecisionType"):
        return None
    return Grid(width=width, frac=width - integer, signed=bool(signed))


def exact_in(values: np.ndarray, grid: Grid) -> bool:
    """Every value lies on the grid and inside its range (hls4ml's cast to this type is then the identity)."""
    raw = np.asarray(values, dtype=np.float64) * 2.0 ** grid.frac
    if not np.all(raw == np.round(raw)):
        return False
    lo, hi = (-(1 << (grid.width - 1)), (1 << (grid.width - 1)) - 1) if grid.signed else (0, (1 << grid.width) - 1)
    return bool(raw.min(initial=0) >= lo and raw.max(initial=0) <= hi)


def ternary_factor(w: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """w [K, N] = t * alpha with t in {-1, 0, 1} and one magnitude alpha[n] > 0 per column; None otherwise.
    An all-zero column gets alpha 0."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        return None
    mag = np.abs(w)
    alpha = mag.max(axis=0)
    if not np.all((mag == 0) | (mag == alpha[None, :])):
        return None
    return np.sign(w).astype(np.int64), alpha


def _estimate_score(spec: dict) -> tuple[float, float]:
    from hwgen.kernels import parse_spec
    from hwgen.surrogate.analytical import estimate

    est = estimate(parse_spec(spec))
    area = est["lut"] + est["lutram"]
    return area * est["ii"], est["ii"]


def beat_problem(spec: dict) -> str:
    from hwgen.kernels import get, parse_spec

    m = get("tlmm").model(parse_spec(spec))
    wide = {name: bits for name, bits in (("input beat (T*G*act_bits)", m.x_beat_bits),
                                         ("output beat (Q*acc_bits)", m.y_beat_bits),
                                         ("weight word (T*index bits)", m.word_bits)) if bits > MAX_BEAT_BITS}
    if not wide:
        return ""
    name, bits = next(iter(wide.items()))
    return f"{name} of {bits} bits exceeds {MAX_BEAT_BITS} inside an hls4ml project; use a smaller T or Q"


def default_tq(base: dict) -> tuple[int, int]:
    """T, Q minimising the analytical estimate's (LUT + LUTRAM) x cycles per token, among beats that fit."""
    best = None
    K, N, G = base["K"], base["N"], base["G"]
    for T in CANDIDATE_TQ:
        if T > 1 and T * G > K:          # a chunk wider than the input only adds zero padding
            continue
        for Q in CANDIDATE_TQ:
            if Q > 1 and Q > N:
                continue
            spec = {**base, "T": T, "Q": Q}
            if beat_problem(spec):
                continue
            score = _estimate_score(spec)
            if best is None or score < best[0]:
                best = (score, T, Q)
    if best is None:
        return 1, 1
    return best[1], best[2]


def tlmm_spec(layer: str, K: int, N: int, act_bits: int, user: dict, default_target: str) -> dict:
    """The TLMM spec dict of a layer: the `TLMM:` config keys override the defaults. Unknown keys are errors."""
    where = f"LayerName.{layer}.TLMM"
    if not isinstance(user, dict):
        raise UserError(where, f"must be a mapping of {', '.join(TLMM_KEYS)} (or true); got {user!r}")
    unknown = sorted(set(user) - set(TLMM_KEYS))
    if unknown:
        raise UserError(f"{where}.{unknown[0]}", f"unknown key; allowed: {', '.join(TLMM_KEYS)}")
    spec = {"kind": "tlmm", "name": safe_name(f"tlmm_{layer}"), "target": user.get("target", default_target),
            "K": K, "N": N, "M_max": 1, "act_bits": act_bits, "G": user.get("G", DEFAULT_G),
            "table_style": user.get("table_style", "full"), "weight_memory": user.get("weight_memory", "auto")}
    from hwgen.kernels import parse_spec

    probe = {**spec, "T": user.get("T", 1), "Q": user.get("Q", 1)}
    try:
        parse_spec(probe)                 # range errors name the TLMM key
    except UserError as err:
        raise UserError(f"{where}.{err.field}", err.message) from None
    if "T" in user and "Q" in user:
        spec["T"], spec["Q"] = user["T"], user["Q"]
    else:
        T, Q = default_tq(spec)
        spec["T"], spec["Q"] = user.get("T", T), user.get("Q", Q)
    problem = beat_problem(spec)
    if problem:
        raise UserError(where, problem)
    return spec


def safe_name(text: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    if not out[:1].isalpha():
        out = "L" + out
    return out[:60]


def plan_dense(layer: str, *, weights: np.ndarray, weight_precision, input_precision, accum_precision,
               io_type: str, layer_config: dict, default_target: str) -> Plan:
    """Decide TLMM or hls4ml's Dense for one layer. Raises UserError only where the user forced TLMM."""
    user_tlmm = layer_config.get("TLMM")
    forced = user_tlmm is not None and user_tlmm is not False
    if user_tlmm is True:
        user_tlmm = {}

    def keep(reason: str, warn: bool = True) -> Plan:
        if forced:
            raise UserError(f"LayerName.{layer}.TLMM", reason)
        return Plan(layer, False, reason, warn=warn)

    if user_tlmm is False:
        return Plan(layer, False, "TLMM: false in the layer config")
    factor = ternary_factor(weights)
    wgrid = precision_grid(weight_precision)
    if factor is None:
        return keep("the kernel is not ternary: weights are not all in {-1, 0, 1} x alpha per output column",
                    warn=False)
    t, alpha = factor
    if wgrid is None or not exact_in(np.concatenate([alpha, -alpha]), wgrid):
        return keep(f"the ternary scale alpha is not exact in the weight precision {weight_precision}, so hls4ml "
                    "rounds +alpha and -alpha differently")
    if "Strategy" in layer_config:
        return keep(f"Strategy: {layer_config['Strategy']} is set on the layer", warn=False)
    if str(io_type).lower() != "io_stream":
        return keep(f"io_type {io_type!r} is not supported by hwgen's TLMM; convert with io_type='io_stream'")
    grid = precision_grid(input_precision)
    if grid is None:
        return keep(f"its input precision {input_precision} is not an integer grid (fixed/int types only)")
    if grid.act_bits > MAX_ACT_BITS:
        kind = "signed" if grid.signed else f"unsigned (needs {grid.act_bits} signed bits)"
        return keep(f"its input is {grid.width} bits {kind}, wider than the TLMM's {MAX_ACT_BITS}-bit activations; "
                    "quantize the input to at most 8 bits signed / 7 bits unsigned")
    if grid.frac < 0:
        return keep(f"its input precision {input_precision} has a grid step above 1 (more integer bits than width)")
    agrid = precision_grid(accum_precision)
    if agrid is None or agrid.frac < grid.frac + wgrid.frac:
        return keep(f"its accumulator {accum_precision} rounds the products (needs >= {grid.frac + wgrid.frac} "
                    "fractional bits), so hls4ml's per-product rounding cannot be reproduced")
    sat = str(getattr(accum_precision, "saturation_mode", "WRAP")).upper()
    if "SAT" in sat:
        return keep(f"its accumulator {accum_precision} saturates; the TLMM reproduces wrap-around only")
    K, N = t.shape
    spec = tlmm_spec(layer, K, N, max(2, grid.act_bits), user_tlmm or {}, default_target)
    return Plan(layer, True, spec=spec, ternary=t, alpha=alpha, grid=grid)


def default_target_for_part(part: str | None) -> str:
    """The hwgen target whose part matches hls4ml's `Part`, else kv260."""
    from hwgen.targets import TARGETS

    part = (part or "").lower()
    for t in TARGETS.values():
        if part and part.startswith(t.part.lower().split("-")[0]):
            return t.name
    return "kv260"


def describe(spec: dict) -> str:
    return (f"G={spec['G']} T={spec['T']} Q={spec['Q']} {spec['table_style']} tables, act_bits={spec['act_bits']}, "
            f"{spec['G'] * spec['T'] * spec['Q']} MACs/cycle, cycles/token={cycles(spec)}")


def cycles(spec: dict) -> int:
    from hwgen.kernels import get, parse_spec

    s = parse_spec(spec)
    return get("tlmm").performance(s).ii


__all__ = ["Grid", "Plan", "plan_dense", "precision_grid", "ternary_factor", "tlmm_spec", "default_tq",
           "default_target_for_part", "describe"]
