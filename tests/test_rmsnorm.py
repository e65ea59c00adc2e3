"""rmsnorm_quant: RMSNorm with weight fused with the per-token absmax activation quantizer.

The golden model (hwgen/kernels/rmsnorm.py) is the bit definition; csim and cosim are bit-exact against it, and
it is checked against float64 written from the formula (docs/rmsnorm_quant_numerics.md)."""
from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from hwgen import kernels
from hwgen.errors import UserError
from hwgen.kernels import parse_spec
from hwgen.kernels import rmsnorm as R
from hwgen.render import write_project

from .conftest import needs_gxx

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed; run make setup")
needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed; run make setup")

K = kernels.get("rmsnorm_quant")
DEFAULT = {"kind": "rmsnorm_quant", "name": "rq_default"}
# corners for the simulators: padding (D % lanes), one beat per token, q_bits 2 and 4, narrow formats, eps 1e-2
SMALL = {"kind": "rmsnorm_quant", "name": "rq_small", "D": 40, "lanes": 8, "x_bits": 12, "x_frac": 6, "g_bits": 8,
         "g_frac": 5, "q_bits": 4, "s_frac": 16, "M_max": 4}
PAD = {"kind": "rmsnorm_quant", "name": "rq_pad", "D": 37, "lanes": 4, "eps": 1e-2, "M_max": 5}
ONE_BEAT = {"kind": "rmsnorm_quant", "name": "rq_b1", "D": 5, "lanes": 8, "x_bits": 16, "x_frac": 8, "g_bits": 10,
            "g_frac": 8, "q_bits": 2, "s_frac": 20, "rsqrt_index_bits": 8, "M_max": 3}
WIDE = {"kind": "rmsnorm_quant", "name": "rq_wide", "D": 96, "lanes": 16, "M_max": 8}
# the widest formats (the layer's ffn_sub_norm input can be 28 bits): |p| R is 68 bits
WIDEST = {"kind": "rmsnorm_quant", "name": "rq_widest", "D": 24, "lanes": 8, "x_bits": 28, "x_frac": 8, "g_bits": 24,
          "g_frac": 20, "M_max": 4}
# odd lane counts: 3 lanes (a zero-padded tree of 4 leaves, the split 28-bit square), 1 lane (the tree is one leaf)
ODD = {"kind": "rmsnorm_quant", "name": "rq_odd", "D": 10, "lanes": 3, "x_bits": 28, "x_frac": 10, "M_max": 4}
LANE1 = {"kind": "rmsnorm_quant", "name": "rq_l1", "D": 6, "lanes": 1, "x_bits": 14, "x_frac": 6, "g_bits": 9,
         "g_frac": 7, "M_max": 4}
FLOATS = [DEFAULT, SMALL, PAD, ONE_BEAT, {**DEFAULT, "name": "rq_d2560", "D": 2560, "eps": 1e-6},
          {**DEFAULT, "name": "rq_q6", "q_bits": 6, "s_frac": 28, "x_frac": 16, "g_frac": 14}, WIDEST]


def _spec(cfg):
    spec = parse_spec(cfg)
    return spec, K.model(spec)


def _float_quant(spec, x, g):
    """torch-free float64 reference of RMSNorm(x) * gamma and the BitNet absmax quantizer of it."""
    qmax = (1 << (spec.q_bits - 1)) - 1
    eps_q = math.floor(spec.eps * 2.0 ** (2 * spec.x_frac) + 0.5) / 2.0 ** (2 * spec.x_frac)
    xr, gr = x / 2.0 ** spec.x_frac, g / 2.0 ** spec.g_frac
    rms = np.sqrt(np.mean(xr * xr, axis=1, keepdims=True) + eps_q)
    y = xr / np.where(rms > 0, rms, 1.0) * gr[None, :]           # an all-zero token with eps_int = 0: y = 0
    mx = np.abs(y).max(axis=1, keepdims=True)
    safe = np.where(mx > 0, mx, 1.0)
    q = np.where(mx > 0, np.clip(np.sign(y) * np.floor(np.abs(qmax * y / safe) + 0.5), -qmax, qmax), 0)
    s = np.where(mx[:, 0] > 0, mx[:, 0] / qmax, 0.0)
    return y, q, s


# ----------------------------------------------------------------------------- numerics

@pytest.mark.parametrize("cfg", FLOATS, ids=lambda c: c["name"])
def test_golden_vs_float64_reference(cfg):
    """s: relative error <= 2^-14 against float64 from the formula wherever s >= 2^15 LSBs (everywhere within
    1.5 2^-2k + 2^-19 relative + half an LSB); q within 1 LSB of the float quantizer of the float RMSNorm output, and equal
    for >= 99.9 % of the elements; the dequantized q s reproduces RMSNorm(x) gamma to half a q step."""
    spec, m = _spec(cfg)
    inputs = K.random_inputs(spec, np.random.default_rng(7), 24)
    out = K.golden(spec, inputs)
    ref = R.reference_scale(spec, inputs["x"], inputs["gamma"])
    s = out["s"][:, 0].astype(np.float64)
    assert np.all(s[ref == 0] == 0)
    ok = ref > 0
    err = np.abs(s[ok] - ref[ok])
    rel_bound = 1.5 * 2.0 ** (-2 * m.k) + 2.0 ** -19        # Newton step on a 2^-k table + the datapath
    assert np.all(err <= rel_bound * ref[ok] + 0.5 + 1e-9), (err / ref[ok]).max()
    big = ref >= 2.0 ** 15
    assert big.sum() >= 10
    assert np.max(np.abs(s[big] - ref[big]) / ref[big]) <= 2.0 ** -14
    y, qf, sf = _float_quant(spec, inputs["x"].astype(np.float64), inputs["gamma"].astype(np.float64))
    d = np.abs(out["q"] - qf)
    assert d.max() <= 1 and np.mean(d == 0) >= 0.999, (d.max(), np.mean(d == 0))
    np.testing.assert_allclose(s / 2.0 ** spec.s_frac, sf, rtol=2.0 ** -14, atol=2.0 ** -spec.s_frac)
    deq = out["q"] * (s / 2.0 ** spec.s_frac)[:, None]
    assert np.all(np.abs(deq - y) <= (0.5 + 2.0 ** -8) * sf[:, None] + 1e-12)


def test_golden_extremes():
    """All-zero token -> q = 0, s = 0; the largest |p| of a token is +-qmax; |q| <= qmax everywhere."""
    spec, m = _spec(DEFAULT)
    inputs = K.random_inputs(spec, np.random.default_rng(1), 8)
    x, g = inputs["x"], inputs["gamma"]
    assert (x[3] == 0).all() and (x[5] == -(1 << 23)).all()          # the extremes are there
    assert np.abs(x[4]).max() == 1 << 23 and (np.abs(x[4]) < 1 << 16).sum() == m.D - 1
    out = K.golden(spec, inputs)
    assert (out["q"][3] == 0).all() and out["s"][3, 0] == 0
    assert np.abs(out["q"]).max() <= m.qmax
    p = x * g[None, :]
    for t in range(8):
        if np.abs(p[t]).max() > 0:
            i = int(np.argmax(np.abs(p[t])))
            assert abs(out["q"][t, i]) == m.qmax and np.sign(out["q"][t, i]) == np.sign(p[t, i])


@pytest.mark.parametrize("cfg", [DEFAULT, SMALL, ONE_BEAT], ids=lambda c: c["name"])
def test_q_reciprocal_rounding_bound(cfg):
    """q against exact round-half-away-from-zero of qmax p / pmax (integer arithmetic): at most 1 LSB off, and
    only where the exact value is within delta = qmax 2^(1-NA) + 2^(q_bits-18) of a tie (exact ties included)."""
    spec, m = _spec(cfg)
    rng = np.random.default_rng(3)
    inputs = K.random_inputs(spec, rng, 16)
    x, g = inputs["x"], inputs["gamma"]
    # plus exact ties: constant gamma, x_0 = 2 qmax c (the max) and x_i = +-(2k+1) c, so qmax p_i / pmax = k + 1/2
    c = max(1, (1 << (m.x_bits - 2)) // (2 * m.qmax + 1))
    tie = (2 * rng.integers(0, m.qmax, (4, m.D)) + 1) * c * rng.choice([-1, 1], (4, m.D))
    tie[:, 0] = 2 * m.qmax * c
    gt = np.full(m.D, 1 << min(m.g_frac, m.g_bits - 2), np.int64)
    out = np.concatenate([K.golden(spec, {"x": x, "gamma": g})["q"], K.golden(spec, {"x": tie, "gamma": gt})["q"]])
    p = np.concatenate([x * g[None, :], tie * gt[None, :]])
    a = np.abs(p)
    pmax = a.max(axis=1, keepdims=True)
    safe = np.where(pmax > 0, pmax, 1)
    exact = np.where(pmax > 0, (2 * m.qmax * a + safe) // (2 * safe), 0) * np.sign(p)
    diff = np.abs(out - exact)
    assert diff.max() <= 1
    rem = (m.qmax * a) % safe
    dist = np.abs(2 * rem - safe) / (2.0 * safe)              # |frac(qmax a / pmax) - 1/2|
    delta = m.qmax * 2.0 ** (1 - R.NA) + 2.0 ** (m.q_bits - 18)
    assert np.all(dist[diff > 0] <= delta), dist[diff > 0].max()
    assert np.mean(diff[:16] == 0) > 0.999


def test_rsqrt_table_and_newton_error():
    """y1 / 2^FY against 1 / sqrt(m) over every table interval (its ends and random points): relative error
    about 1.5 2^-2k (the Newton step squares the table's ~2^-k error): < 2^-19 for the default k = 10."""
    rng = np.random.default_rng(0)
    for k, bound in ((12, 2.0 ** -20), (10, 2.0 ** -19), (8, 2.0 ** -15)):
        tab = R.rsqrt_table(k)
        worst = 0.0
        vns = list(rng.integers(1 << (R.NV - 2), 1 << R.NV, 20000))
        for i in range(1 << (k - 2), 1 << k):
            vns += [i << (R.NV - k), ((i + 1) << (R.NV - k)) - 1]
        for vn in vns:
            vn = int(vn)
            y1 = R._newton(vn, tab[vn >> (R.NV - k)])[3]
            mval = vn / 2.0 ** (R.NV - 2)
            worst = max(worst, abs(y1 / 2.0 ** R.FY * math.sqrt(mval) - 1))
        assert worst < bound, (k, worst)


def test_model_buffers_and_cycles():
    spec, m = _spec(DEFAULT)
    assert (m.beats, m.depth, m.ii) == (96, 192, 96)             # a ping-pong ring at the layer default
    assert m.ram_style == "block" and m.eps_int == round(1e-5 * 2 ** 24)
    spec, m = _spec(ONE_BEAT)
    assert m.beats == 1 and m.depth >= m.beats + m.pass1_cycles + R.SCALE_STAGES + 2   # deepened for short tokens
    perf = K.performance(parse_spec(DEFAULT))
    assert perf.latency_cycles == 2 * 96 + R.pass1_cycles(16, 24) + R.SCALE_STAGES + R.PASS2_CYCLES - 1 + 1


# ----------------------------------------------------------------------------- errors

def test_bad_config_and_inputs():
    for field, bad in (("q_bits", 9), ("eps", 0.02), ("x_bits", 1), ("lanes", 0), ("D", 0)):
        with pytest.raises(UserError) as e:
            parse_spec({**SMALL, field: bad})
        assert e.value.field == field
    with pytest.raises(UserError) as e:
        parse_spec({**SMALL, "D": 16384, "x_frac": 32, "eps": 1e-2})
    assert e.value.field == "x_frac"
    with pytest.raises(UserError) as e:
        parse_spec({**SMALL, "g_bits": 25})
    assert e.value.field == "g_bits"
    spec = parse_spec(SMALL)
    good = K.random_inputs(spec, np.random.default_rng(0), 2)
    cases = [({**good, "x": good["x"][:, :-1]}, "x", "shape"),
             ({**good, "x": good["x"][0]}, "x", "shape"),
             ({**good, "gamma": good["gamma"][None]}, "gamma", "shape"),
             ({**good, "x": good["x"] * 1000}, "x", "outside"),
             ({**good, "gamma": good["gamma"] + 200}, "gamma", "outside"),
             ({**good, "x": good["x"].astype(np.float32)}, "x", "dtype")]
    for inputs, field, word in cases:
        with pytest.raises(UserError) as e:
            K.validate_inputs(spec, inputs)
        assert e.value.field == field and word in e.value.message, e.value


# ----------------------------------------------------------------------------- simulators

@needs_gxx
@pytest.mark.parametrize("cfg", [SMALL, PAD, ONE_BEAT, DEFAULT, WIDEST], ids=lambda c: c["name"])
def test_csim_bit_exact(cfg, tmp_path):
    from hwgen.flows.csim import run_csim

    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "hls")
    summary = run_csim(tmp_path / "prj", vectors=9, seed=4)       # more tokens than M_max: several calls
    assert summary["pass"] and summary["compile_warnings"] == "", summary


@needs_iverilog
@pytest.mark.parametrize("cfg,stall", [(SMALL, 0), (PAD, 35), (ONE_BEAT, 0), (ONE_BEAT, 40), (WIDE, 20), (WIDEST, 0),
                                       (ODD, 0), (LANE1, 30)],
                         ids=["small", "pad-stall", "b1", "b1-stall", "wide-stall", "widest", "lanes3", "lanes1-stall"])
def test_rtl_cosim_bit_exact_and_cycle_model(cfg, stall, tmp_path):
    from hwgen.flows.cosim import run_cosim

    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "rtl")
    summary = run_cosim(tmp_path / "prj", vectors=9, seed=3, stall=stall, simulator="icarus")
    assert summary["pass"] and summary["tlast_errors"] == 0, summary
    perf = K.performance(spec)
    if stall == 0:
        assert (summary["latency_cycles"], summary["ii"]) == (perf.latency_cycles, perf.ii)
        # the s beat leaves with the token's first q beat
        assert summary["first_s"] == summary["first_q"]


@needs_verilator
def test_cosim_verilator_user_data(tmp_path):
    from hwgen.flows.cosim import run_cosim

    spec = parse_spec(PAD)
    write_project(spec, tmp_path / "prj", "rtl")
    rng = np.random.default_rng(9)
    x = rng.integers(-(1 << 23), 1 << 23, (4, 37))
    g = rng.integers(-(1 << 15), 1 << 15, 37)
    np.savez(tmp_path / "in.npz", x=x, gamma=g)
    summary = run_cosim(tmp_path / "prj", tmp_path / "in.npz", tmp_path / "out.npz", simulator="verilator", stall=25)
    assert summary["pass"], summary
    got = np.load(tmp_path / "out.npz")
    want = K.golden(spec, {"x": x, "gamma": g})
    np.testing.assert_array_equal(got["q"], want["q"])
    np.testing.assert_array_equal(got["s"], want["s"][:, 0])
    assert got["q"].dtype == np.int8 and got["s"].dtype == np.uint32


# ----------------------------------------------------------------------------- synthesis and graph

@needs_yosys
def test_open_synthesis_and_analytical_estimate(tmp_path):
    """Open synthesis of a small design: memories are LUTRAM/BRAM (not flip-flops), the DSP count matches the
    graph's estimate exactly, LUT and FF within 25 %."""
    from hwgen.flows.synth_open import run_open_synth

    cfg = {"kind": "rmsnorm_quant", "name": "rq_syn", "D": 32, "lanes": 2, "x_bits": 12, "x_frac": 6, "g_bits": 8,
           "g_frac": 6, "M_max": 4}
    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "rtl")
    rep = run_open_synth(tmp_path / "prj", tmp_path / "syn", timeout_s=300)
    assert rep.status == "ok", rep.error
    assert not rep.extra["unmapped_cells"]
    est = K.graph(spec).analytical()
    assert rep.resources.dsp == est["dsp"]
    assert rep.resources.lutram > 0 and rep.resources.bram36 == est["bram36"]
    for key in ("lut", "ff"):
        got = getattr(rep.resources, key)
        assert abs(got - est[key]) <= 0.25 * got, (key, got, est[key])
    assert (rep.latency_cycles, rep.ii) == (est["latency_cycles"], est["ii"])


@needs_iverilog
def test_composition_feeds_a_tlmm(tmp_path):
    """q streams straight into a TLMM's int8 x (the BitLinear it exists for); s stays a top-level output.
    Bit-exact, and latency = the sum along the chain, ii = the slowest member's, exactly."""
    from hwgen.flows.cosim import run_cosim

    cfg = {"kind": "composed", "name": "rms_mm",
           "kernels": [{**SMALL, "name": "rms", "D": 24, "q_bits": 8},
                       {"kind": "tlmm", "name": "mm", "K": 24, "N": 8, "G": 3, "T": 4, "Q": 4, "M_max": 4}],
           "streams": [{"from": "rms.q", "to": "mm.x"}]}
    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "rtl")
    perf = kernels.get("composed").performance(spec)
    summary = run_cosim(tmp_path / "prj", vectors=3, seed=2, simulator="icarus")
    assert summary["pass"] and summary["tlast_errors"] == 0, summary
    assert (summary["latency_cycles"], summary["ii"]) == (perf.latency_cycles, perf.ii)
