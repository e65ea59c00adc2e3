"""glu_act: the golden model against torch float64 (relu(g)^2 * u, silu(g) * u) with the stated bound, the
sigmoid table's error over every input, C-simulation and RTL cosimulation bit-exact (saturation, zero tokens,
stalls, several HLS calls), the cycle contract, errors, and the analytical DSP/BRAM count against Yosys."""
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

K = kernels.get("glu_act")
CORNERS = [
    {"kind": "glu_act", "name": "glu_r2", "F": 19, "lanes": 4, "M_max": 3},                       # relu2, saturates
    {"kind": "glu_act", "name": "glu_si", "act": "silu", "F": 10, "lanes": 3, "M_max": 2, "out_bits": 16},
    # small LUT table, narrow inputs, output left shift (out_frac above the product's fraction bits)
    {"kind": "glu_act", "name": "glu_sl", "act": "silu", "F": 5, "lanes": 5, "M_max": 4, "in_bits": 10,
     "in_frac": 5, "sig_index_bits": 6, "sig_range_log2": 3, "sig_value_bits": 10, "out_bits": 40, "out_frac": 28},
]
DEFAULT_SILU_ACT_ERR = 3.1e-3        # docs/glu_act_numerics.md: max |silu_hw(g) - silu(g)| over all int16 g


def act_reference(spec, g):
    import torch

    x = torch.tensor(g, dtype=torch.float64) / 2.0 ** spec.in_frac
    return (torch.relu(x) ** 2 if spec.act == "relu2" else torch.nn.functional.silu(x)).numpy()


def act_error(spec) -> float:
    """max over every representable g of |act_fixed(g) / 2^a_frac - act(g)| (exhaustive)."""
    m = K.model(spec)
    g = np.arange(-(1 << (m.in_bits - 1)), 1 << (m.in_bits - 1), dtype=np.int64)
    return float(np.max(np.abs(K.act_fixed(spec, g) / 2.0 ** m.a_frac - act_reference(spec, g))))


def test_act_errors_over_every_input():
    assert act_error(parse_spec({"kind": "glu_act"})) == 0.0                       # relu2 is exact
    err = act_error(parse_spec({"kind": "glu_act", "act": "silu"}))
    assert 2.5e-3 < err <= DEFAULT_SILU_ACT_ERR, err


@pytest.mark.parametrize("cfg", [{"kind": "glu_act"}, {"kind": "glu_act", "act": "silu"}, *CORNERS],
                         ids=["relu2", "silu", *(c["name"] for c in CORNERS)])
def test_golden_within_the_stated_bound_of_float64(cfg):
    """|f - clip(act(g) * u)| <= 1/2 + |u| * max_act_error (in output LSBs)."""
    import torch

    spec = parse_spec(cfg)
    m = K.model(spec)
    inp = K.random_inputs(spec, np.random.default_rng(5), 6)
    f = K.golden(spec, inp)["f"]
    u = inp["u"] / 2.0 ** m.in_frac
    ref = act_reference(spec, inp["g"]) * (torch.tensor(u, dtype=torch.float64)).numpy() * 2.0 ** m.out_frac
    lo, hi = -(1 << (m.out_bits - 1)), (1 << (m.out_bits - 1)) - 1
    ref = np.clip(ref, lo, hi)
    bound = 0.5 + np.abs(u) * 2.0 ** m.out_frac * act_error(spec) + 1e-12 * np.abs(ref)
    err = np.abs(f - ref)
    assert np.all(err <= bound), float(np.max(err - bound))
    assert (f[1] == 0).all()                                      # the zero token
    if cfg.get("name") in ("glu_r2", "glu_si") or cfg == {"kind": "glu_act"}:
        assert (f == hi).any() and (f == lo).any()                # both saturation extremes are exercised


def test_table_is_emitted_into_both_backends():
    from hwgen.render import render_files

    spec = parse_spec({**CORNERS[1], "sig_index_bits": 5, "sig_range_log2": 2})
    table = K.table(spec)
    assert len(table) == 32 and table[0] < table[-1] <= 1 << 16
    files = render_files(spec)
    cpp, v = files["hls/glu_si.cpp"], files["rtl/glu_si.v"]
    assert all(f"    {t}u" in cpp for t in table)
    assert all(f"5'd{i}: lookup = 17'd{t};" in v for i, t in enumerate(table))


@needs_gxx
@needs_iverilog
@pytest.mark.parametrize("cfg", CORNERS, ids=lambda c: c["name"])
def test_csim_and_cosim_bit_exact(cfg, tmp_path):
    check_token_kernel_csim_cosim(parse_spec(cfg), tmp_path / "prj")


@needs_verilator
def test_cosim_verilator_block_ram_table(tmp_path):
    from hwgen.flows.cosim import run_cosim

    spec = parse_spec({"kind": "glu_act", "name": "glu_v", "act": "silu", "F": 12, "lanes": 4})
    assert K.model(spec).rom_bram
    write_project(spec, tmp_path / "prj", "rtl")
    out = run_cosim(tmp_path / "prj", vectors=4, seed=1, simulator="verilator", stall=30)
    assert out["pass"], out


def test_errors_name_the_field():
    with pytest.raises(UserError) as e:
        parse_spec({"kind": "glu_act", "act": "silu", "sig_range_log2": 8})
    assert e.value.field == "sig_range_log2" and "at most 7" in e.value.message
    with pytest.raises(UserError) as e:
        parse_spec({"kind": "glu_act", "act": "silu", "sig_index_bits": 14})
    assert e.value.field == "sig_index_bits"
    with pytest.raises(UserError) as e:
        parse_spec({"kind": "glu_act", "act": "gelu"})
    assert e.value.field == "act"
    with pytest.raises(UserError) as e:
        parse_spec({"kind": "glu_act", "in_bits": 24})
    assert e.value.field == "in_bits"
    spec = parse_spec(CORNERS[0])
    good = K.random_inputs(spec, np.random.default_rng(0), 2)
    with pytest.raises(UserError) as e:
        K.validate_inputs(spec, {**good, "u": good["u"][:1]})
    assert e.value.field == "u"


def test_dsp_and_table_cost_of_the_defaults():
    """relu2: g^2 (1 DSP) + a x u (30 x 16 bits, 2 DSPs) per lane; silu: g x sig (1) + a x u (33 x 16, 2) per lane
    and a 1024 x 17 table in one RAMB18 per two lanes."""
    r2 = K.graph(parse_spec({"kind": "glu_act"})).analytical()
    si = K.graph(parse_spec({"kind": "glu_act", "act": "silu"})).analytical()
    assert r2["dsp"] == si["dsp"] == 3 * 16 and r2["bram36"] == 0 and si["bram36"] == 4


@needs_yosys
def test_analytical_dsp_and_bram_equal_yosys(tmp_path, hwgen_cli):
    from hwgen.flows.report import Report

    cfg = {"kind": "glu_act", "name": "glu_syn", "act": "silu", "F": 4, "lanes": 2}
    (tmp_path / "d.yaml").write_text(json.dumps(cfg))
    code, err = hwgen_cli(["synth", "--config", str(tmp_path / "d.yaml"), "--out", str(tmp_path / "syn"),
                           "--flow", "open"])
    assert code == 0, err
    rep = Report.read(tmp_path / "syn" / "report.json")
    ana = K.graph(parse_spec(cfg)).analytical()
    assert rep.resources.dsp == ana["dsp"] == 6 and rep.resources.bram36 == ana["bram36"] == 0.5
    assert 0.5 < rep.resources.lut / ana["lut"] < 1.6 and 0.6 < rep.resources.ff / ana["ff"] < 1.5
