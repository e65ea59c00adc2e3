"""`pipeline` of the attention kernels: the registered accumulator read (with its write-to-read bypass) keeps the
bits and the cycle model, `auto` follows the delay model, and B = 1 designs refuse a stage."""
from __future__ import annotations

import shutil

import pytest

from hwgen import kernels
from hwgen.errors import UserError
from hwgen.kernels import parse_spec

from .conftest import check_rtl_cosim_against_contract

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                                    reason="iverilog not installed; run make setup")

# B = 2: a row's next read falls in the cycle of its write back, so the bypass carries the data
DEC_B2 = {"kind": "attention_decode", "name": "att_dec_p", "H": 2, "d": 16, "lanes": 8, "head_par": 2,
          "L_max": 20, "exp_index_bits": 6}
# B = 3, N_pe not a power of two, reversed causal order
PRE_B3 = {"kind": "attention_prefill", "name": "att_pre_p", "H": 2, "d": 24, "lanes": 8, "M_max": 11, "N_pe": 5}
PRE_B2 = {"kind": "attention_prefill", "name": "att_pre_p2", "H": 2, "d": 16, "lanes": 8, "M_max": 9, "N_pe": 2,
          "reversed": False, "exp_index_bits": 6}


def _model(cfg):
    spec = parse_spec(cfg)
    return spec, kernels.get(spec.kind), kernels.get(spec.kind).model(spec)


def test_auto_meets_the_clock_under_the_delay_model():
    for cfg in (DEC_B2, PRE_B3):
        for clock, stages in ((250, 0), (300, 0), (350, 1)):
            spec, k, m = _model({**cfg, "target": "zcu104", "clock_mhz": clock})
            assert m.pipeline == stages and m.rmw_stages == (3 if stages else 2)
            assert k.fmax_estimate(spec) >= clock
    spec, k, m = _model({**DEC_B2, "target": "zcu104", "clock_mhz": 300, "pipeline": 0})
    assert k.fmax_estimate(spec) == 307.7        # the synthesized 0-stage path (LUTRAM read -> DSP)
    # a stage adds no cycle: the later write lands while the divider runs
    p0 = k.performance(parse_spec({**DEC_B2, "pipeline": 0}))
    p1 = k.performance(parse_spec({**DEC_B2, "pipeline": 1}))
    assert (p0.latency_cycles, p0.ii) == (p1.latency_cycles, p1.ii)


def test_one_beat_per_key_refuses_a_stage():
    b1 = {"kind": "attention_decode", "name": "att_b1", "H": 2, "d": 16, "lanes": 16, "L_max": 64,
          "target": "zcu104", "clock_mhz": 300}
    spec, k, m = _model(b1)
    assert m.pipeline == 0 and k.fmax_estimate(spec) < 300     # the one-cycle loop: reported, not hidden
    with pytest.raises(UserError) as err:
        _model({**b1, "pipeline": 1})
    assert err.value.field == "pipeline" and "0..0" in str(err.value)
    with pytest.raises(UserError, match="pipeline"):
        _model({**DEC_B2, "pipeline": 2})


@needs_iverilog
@pytest.mark.parametrize("cfg,stall", [(DEC_B2, 0), (PRE_B3, 0), (PRE_B2, 30), (DEC_B2, 25), (PRE_B3, 20)],
                         ids=["decode-b2", "prefill-b3", "prefill-b2-forward-stall", "decode-b2-stall",
                              "prefill-b3-stall"])
def test_pipelined_cosim_bit_exact_and_cycle_model(cfg, stall, tmp_path):
    check_rtl_cosim_against_contract(parse_spec({**cfg, "pipeline": 1}), tmp_path / "prj", 3, 5, stall)


def test_hls_twin_is_the_same_for_every_stage_count():
    """The stage is an RTL schedule detail: the HLS twin (whose csim the other tests check bit-exactly) is unchanged,
    so its csim results hold for every `pipeline`; the RTL differs only in the accumulate path."""
    from hwgen.render import render_files

    hls = [render_files(parse_spec({**DEC_B2, "pipeline": p}), "hls") for p in (0, 1)]
    assert {k: v for k, v in hls[0].items() if k.startswith("hls/")} == {k: v for k, v in hls[1].items()
                                                                          if k.startswith("hls/")}
    rtl = [render_files(parse_spec({**DEC_B2, "pipeline": p}), "rtl")["rtl/att_dec_p.v"] for p in (0, 1)]
    assert "ar3" in rtl[1] and "ar3" not in rtl[0]


def test_kernel_estimate_against_the_stored_yosys_records():
    """The modelled accumulate path is in every netlist, so no stored (pipeline 0) xcup record is faster than the
    kernel's estimate, and for most the estimate is the synthesized Fmax itself (that path is the slowest)."""
    from pathlib import Path

    from hwgen.datasets.store import load_records

    root = Path(__file__).resolve().parents[1] / "datasets"
    recs = [r for name in ("attention", "holdout_attention") for r in load_records(root / name, status="ok")]
    equal = xcup = 0
    for r in recs:
        spec = parse_spec(r.extra["spec"])
        est = kernels.get(spec.kind).fmax_estimate(spec)
        if spec.target_info.yosys_family != "xcup":
            assert est is None
            continue
        assert est >= r.fmax_mhz_est - 0.1, (r.params, est, r.fmax_mhz_est)
        equal += abs(est - r.fmax_mhz_est) <= 0.1
        xcup += 1
    assert xcup >= 200 and equal >= 0.9 * xcup, (equal, xcup)
