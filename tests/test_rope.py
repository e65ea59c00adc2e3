"""The rope kernel (hwgen/kernels/rope.py): golden model against an independent float64 RoPE (transformers'
apply_rotary_pos_emb when transformers imports, else torch written from the math) with a stated bound; C-simulation
and RTL cosimulation bit-exact against the golden at parameter corners (saturation, extremes, shift 0, one beat
per half head, stalls); input validation; the analytical graph."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hwgen import kernels
from hwgen.errors import UserError
from hwgen.kernels import parse_spec
from hwgen.kernels.rope import rope_tables
from hwgen.render import write_project

from .conftest import needs_gxx

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed; run make setup")
needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")

K = kernels.get("rope")
SMALL = {"kind": "rope", "name": "rope_s", "heads": 2, "d": 16, "lanes": 4, "M_max": 4, "L_max": 16,
         "in_bits": 10, "in_frac": 6, "c_bits": 12}
CORNERS = [
    SMALL,
    # narrow saturating output (out_bits < in_bits), more output fraction bits, BitNet's theta
    {"kind": "rope", "name": "rope_sat", "heads": 3, "d": 12, "lanes": 2, "M_max": 3, "L_max": 40,
     "theta": 500000.0, "in_bits": 8, "in_frac": 4, "out_bits": 7, "out_frac": 5, "c_bits": 10},
    # one beat per half head (lanes = d/2), one head, shift 0 (out_frac = in_frac + c_frac), block-RAM ROM
    {"kind": "rope", "name": "rope_h1", "heads": 1, "d": 8, "lanes": 4, "M_max": 5, "L_max": 9,
     "in_bits": 6, "in_frac": 2, "out_bits": 16, "out_frac": 8, "c_bits": 8, "rom_style": "bram"},
    # table: split (angle addition): LUT tables; saturating with block-RAM tables; k = 1 with 18-bit tables
    {**SMALL, "name": "rope_sp", "table": "split"},
    {"kind": "rope", "name": "rope_sps", "heads": 3, "d": 12, "lanes": 2, "M_max": 3, "L_max": 40,
     "theta": 500000.0, "in_bits": 8, "in_frac": 4, "out_bits": 7, "out_frac": 5, "c_bits": 10, "table": "split",
     "rom_style": "bram"},
    {"kind": "rope", "name": "rope_sph", "heads": 1, "d": 8, "lanes": 4, "M_max": 5, "L_max": 9, "in_bits": 6,
     "in_frac": 2, "out_bits": 16, "out_frac": 8, "c_bits": 18, "table": "split", "split_k": 1},
]
# the BitNet 0.73B layer's rope step (hwgen/llm/layer.py) with the direct and the split table
LAYER = {"kind": "rope", "heads": 32, "d": 96, "lanes": 16, "L_max": 2048, "theta": 500000.0, "in_bits": 16,
         "in_frac": 8, "out_bits": 16, "out_frac": 8, "M_max": 16}


def table_error(m) -> float:
    """Largest |cos/sin value - exact| in real units: half a table LSB (direct); split: the four table entries'
    half LSBs through cos a cos b - sin a sin b (at most (|cos a| + |sin a| + |cos b| + |sin b|) e <= 2 sqrt 2 e,
    plus 2 e^2) and the combination's own rounding e, e = 2^-(c_frac+1)."""
    e = 2.0 ** -(m.c_frac + 1)
    return (1 + 2 * np.sqrt(2)) * e + 2 * e * e if m.split else e


def _float_reference(x, pos, heads, d, theta):
    """RoPE in float64 from transformers' formula: cos/sin of cat(freqs, freqs), q * cos + rotate_half(q) * sin."""
    import torch

    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    freqs = torch.as_tensor(pos, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)                         # [M, d]
    cos, sin = emb.cos()[None], emb.sin()[None]                     # [1, M, d] (batch 1)
    q = torch.as_tensor(x, dtype=torch.float64).reshape(-1, heads, d).transpose(0, 1)[None]   # [1, H, M, d]
    try:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
        out, _ = apply_rotary_pos_emb(q, q, cos, sin)
    except ImportError:
        rot = torch.cat((-q[..., d // 2:], q[..., : d // 2]), dim=-1)
        out = q * cos[:, None] + rot * sin[:, None]
    return out[0].transpose(0, 1).reshape(len(pos), heads * d).numpy()


@pytest.mark.parametrize("cfg", CORNERS + [{"kind": "rope", "name": "rope_def", "theta": 500000.0},
                                           {"kind": "rope", "name": "rope_10k", "heads": 4, "L_max": 4096},
                                           {**LAYER, "name": "layer_split16", "table": "split"},
                                           {**LAYER, "name": "layer_split18", "table": "split", "c_bits": 18}],
                         ids=lambda c: c["name"])
def test_golden_matches_float_rope(cfg):
    """|y - RoPE(x)| <= 0.5 LSB (output rounding) + (|x_a| + |x_b|) * table_error (the cos and sin values'
    errors), per element, wherever the exact result is inside the output range; saturated elements sit at the
    limit."""
    spec = parse_spec(cfg)
    m = K.model(spec)
    rng = np.random.default_rng(7)
    inputs = K.random_inputs(spec, rng, 24)
    y = K.golden(spec, inputs)["y"].astype(np.float64) / 2.0 ** m.out_frac
    xr = inputs["x"].astype(np.float64) / 2.0 ** m.in_frac
    ref = _float_reference(xr, inputs["pos"], m.heads, m.d, m.theta)
    xv = np.abs(xr).reshape(-1, m.heads, 2, m.half)
    pair = np.concatenate([xv.sum(axis=2)] * 2, axis=2).reshape(ref.shape)     # |x_a| + |x_b| per element
    lsb = 2.0 ** -m.out_frac
    bound = 0.5 * lsb + pair * table_error(m) + 1e-12
    hi, lo = ((1 << (m.out_bits - 1)) - 1) * lsb, -(1 << (m.out_bits - 1)) * lsb
    inside = (ref <= hi) & (ref >= lo)
    err = np.abs(y - ref)
    assert np.all(err[inside] <= bound[inside]), float((err - bound)[inside].max())
    assert np.all(y[ref > hi] == hi) and np.all(y[ref < lo] == lo)
    if not m.saturate:
        assert inside.all()
    # the measured error, in output LSBs, stays within ~1 LSB + the table term (the docs' table)
    assert err[inside].max() / lsb <= 0.5 + xv.sum(axis=2).max() * table_error(m) / lsb + 1e-9
    if cfg["name"] == "layer_split18":      # the layer's choice: better than the direct 16-bit table (2.2 LSB)
        assert err[inside].max() / lsb < 2.0


@pytest.mark.parametrize("c_bits", [12, 16, 18])
def test_split_tables_exhaustive(c_bits):
    """Every cos/sin value the angle addition produces (all L_max x d/2) against float64 within table_error; the
    two tables are the rounded cos/sin of p_hi * 2^k * w and p_lo * w; k minimises the rows."""
    from hwgen.kernels.rope import rope_split_tables
    spec = parse_spec({**LAYER, "table": "split", "c_bits": c_bits})
    m = K.model(spec)
    assert (m.k, m.hi_n, m.lo_n, m.hi_rows, m.lo_rows) == (5, 64, 32, 192, 96)
    C, S = rope_tables(spec)
    inv = np.power(500000.0, -2.0 * np.arange(48) / 96)
    ang = np.arange(2048)[:, None] * inv[None, :]
    scale = 2.0 ** m.c_frac
    err = max(np.abs(C / scale - np.cos(ang)).max(), np.abs(S / scale - np.sin(ang)).max())
    assert err <= table_error(m) and err > 2.0 ** -(m.c_frac + 1)
    assert m.c_max == max(np.abs(C).max(), np.abs(S).max()) <= scale + 4
    cH, sH, cL, sL = rope_split_tables(spec)
    assert np.array_equal(cH, np.floor(np.cos(np.arange(64)[:, None] * 32.0 * inv) * scale + 0.5))
    assert np.array_equal(sL, np.floor(np.sin(np.arange(32)[:, None] * inv) * scale + 0.5))
    # the direct table's positions p = p_hi * 32 (p_lo = 0) come out identical: C = cH * 2^c_frac >> c_frac
    direct = rope_tables(parse_spec({**LAYER, "c_bits": c_bits}))
    assert np.array_equal(C[::32], direct[0][::32]) and np.array_equal(S[::32], direct[1][::32])


def test_tables_match_transformers_rotary_embedding():
    """The ROM tables are the rounded float64 cos/sin of transformers' angles; transformers itself computes them
    in float32, which differs from float64 by at most ~|angle| * 2^-23 (a few 1e-4 at pos 2047)."""
    transformers = pytest.importorskip("transformers")
    import torch
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    spec = parse_spec({"kind": "rope", "heads": 1, "d": 128, "lanes": 16, "L_max": 2048, "theta": 500000.0})
    cos, sin = rope_tables(spec)
    cfg = transformers.LlamaConfig(hidden_size=128, num_attention_heads=1, head_dim=128,
                                   max_position_embeddings=2048, rope_theta=500000.0)
    emb = LlamaRotaryEmbedding(cfg)
    pos = torch.arange(2048)[None]
    c32, s32 = emb(torch.zeros(1, dtype=torch.float32), pos)
    scale = 2.0 ** (spec.c_bits - 2)
    for tab, ref in ((cos, c32), (sin, s32)):
        ref = ref[0, :, :64].double().numpy()
        assert np.all(np.abs(tab / scale - ref) <= 0.5 / scale + 2048 * 2.0 ** -22)
        assert np.allclose(tab[:, :], ref * scale, atol=0.5 + 2048 * 2.0 ** -22 * scale)


@needs_gxx
@pytest.mark.parametrize("cfg", CORNERS, ids=lambda c: c["name"])
def test_csim_bit_exact(cfg, tmp_path):
    from hwgen.flows.csim import run_csim

    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "hls")
    summary = run_csim(tmp_path / "prj", vectors=11, seed=3)           # more tokens than M_max: several calls
    assert summary["pass"], summary


@needs_iverilog
@pytest.mark.parametrize("cfg", CORNERS, ids=lambda c: c["name"])
def test_cosim_bit_and_cycle_exact(cfg, tmp_path):
    from hwgen.flows.cosim import run_cosim

    spec = parse_spec(cfg)
    perf = K.performance(spec)
    write_project(spec, tmp_path / "prj", "rtl")
    summary = run_cosim(tmp_path / "prj", vectors=6, seed=1, simulator="icarus")
    assert summary["pass"] and summary["tlast_errors"] == 0, summary
    assert (summary["latency_cycles"], summary["ii"]) == (perf.latency_cycles, perf.ii)
    stalled = run_cosim(tmp_path / "prj", vectors=9, seed=4, stall=40, simulator="icarus")
    assert stalled["pass"] and stalled["tlast_errors"] == 0, stalled


@needs_verilator
def test_cosim_verilator_user_data(tmp_path, hwgen_cli):
    """User .npz through the CLI on Verilator: [M, heads, d] x, back-pressure, the output file."""
    spec = parse_spec(CORNERS[1])
    m = K.model(spec)
    cfg = tmp_path / "r.yaml"
    cfg.write_text(json.dumps(CORNERS[1]))
    code, err = hwgen_cli(["generate", "--config", str(cfg), "--out", str(tmp_path / "prj")])
    assert code == 0, err
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(5, m.heads, m.d))
    pos = np.array([0, 39, 7, 7, 20])
    np.savez(tmp_path / "in.npz", x=x, pos=pos)
    code, err = hwgen_cli(["cosim", str(tmp_path / "prj"), "--inputs", str(tmp_path / "in.npz"), "--output",
                           str(tmp_path / "y.npy"), "--simulator", "verilator", "--stall", "30"])
    assert code == 0, err
    got = np.load(tmp_path / "y.npy")
    want = K.golden(spec, {"x": x.reshape(5, -1), "pos": pos})["y"]
    np.testing.assert_array_equal(got, want)


def test_validation_errors():
    spec = parse_spec(SMALL)
    x = np.zeros((3, 32), np.int64)
    with pytest.raises(UserError) as e:
        K.validate_inputs(spec, {"x": x, "pos": np.array([0, 16, 1])})
    assert e.value.field == "pos" and "[0, 15]" in e.value.message
    with pytest.raises(UserError) as e:
        K.validate_inputs(spec, {"x": x, "pos": np.array([0, -1, 1])})
    assert e.value.field == "pos"
    with pytest.raises(UserError) as e:
        K.validate_inputs(spec, {"x": x, "pos": np.array([0, 1])})
    assert e.value.field == "pos" and "one position per token" in e.value.message
    with pytest.raises(UserError) as e:
        K.validate_inputs(spec, {"x": np.zeros((3, 31), np.int64), "pos": np.zeros(3, np.int64)})
    assert e.value.field == "x" and "[M, 32]" in e.value.message
    with pytest.raises(UserError) as e:
        K.validate_inputs(spec, {"x": x + 512, "pos": np.zeros(3, np.int64)})
    assert e.value.field == "x" and "[-512, 511]" in e.value.message
    with pytest.raises(UserError) as e:
        K.validate_inputs(spec, {"x": x.astype(np.float32), "pos": np.zeros(3, np.int64)})
    assert e.value.field == "x"
    with pytest.raises(UserError) as e:
        parse_spec({**SMALL, "lanes": 3})
    assert e.value.field == "lanes" and "d / 2 = 8" in e.value.message
    with pytest.raises(UserError) as e:
        parse_spec({**SMALL, "d": 15})
    assert e.value.field == "d"
    with pytest.raises(UserError) as e:
        parse_spec({**SMALL, "out_frac": 17})
    assert e.value.field == "out_frac"
    with pytest.raises(UserError) as e:
        parse_spec({**SMALL, "theta": 1.0})
    assert e.value.field == "theta"


def test_split_matches_transformers_rotary_embedding():
    """The split's cos/sin against transformers' own (float32) LlamaRotaryEmbedding: within table_error plus the
    float32 angle error."""
    transformers = pytest.importorskip("transformers")
    import torch
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    spec = parse_spec({"kind": "rope", "heads": 1, "d": 128, "lanes": 16, "L_max": 2048, "theta": 500000.0,
                       "table": "split", "c_bits": 18})
    m = K.model(spec)
    cos, sin = rope_tables(spec)
    cfg = transformers.LlamaConfig(hidden_size=128, num_attention_heads=1, head_dim=128,
                                   max_position_embeddings=2048, rope_theta=500000.0)
    c32, s32 = LlamaRotaryEmbedding(cfg)(torch.zeros(1, dtype=torch.float32), torch.arange(2048)[None])
    for tab, ref in ((cos, c32), (sin, s32)):
        ref = ref[0, :, :64].double().numpy()
        assert np.all(np.abs(tab / 2.0 ** m.c_frac - ref) <= table_error(m) + 2048 * 2.0 ** -22)


def test_split_validation():
    with pytest.raises(UserError) as e:
        parse_spec({**SMALL, "split_k": 2})
    assert e.value.field == "split_k" and "table: split" in e.value.message
    with pytest.raises(UserError) as e:
        parse_spec({**SMALL, "table": "split", "split_k": 4})
    assert e.value.field == "split_k" and "1..3" in e.value.message
    with pytest.raises(UserError) as e:
        parse_spec({**SMALL, "table": "split", "L_max": 2})
    assert e.value.field == "L_max"


def test_split_performance_and_graph():
    """The layer spec with the split table: 3 more pipeline stages, 4 more DSPs per lane, two small ROMs (about
    16 BRAM36 at c_bits 18 instead of the direct table's 85.5)."""
    direct, split = parse_spec(LAYER), parse_spec({**LAYER, "table": "split", "c_bits": 18})
    pd, ps = K.performance(direct), K.performance(split)
    assert (ps.latency_cycles, ps.ii) == (pd.latency_cycles + 3, pd.ii) == (202, 192)
    ed, es = K.graph(direct).analytical(), K.graph(split).analytical()
    assert (ed["dsp"], es["dsp"]) == (32, 96)
    assert ed["bram36"] == 85.5 and es["bram36"] == 16


def test_performance_and_graph():
    """Cycle model, MACs and the graph's analytical terms: 2 DSPs per lane, the ROM in block RAM when large."""
    spec = parse_spec({"kind": "rope"})
    m = K.model(spec)
    perf = K.performance(spec)
    assert (m.h2, m.beats) == (3, 96) and (perf.latency_cycles, perf.ii) == (96 + 3 + 4, 96)
    assert perf.macs == 2 * 16 * 96 and perf.macs_per_cycle == 32
    est = K.graph(spec).analytical()
    assert est["dsp"] == 32 and m.rom_bram and est["bram36"] > 60 and not m.saturate
    small = K.graph(parse_spec(SMALL)).analytical()
    assert small["dsp"] == 8 and small["bram36"] == 0 and small["lutram"] > 0
    assert [p.name for p in K.ports(spec)] == ["x", "pos", "y"]
    assert K.ports(spec)[1].elem_bits == 11 and not K.ports(spec)[1].signed
