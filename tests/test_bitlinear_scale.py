"""bitlinear_scale: the golden model against float64 (torch) with the stated bound, C-simulation and RTL
cosimulation bit-exact against the golden model (saturation, zero tokens, s = 0, stalls, several HLS calls),
the cycle contract, errors, and the analytical DSP count against Yosys."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hwgen import kernels
from hwgen.errors import UserError
from hwgen.kernels import parse_spec
from hwgen.render import write_project

from .conftest import check_token_kernel_csim_cosim, needs_gxx

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")

K = kernels.get("bitlinear_scale")
CORNERS = [
    # per tensor, c rounded (k = 14), N not a multiple of lanes
    {"kind": "bitlinear_scale", "name": "bls_pt", "N": 21, "lanes": 4, "M_max": 3},
    # per channel, exact c (k = 0), out_frac so large that y = acc * c << 4 (exact left shift)
    {"kind": "bitlinear_scale", "name": "bls_pc", "N": 10, "lanes": 3, "M_max": 2, "per_channel": True,
     "acc_bits": 9, "c_bits": 48, "out_bits": 20, "out_frac": 48},
    # narrow scales, c = 1 DSP piece, wide acc (split on both sides), sh = 0
    {"kind": "bitlinear_scale", "name": "bls_n", "N": 6, "lanes": 6, "M_max": 4, "acc_bits": 30, "s_bits": 12,
     "s_frac": 10, "ws_bits": 10, "ws_frac": 8, "c_bits": 12, "out_bits": 32, "out_frac": 8},
]


def float_reference(spec, inp):
    import torch

    acc = torch.tensor(inp["acc"], dtype=torch.float64)
    s = torch.tensor(inp["s"], dtype=torch.float64).reshape(-1, 1) / 2.0 ** spec.s_frac
    ws = torch.tensor(inp["ws"], dtype=torch.float64).reshape(1, -1) / 2.0 ** spec.ws_frac
    return (acc * s * ws * 2.0 ** spec.out_frac).numpy()


@pytest.mark.parametrize("cfg", [{"kind": "bitlinear_scale"}, {"kind": "bitlinear_scale", "per_channel": True},
                                 *CORNERS], ids=["default", "default_pc", *(c["name"] for c in CORNERS)])
def test_golden_within_the_stated_bound_of_float64(cfg):
    """|y - clip(acc * s * ws)| <= 1/2 + |acc| / 2^(sh+1) (the second term only when c is rounded, k > 0)."""
    spec = parse_spec(cfg)
    m = K.model(spec)
    inp = K.random_inputs(spec, np.random.default_rng(3), 12)
    y = K.golden(spec, inp)["y"]
    lo, hi = -(1 << (m.out_bits - 1)), (1 << (m.out_bits - 1)) - 1
    ref = np.clip(float_reference(spec, inp), lo, hi)
    bound = 0.5 + (np.abs(inp["acc"]) / 2.0 ** (m.out_shift + 1) if m.c_drop else 0.0) + 1e-12 * np.abs(ref)
    err = np.abs(y - ref)
    assert np.all(err <= bound), float(np.max(err - bound))
    assert (y == hi).any() and (y == lo).any()                    # both saturation extremes are exercised
    if spec.per_channel is False and spec.N == 1536:              # the defaults: at most 1.5 LSB
        assert err.max() <= 1.5 and m.c_drop == 14 and m.out_shift == 18


def test_exact_c_is_the_rounded_real_product():
    """c_bits = s_bits + ws_bits: y is the exact product rounded half up once (Python ints)."""
    spec = parse_spec({"kind": "bitlinear_scale", "N": 8, "lanes": 4, "acc_bits": 12, "c_bits": 48})
    inp = K.random_inputs(spec, np.random.default_rng(1), 6)
    y = K.golden(spec, inp)["y"]
    sh = spec.s_frac + spec.ws_frac - spec.out_frac
    for t in range(6):
        for j in range(8):
            p = int(inp["acc"][t, j]) * int(inp["s"][t]) * int(inp["ws"][0])
            want = min(max((p + (1 << (sh - 1))) >> sh, -(1 << 23)), (1 << 23) - 1)
            assert y[t, j] == want


@needs_gxx
@needs_iverilog
@pytest.mark.parametrize("cfg", CORNERS, ids=lambda c: c["name"])
def test_csim_and_cosim_bit_exact(cfg, tmp_path):
    check_token_kernel_csim_cosim(parse_spec(cfg), tmp_path / "prj")


@needs_verilator
def test_cosim_verilator_user_data(tmp_path):
    from hwgen.flows.cosim import run_cosim

    spec = parse_spec(CORNERS[0])
    write_project(spec, tmp_path / "prj", "rtl")
    inp = K.random_inputs(spec, np.random.default_rng(9), 4)
    np.savez(tmp_path / "in.npz", **inp)
    out = run_cosim(tmp_path / "prj", inputs_path=tmp_path / "in.npz", output_path=tmp_path / "y.npy",
                    simulator="verilator", stall=30)
    assert out["pass"], out
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), K.golden(spec, inp)["y"])


def test_errors_name_the_field():
    with pytest.raises(UserError) as e:
        parse_spec({"kind": "bitlinear_scale", "c_bits": 8})
    assert e.value.field == "c_bits" and "[16, 48]" in e.value.message
    with pytest.raises(UserError) as e:
        parse_spec({"kind": "bitlinear_scale", "acc_bits": 30, "c_bits": 48})
    assert e.value.field == "c_bits"
    with pytest.raises(UserError) as e:
        parse_spec({"kind": "bitlinear_scale", "ws_frac": 41})
    assert e.value.field == "ws_frac"
    spec = parse_spec(CORNERS[0])
    good = K.random_inputs(spec, np.random.default_rng(0), 2)
    with pytest.raises(UserError) as e:
        K.validate_inputs(spec, {**good, "s": good["s"][:1]})
    assert e.value.field == "s"
    with pytest.raises(UserError) as e:
        K.validate_inputs(spec, {**good, "acc": good["acc"] + (1 << 20)})
    assert e.value.field == "acc"


def test_dsp_pieces_of_the_defaults():
    """Per tensor: s x ws in 2 DSPs once, acc x c (20 x 34 bits) in 2 DSPs per lane; per channel both per lane."""
    for pc, want in ((False, 2 + 2 * 16), (True, 4 * 16)):
        spec = parse_spec({"kind": "bitlinear_scale", "per_channel": pc})
        assert K.graph(spec).analytical()["dsp"] == want


@needs_yosys
def test_analytical_dsp_equals_yosys(tmp_path, hwgen_cli):
    from hwgen.flows.report import Report

    cfg = {"kind": "bitlinear_scale", "name": "bls_syn", "N": 4, "lanes": 2, "per_channel": True}
    (tmp_path / "d.yaml").write_text(json.dumps(cfg))
    code, err = hwgen_cli(["synth", "--config", str(tmp_path / "d.yaml"), "--out", str(tmp_path / "syn"),
                           "--flow", "open"])
    assert code == 0, err
    rep = Report.read(tmp_path / "syn" / "report.json")
    ana = K.graph(parse_spec(cfg)).analytical()
    assert rep.resources.dsp == ana["dsp"] == 8
    assert 0.5 < rep.resources.lut / ana["lut"] < 1.6 and 0.6 < rep.resources.ff / ana["ff"] < 1.5
