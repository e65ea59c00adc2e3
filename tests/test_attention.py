"""Streaming attention kernels: fixed-point golden model vs float64, bit-exact C-simulation and RTL
cosimulation on small configs, user data via .npz, bad-input errors, cycle model."""
import shutil

import numpy as np
import pytest

from hwgen.errors import UserError
from hwgen import kernels
from hwgen.kernels.attention_numerics import exp2fix, float_attention
from hwgen.render import render_files, write_project
from hwgen.kernels import parse_spec

from .conftest import check_rtl_cosim_against_contract, needs_gxx

DECODE = {"kind": "attention_decode", "name": "att_dec", "H": 4, "d": 16, "lanes": 4, "head_par": 2,
          "L_max": 24, "exp_index_bits": 6}
PREFILL = {"kind": "attention_prefill", "name": "att_pre", "H": 2, "d": 16, "lanes": 8, "M_max": 16,
           "N_pe": 3, "reversed": True, "exp_index_bits": 6}
needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                                    reason="iverilog not installed; run make setup")
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed; run make setup")


def _kernel(cfg):
    spec = parse_spec(cfg)
    return spec, kernels.get(spec.kind)


def _npz(path, **arrays):
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


# --------------------------------------------------------------------------- numerics

@pytest.mark.parametrize("cfg", [
    {"kind": "attention_decode", "H": 4, "d": 64, "L_max": 128},
    {"kind": "attention_decode", "H": 4, "d": 96, "L_max": 512, "lanes": 32},
    {"kind": "attention_prefill", "H": 2, "d": 64, "M_max": 64},
], ids=["dec-d64-L128", "dec-d96-L512", "pre-d64-M64"])
def test_golden_accuracy_vs_float64(cfg):
    spec, k = _kernel(cfg)
    inputs = k.random_inputs(spec, np.random.default_rng(7), 3)
    metrics = k.extra_metrics(spec, inputs, k.golden(spec, inputs))
    # int8 quantization dominates; the fixed-point datapath adds little (docs/attention_numerics.md)
    assert metrics["max_rel_err_vs_float"] < 0.05
    assert metrics["mean_rel_err_vs_float"] < 0.01


def test_fixed_point_datapath_close_to_float_on_quantized_inputs():
    """Against float attention on the *dequantized* ints, only the exp table / divider error remains."""
    spec, k = _kernel({"kind": "attention_decode", "H": 4, "d": 64, "L_max": 256, "exp_index_bits": 8})
    inputs = k.random_inputs(spec, np.random.default_rng(3), 2)
    y = k.user_output(spec, inputs, k.golden(spec, inputs))["o"]
    for n, L in enumerate(inputs["lens"].tolist()):
        q = inputs["qi"][n] * inputs["sq"][n][:, None]
        kk = inputs["ki"][n, :L] * inputs["sk"][n][None, :, None]
        v = inputs["vi"][n, :L] * inputs["sv"][n][None, :, None]
        ref = float_attention(q, kk, v, causal=False)
        assert np.abs(y[n] - ref).max() / np.abs(ref).max() < 0.005


def test_exp_table_and_exp2fix():
    spec, k = _kernel({"kind": "attention_decode", "exp_index_bits": 4, "exp_bits": 12})
    m = k.model(spec)
    assert m.exp_table[0] == 1 << 12 and len(m.exp_table) == 16
    diff = np.arange(0, 16 * 16)
    got = exp2fix(m, diff) / 2.0**12
    want = 2.0 ** (-diff / 16.0)
    assert np.abs(got - want).max() <= 2.0**-12
    assert exp2fix(m, np.array([16 * 13, 10**9])).tolist() == [0, 0]


def test_prefill_orders_agree_and_reversed_saves_cycles():
    spec_r, k = _kernel({**PREFILL, "N_pe": 4})
    spec_f, _ = _kernel({**PREFILL, "N_pe": 4, "reversed": False})
    inputs = k.random_inputs(spec_r, np.random.default_rng(1), 2)
    assert np.array_equal(k.golden(spec_r, inputs)["o"], k.golden(spec_f, inputs)["o"])
    mr, mf = k.model(spec_r), k.model(spec_f)
    assert k.call_cycles(mr, 16) < k.call_cycles(mf, 16)
    big_r, _ = _kernel({"kind": "attention_prefill", "d": 64, "M_max": 128, "N_pe": 16})
    big_f, _ = _kernel({"kind": "attention_prefill", "d": 64, "M_max": 128, "N_pe": 16, "reversed": False})
    assert k.call_cycles(k.model(big_r), 128) < 0.7 * k.call_cycles(k.model(big_f), 128)
    # reversed sweeps: last block first, each cut at the block's last query
    assert k.schedule(mr, 10) == [(8, 2, 10), (4, 4, 8), (0, 4, 4)]
    assert k.schedule(mf, 10) == [(0, 4, 10), (4, 4, 10), (8, 2, 10)]


# --------------------------------------------------------------------------- bad input

def test_bad_config_lanes_and_head_par():
    with pytest.raises(UserError, match="lanes"):
        parse_spec({"kind": "attention_decode", "d": 96, "lanes": 64})
    with pytest.raises(UserError, match="head_par"):
        parse_spec({"kind": "attention_decode", "H": 6, "head_par": 4})
    with pytest.raises(UserError, match="L_max"):
        parse_spec({"kind": "attention_decode", "L_max": 0})


def test_bad_inputs(tmp_path):
    spec, k = _kernel(DECODE)
    rng = np.random.default_rng(0)
    q, kv = rng.standard_normal((4, 16)), rng.standard_normal((30, 4, 16))
    with pytest.raises(UserError, match="L_max"):
        k.load_inputs(spec, _npz(tmp_path / "long.npz", q=q, k=kv, v=kv))
    kv = kv[:10]
    with pytest.raises(UserError, match="^q"):
        k.load_inputs(spec, _npz(tmp_path / "q.npz", q=q[:, :8], k=kv, v=kv))
    with pytest.raises(UserError, match="^k"):
        k.load_inputs(spec, _npz(tmp_path / "k.npz", q=q, k=kv[:, :3], v=kv))
    with pytest.raises(UserError, match="^v"):
        k.load_inputs(spec, _npz(tmp_path / "v.npz", q=q, k=kv, v=kv[:9]))
    bad = kv.copy()
    bad[2, 1, 3] = np.nan
    with pytest.raises(UserError, match="NaN"):
        k.load_inputs(spec, _npz(tmp_path / "nan.npz", q=q, k=kv, v=bad))
    with pytest.raises(UserError, match="inputs"):
        k.load_inputs(spec, _npz(tmp_path / "missing.npz", q=q, k=kv))
    spec_p, kp = _kernel(PREFILL)
    x = rng.standard_normal((5, 2, 16))
    with pytest.raises(UserError, match="^q"):
        kp.load_inputs(spec_p, _npz(tmp_path / "pq.npz", q=x[:4], k=x, v=x))
    with pytest.raises(UserError, match="M_max"):
        big = rng.standard_normal((17, 2, 16))
        kp.load_inputs(spec_p, _npz(tmp_path / "pm.npz", q=big, k=big, v=big))


def test_render_both_backends():
    for cfg in (DECODE, PREFILL):
        spec, k = _kernel(cfg)
        files = render_files(spec, "both")
        top = cfg["name"]
        for path in (f"hls/{top}.h", f"hls/{top}.cpp", f"hls/tb_{top}.cpp", f"rtl/{top}.v", f"rtl/tb_{top}.v"):
            assert path in files
        assert f"module {top} (" in files[f"rtl/{top}.v"]
        assert f"module tb_{top};" in files[f"rtl/tb_{top}.v"]
        # the exp table in both backends comes from the same numbers
        table = k.model(spec).exp_table
        assert f"{table[1]}u," in files[f"hls/{top}.cpp"]
        assert f"'d{table[1]};" in files[f"rtl/{top}.v"]


# --------------------------------------------------------------------------- C-simulation

@needs_gxx
@pytest.mark.parametrize("cfg", [DECODE, PREFILL, {**PREFILL, "name": "att_pre_fwd", "reversed": False}],
                         ids=["decode", "prefill-reversed", "prefill-forward"])
def test_csim_bit_exact(cfg, tmp_path):
    from hwgen.flows.csim import run_csim

    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "hls")
    summary = run_csim(tmp_path / "prj", vectors=3, seed=11)
    assert summary["pass"], summary
    assert summary["mismatches"] == 0 and summary["compile_warnings"] == ""
    assert summary["max_rel_err_vs_float"] < 0.05


@needs_gxx
def test_csim_user_npz(tmp_path):
    from hwgen.flows.csim import run_csim

    rng = np.random.default_rng(5)
    spec = parse_spec(DECODE)
    write_project(spec, tmp_path / "dec", "hls")
    q, k, v = rng.standard_normal((4, 16)), rng.standard_normal((13, 4, 16)), rng.standard_normal((13, 4, 16))
    inp = _npz(tmp_path / "in.npz", q=q.astype(np.float32), k=k.astype(np.float32), v=v.astype(np.float32))
    summary = run_csim(tmp_path / "dec", inp, tmp_path / "out.npy")
    assert summary["pass"] and summary["vectors"] == 1
    out = np.load(tmp_path / "out.npy")
    assert out.shape == (4, 16) and out.dtype == np.float32
    ref = float_attention(q, k, v, causal=False)
    assert np.abs(out - ref).max() == pytest.approx(summary["max_abs_err_vs_float"], rel=1e-4)

    spec = parse_spec(PREFILL)
    write_project(spec, tmp_path / "pre", "hls")
    x = rng.standard_normal((3, 7, 2, 16)).astype(np.float32)
    inp = _npz(tmp_path / "pin.npz", q=x[0], k=x[1], v=x[2])
    summary = run_csim(tmp_path / "pre", inp, tmp_path / "pout.npy")
    assert summary["pass"]
    out = np.load(tmp_path / "pout.npy")
    assert out.shape == (7, 2, 16)
    ref = float_attention(x[0].astype(np.float64), x[1].astype(np.float64), x[2].astype(np.float64), causal=True)
    assert np.abs(out - ref).max() / np.abs(ref).max() < 0.05


# --------------------------------------------------------------------------- RTL cosimulation

@needs_iverilog
@pytest.mark.parametrize("cfg,stall", [
    (DECODE, 0), (PREFILL, 0), ({**PREFILL, "name": "att_pre_fwd", "reversed": False}, 30),
    # B = d / lanes = 1 (one-stage S.V update, register accumulators), exp ROM in block RAM (E = 8)
    ({"kind": "attention_decode", "name": "att_dec_b1", "H": 2, "d": 16, "lanes": 16, "L_max": 20}, 0),
    # B = 3, odd unit count (the last block RAM ROM serves one unit), N_pe not a power of two, stalls
    ({"kind": "attention_prefill", "name": "att_pre_b3", "H": 2, "d": 24, "lanes": 8, "M_max": 11, "N_pe": 5}, 25),
], ids=["decode", "prefill-reversed", "prefill-forward-stall", "decode-b1", "prefill-b3-npe5-stall"])
def test_rtl_cosim_bit_exact_and_cycle_model(cfg, stall, tmp_path):
    spec = parse_spec(cfg)
    summary = check_rtl_cosim_against_contract(spec, tmp_path / "prj", 2, 3, stall)
    if stall == 0:
        # both calls at the maximum length: the contract's latency of one call and the interval between two
        k = kernels.get(spec.kind)
        assert summary["ii"] == k.performance(spec).latency_cycles - k.model(spec).lat_out


FIXED = {"data_bits": 16, "quant": "fixed", "data_frac": 8}


def test_fixed_quant_decode_step_equals_prefill_row():
    """Fixed-point q/k/v (no per-call scales): decoding token p against keys 0..p gives exactly the bits of row p
    of the causal prefill, which is what lets a layer's decode reuse the cache its prefill wrote."""
    rng = np.random.default_rng(8)
    M, H, d = 9, 2, 16
    q, k, v = (np.rint(rng.standard_normal((M, H, d)) * 256) / 256 for _ in range(3))
    pre = parse_spec({"kind": "attention_prefill", "H": H, "d": d, "lanes": 4, "M_max": 16, **FIXED})
    kp = kernels.get(pre.kind)
    rows = kp.golden(pre, kp.validate_inputs(pre, {"q": q, "k": k, "v": v}))["o"][0]
    dec = parse_spec({"kind": "attention_decode", "H": H, "d": d, "lanes": 4, "L_max": 16, **FIXED})
    kd = kernels.get(dec.kind)
    for p in (0, 4, M - 1):
        inp = kd.validate_inputs(dec, {"q": q[p], "k": k[: p + 1], "v": v[: p + 1]})
        np.testing.assert_array_equal(kd.golden(dec, inp)["o"][0], rows[p])
        assert np.all(inp["sk"] == 2.0 ** -8)


@needs_iverilog
@needs_gxx
@pytest.mark.parametrize("cfg", [
    {"kind": "attention_decode", "name": "att_dec_fx", "H": 2, "d": 8, "lanes": 4, "head_par": 2, "L_max": 16, **FIXED},
    {"kind": "attention_prefill", "name": "att_pre_fx", "H": 2, "d": 8, "lanes": 4, "M_max": 12, "N_pe": 2, **FIXED},
], ids=["decode", "prefill"])
def test_fixed_quant_16bit_csim_and_cosim(cfg, tmp_path):
    from hwgen.flows.cosim import run_cosim
    from hwgen.flows.csim import run_csim

    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "both")
    assert run_csim(tmp_path / "prj", vectors=3, seed=2)["pass"]
    summary = run_cosim(tmp_path / "prj", vectors=2, seed=2, simulator="icarus")
    perf = kernels.get(spec.kind).performance(spec)
    assert summary["pass"] and (summary["latency_cycles"], summary["ii"]) == (perf.latency_cycles, perf.ii)


@needs_iverilog
@needs_gxx
@pytest.mark.parametrize("cfg", [
    # head_par 2 divides the group of 4: the one K/V head is streamed twice per call (H / head_par groups)
    {"kind": "attention_decode", "name": "att_dec_gqa", "H": 4, "d": 8, "lanes": 4, "head_par": 2, "kv_heads": 1,
     "L_max": 12},
    # head_par 4 = 2 groups of 2: each K/V beat carries both K/V heads, every K/V head is streamed once
    {"kind": "attention_prefill", "name": "att_pre_gqa", "H": 4, "d": 8, "lanes": 4, "head_par": 4, "kv_heads": 2,
     "M_max": 10, "N_pe": 2, **FIXED},
], ids=["decode-restream", "prefill-read-once"])
def test_gqa_csim_cosim_and_torch(cfg, tmp_path):
    from hwgen.flows.cosim import run_cosim
    from hwgen.flows.csim import run_csim
    torch = pytest.importorskip("torch")

    spec = parse_spec(cfg)
    kernel = kernels.get(spec.kind)
    m = kernel.model(spec)
    assert kernel.ports(spec)[2].elements == m.kv_par * m.lanes
    write_project(spec, tmp_path / "prj", "both")
    summary = run_csim(tmp_path / "prj", vectors=3, seed=4)
    assert summary["pass"] and summary["max_rel_err_vs_float"] < 0.05
    summary = run_cosim(tmp_path / "prj", vectors=2, seed=4, simulator="icarus")
    perf = kernel.performance(spec)
    assert summary["pass"] and (summary["latency_cycles"], summary["ii"]) == (perf.latency_cycles, perf.ii)
    # K/V bytes per call: every K/V head once when head_par covers its group
    restream = 1 if spec.head_par % m.kv_group == 0 else m.kv_group // spec.head_par
    keys = sum(sw for _, _, sw in kernel.schedule(m, m.len_max))
    assert perf.bytes["k"] == keys * m.kv_heads * m.d * restream * -(-m.data_bits // 8)
    # against torch's own grouped-query attention
    rng = np.random.default_rng(1)
    L = m.len_max
    q = rng.standard_normal((L, m.H, m.d)) if m.causal else rng.standard_normal((m.H, m.d))
    k, v = rng.standard_normal((2, L, m.kv_heads, m.d))
    inputs = kernel.validate_inputs(spec, {"q": q, "k": k, "v": v})
    got = kernel.user_output(spec, inputs, kernel.golden(spec, inputs))["o"]
    tq = torch.tensor(q if m.causal else q[None]).transpose(0, 1)[None]          # [1, H, Lq, d]
    tk, tv = (torch.tensor(a).transpose(0, 1)[None] for a in (k, v))             # [1, kv_heads, L, d]
    ref = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=m.causal, enable_gqa=True)
    ref = ref[0].transpose(0, 1).numpy()
    ref = ref if m.causal else ref[0]
    assert np.abs(got - ref).max() / np.abs(ref).max() < 0.05


# --------------------------------------------------------------------------- open synthesis

@needs_yosys
@pytest.mark.parametrize("cfg", [
    {"kind": "attention_decode", "name": "syn_dec", "H": 2, "d": 128, "lanes": 2, "L_max": 64, "exp_index_bits": 5},
    {"kind": "attention_prefill", "name": "syn_pre", "H": 2, "d": 64, "lanes": 2, "M_max": 16, "N_pe": 2},
], ids=["decode", "prefill"])
def test_open_synthesis_maps_buffers_to_memories(cfg, tmp_path):
    """Yosys maps the q buffers, accumulators and (p, alpha) FIFO to LUTRAM (not flip-flops + muxes), the
    exp table to a block RAM ROM when exp_index_bits >= 8 (else LUT logic), and finishes quickly."""
    from hwgen.flows.synth_open import run_open_synth

    spec, k = _kernel(cfg)
    m = k.model(spec)
    write_project(spec, tmp_path / "prj", "rtl")
    rep = run_open_synth(tmp_path / "prj", tmp_path / "syn", timeout_s=300)
    assert rep.status == "ok", rep.error
    cells = rep.extra["cells"]
    assert not rep.extra["unmapped_cells"]
    buffer_bits = m.units * m.d * (m.data_bits + m.acc_bits) + m.units * m.fifo_depth * 2 * m.pv_bits
    lutram_cells = sum(v for c, v in cells.items() if c.startswith(("RAM32M", "RAM64M", "RAM32X", "RAM64X", "RAM128X")))
    assert lutram_cells > 0 and rep.resources.lutram * 64 >= buffer_bits    # a LUTRAM LUT holds <= 64 bits
    assert rep.resources.ff < 0.5 * buffer_bits, (rep.resources, buffer_bits)  # the buffers are not flip-flops
    assert rep.resources.bram36 == (0.5 * -(-m.units // 2) if m.E >= 8 else 0)
    assert rep.fits and rep.resources.dsp > 0
