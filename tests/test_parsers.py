"""Vendor report parsers against real reports (tests/fixtures/reports/real) and hand-written layout variants.

Expected numbers were read off the fixture files by hand.
"""
from pathlib import Path

import pytest

from hwgen.errors import UserError
from hwgen.flows.report import Report, Resources
from hwgen.flows.vendor.parsers import (
    merge_reports,
    parse_csynth_xml,
    parse_report_file,
    parse_vivado_timing,
    parse_vivado_utilization,
)

REAL = Path(__file__).resolve().parent / "fixtures" / "reports" / "real"   # real reports (see the README)
LOCAL = Path(__file__).resolve().parent / "fixtures" / "reports"

approx = pytest.approx


def res(**kw):
    return Resources(**kw).model_dump()


# ----------------------------------------------------------------------------- real reports


def test_vitis_mlp_csynth():
    r = parse_csynth_xml(REAL / "vitis2021_xc7z007s_mlp_csynth.xml")
    assert r.flow == "vendor-hls" and r.status == "ok"
    assert r.design == "myproject"
    assert r.part == "xc7z007s-clg225-2"
    assert r.tool_versions == {"vitis_hls": "2021.1"}
    assert r.resources.model_dump() == res(lut=230334, ff=218745, dsp=657, bram36=5.0, uram=0)
    assert r.latency_cycles == 89 and r.ii == 1
    assert r.extra["latency"] == {"best": 89, "average": 89, "worst": 89}
    assert r.extra["interval"] == {"min": 1, "max": 1}
    assert r.extra["pipeline_depth"] == 90
    assert r.clock_mhz == approx(200.0)                 # TargetClockPeriod 5.00
    assert r.fmax_mhz_est == approx(1000 / 4.371)       # EstimatedClockPeriod
    assert r.extra["clock_uncertainty_ns"] == 0.62
    assert r.extra["available"] == {"lut": 14400, "ff": 28800, "dsp": 66, "bram36": 50.0, "uram": 0}


def test_vitis_jet_csynth():
    r = parse_csynth_xml(REAL / "vitis2021_xc7z007s_jet_lut_rf2_csynth.xml")
    assert r.design == "myproject" and r.part == "xc7z007s-clg225-2"
    assert r.tool_versions == {"vitis_hls": "2021.1"}
    assert r.resources.model_dump() == res(lut=113294, ff=59259, dsp=0, bram36=2.5, uram=0)
    assert r.latency_cycles == 45 and r.ii == 2
    assert r.extra["latency"] == {"best": 45, "average": 45, "worst": 45}
    assert r.clock_mhz == approx(1000 / 3.33)
    assert r.fmax_mhz_est == approx(1000 / 7.947)        # estimate misses the 3.33 ns target
    assert r.extra["target_period_ns"] == 3.33 and r.extra["estimated_period_ns"] == 7.947


def test_vivado2018_utilization_synth():
    r = parse_vivado_utilization(REAL / "vivado2018_xcvu9p_utilization_synth.rpt")
    assert r.flow == "vendor-vivado"
    assert r.design == "myproject"
    assert r.part == "xcvu9pflgb2104-2"        # as printed on the 'Device :' line (no dash)
    assert r.tool_versions == {"vivado": "2018.2"}
    assert r.resources.model_dump() == res(
        lut=114927, lutram=15104, ff=108200, carry=5383, dsp=4962, bram36=80, uram=0)
    assert r.extra["lut_total"] == 130031       # 'CLB LUTs*' row, asterisk stripped
    assert r.extra["lut_as_srl"] == 15104 and r.extra["lut_as_dram"] == 0
    assert r.extra["bram18"] == 160
    assert r.extra["design_state"] == "Synthesized"
    assert r.extra["primitives"]["CARRY8"] == 5383 and r.extra["primitives"]["DSP48E2"] == 4962


def test_vivado2018_timing_is_plain_report_timing():
    # The real 'timing' fixture is `report_timing` (one worst path), not report_timing_summary.
    r = parse_vivado_timing(REAL / "vivado2018_xcvu9p_timing_synth.rpt")
    assert r.design == "myproject"
    assert r.part == "xcvu9p-flgb2104-2"        # 'Device : xcvu9p-flgb2104' + 'Speed File : -2'
    assert r.tool_versions == {"vivado": "2018.2"}
    e = r.extra
    assert e["report_kind"] == "report_timing"
    assert e["wns_ns"] == 1.093 and e["timing_met"] is True
    assert e["tns_ns"] is None and e["whs_ns"] is None    # not derivable from a single path
    assert e["period_ns"] == 5.0 and e["clock"] == "ap_clk"
    assert r.clock_mhz == approx(200.0)
    assert r.fmax_mhz_est == approx(1000 / (5.0 - 1.093))
    assert e["critical_path_logic_levels"] == 13 and e["critical_path_luts"] == 13
    assert e["data_path_delay_ns"] == 3.588
    assert e["temperature_grade"] == "I"


@pytest.mark.parametrize("name,flow", [
    ("vitis2021_xc7z007s_mlp_csynth.xml", "vendor-hls"),
    ("vitis2021_xc7z007s_jet_lut_rf2_csynth.xml", "vendor-hls"),
    ("vivado2018_xcvu9p_utilization_synth.rpt", "vendor-vivado"),
    ("vivado2018_xcvu9p_timing_synth.rpt", "vendor-vivado"),
])
def test_sniffing_real(name, flow, tmp_path):
    direct = parse_report_file(REAL / name)
    assert direct.flow == flow
    # Content decides, not the name: a renamed copy parses identically.
    copy = tmp_path / "report.txt"
    copy.write_bytes((REAL / name).read_bytes())
    again = parse_report_file(copy)
    assert again.model_dump(exclude={"extra"}) == direct.model_dump(exclude={"extra"})


def test_merge_utilization_and_timing():
    util = parse_vivado_utilization(REAL / "vivado2018_xcvu9p_utilization_synth.rpt")
    timing = parse_vivado_timing(REAL / "vivado2018_xcvu9p_timing_synth.rpt")
    m = merge_reports(util, timing)
    assert m.resources == util.resources
    assert m.part == util.part                   # earlier report wins
    assert m.fmax_mhz_est == approx(1000 / 3.907) and m.clock_mhz == approx(200.0)
    assert m.extra["wns_ns"] == 1.093 and m.extra["lut_total"] == 130031
    assert m.extra["source"] == util.extra["source"]
    # inputs untouched
    assert util.fmax_mhz_est is None and "lut_total" not in timing.extra


# ----------------------------------------------------------------------------- hand-written variants


def test_vivado_hls_dsp48e_undef_latency():
    r = parse_csynth_xml(LOCAL / "vivadohls2018_xcku115_dataflow_csynth.xml")
    assert r.tool_versions == {"vivado_hls": "2018.3"}
    assert r.part == "xcku115-flvb2104-2-i" and r.design == "myproject"
    assert r.resources.model_dump() == res(lut=8765, ff=5321, dsp=24, bram36=3.5, uram=0)
    assert r.latency_cycles is None and r.ii is None
    assert r.extra["latency"] == {"best": None, "average": None, "worst": None}
    assert r.extra["interval"] == {"min": None, "max": None}
    assert r.clock_mhz == approx(200.0) and r.fmax_mhz_est == approx(1000 / 4.362)
    assert r.extra["available"] == {"lut": 663360, "ff": 1326720, "dsp": 5520, "bram36": 2160, "uram": 0}
    assert parse_csynth_xml(LOCAL / "vivadohls2018_xcku115_dataflow_csynth.xml", tool="vitis_hls").tool_versions \
        == {"vitis_hls": "2018.3"}


def test_routed_ultrascale_plus_prohibited_column():
    r = parse_vivado_utilization(LOCAL / "vivado2024_xczu7ev_utilization_routed.rpt")
    assert r.part == "xczu7ev-ffvc1156-2-e" and r.design == "tlmm_top"
    assert r.tool_versions == {"vivado": "2024.1"}
    # 'Used' is column 1; Prohibited (0) and Available must not leak in.
    assert r.resources.model_dump() == res(
        lut=38110, lutram=3124, ff=52870, carry=1207, dsp=384, bram36=96.5, uram=16)
    assert r.extra["lut_total"] == 41234 and r.extra["lut_as_dram"] == 2048 and r.extra["lut_as_srl"] == 1076
    assert r.extra["design_state"] == "Routed"


def test_7series_slice_luts_carry4_from_primitives():
    r = parse_vivado_utilization(LOCAL / "vivado2017_xc7z020_utilization_synth.rpt")
    assert r.part == "7z020clg400-1" and r.design == "counter_top"
    assert r.tool_versions == {"vivado": "2017.4"}
    # No CARRY4 row in the 7-series Slice Logic table: count comes from Primitives.
    # No URAM row under a printed memory table: the device has none -> 0.
    assert r.resources.model_dump() == res(
        lut=1392, lutram=128, ff=2048, carry=310, dsp=12, bram36=2.5, uram=0)
    assert r.extra["lut_total"] == 1520


def test_timing_summary_multi_clock():
    r = parse_vivado_timing(LOCAL / "vivado2024_xczu7ev_timing_summary_routed.rpt")
    e = r.extra
    assert e["report_kind"] == "report_timing_summary"
    assert (e["wns_ns"], e["tns_ns"], e["whs_ns"]) == (-0.214, -3.871, 0.010)
    assert e["tns_failing_endpoints"] == 42 and e["timing_met"] is False
    assert e["clocks"] == {"aux_clk": 10.0, "clk": 3.333}
    # WNS belongs to clk (Intra Clock Table), not to the first listed clock.
    assert e["clock"] == "clk" and e["period_ns"] == 3.333
    assert r.clock_mhz == approx(1000 / 3.333)
    assert r.fmax_mhz_est == approx(1000 / (3.333 + 0.214))
    assert r.part == "xczu7ev-ffvc1156-2" and r.tool_versions == {"vivado": "2024.1"}


def test_timing_summary_unconstrained(tmp_path):
    f = tmp_path / "t.rpt"
    f.write_text(
        "| Tool Version : Vivado v.2023.2 (lin64) Build 4029153\n| Command : report_timing_summary\n"
        "| Design : x\n\n"
        "    WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)  \n"
        "    -------      -------  ---------------------  -------------------      -------      -------  \n"
        "        inf        0.000                      0                    0          inf        0.000  \n\n"
        "There are no user specified timing constraints.\n")
    r = parse_report_file(f)
    assert r.extra["wns_ns"] is None and r.extra["tns_ns"] == 0.0
    assert r.fmax_mhz_est is None and r.clock_mhz is None and r.extra["clocks"] == {}


@pytest.mark.parametrize("name,kind", [
    ("vivadohls2018_xcku115_dataflow_csynth.xml", "vendor-hls"),
    ("vivado2024_xczu7ev_utilization_routed.rpt", "util"),
    ("vivado2017_xc7z020_utilization_synth.rpt", "util"),
    ("vivado2024_xczu7ev_timing_summary_routed.rpt", "timing"),
])
def test_sniffing_local(name, kind):
    r = parse_report_file(LOCAL / name)
    if kind == "vendor-hls":
        assert r.flow == "vendor-hls"
    elif kind == "util":
        assert r.resources.lut is not None and "wns_ns" not in r.extra
    else:
        assert "wns_ns" in r.extra and r.resources.lut is None


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("content", [
    b"hello world\nnot a report\n",
    b"",
    b"\x00\x01\x02binary",
    b"<html><body>nope</body></html>",
    b"<profile><Broken",
])
def test_garbage_is_user_error(tmp_path, content):
    f = tmp_path / "x.rpt"
    f.write_bytes(content)
    with pytest.raises(UserError) as ei:
        parse_report_file(f)
    assert ei.value.field == "file"


def test_missing_file_is_user_error(tmp_path):
    with pytest.raises(UserError):
        parse_report_file(tmp_path / "nope.rpt")


def test_specific_parsers_reject_wrong_content(tmp_path):
    f = tmp_path / "x.xml"
    f.write_text("<profile><Broken")
    with pytest.raises(UserError):
        parse_csynth_xml(f)
    f.write_text("<root/>")
    with pytest.raises(UserError):
        parse_csynth_xml(f)
    f.write_text("| Tool Version : Vivado v.2020.1\nnothing here\n")
    with pytest.raises(UserError):
        parse_vivado_utilization(f)
    with pytest.raises(UserError):
        parse_vivado_timing(f)


def test_merge_status_and_gaps():
    a = Report(design="d", resources=Resources(lut=10), extra={"k": 1})
    b = Report(design="other", part="p", resources=Resources(lut=99, ff=5), extra={"k": 2, "j": 3},
               status="failed", error="boom")
    m = merge_reports(a, b)
    assert m.design == "d" and m.part == "p"
    assert m.resources.lut == 10 and m.resources.ff == 5
    assert m.extra == {"k": 1, "j": 3}
    assert m.status == "failed" and m.error == "boom"
    with pytest.raises(ValueError):
        merge_reports()
