"""Vendor flow: TCL rendering, the generic subprocess runner, and (when installed) real tool runs."""
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from hwgen.errors import UserError
from hwgen.flows.vendor.vendor_flow import (
    _parse_hls_dir,
    _parse_vivado_dir,
    run_tool,
    run_vitis_hls,
    run_vivado,
    vendor_tools_available,
    write_vivado_tcl,
)

HAVE_VIVADO = shutil.which("vivado") is not None
HAVE_VITIS = shutil.which("vitis_hls") is not None
NO_TOOLS = "vivado/vitis_hls not on PATH"

COUNTER_V = """\
module counter (input wire clk, input wire rst, output reg [7:0] q);
  always @(posedge clk) q <= rst ? 8'd0 : q + 8'd1;
endmodule
"""


# ----------------------------------------------------------------------------- TCL rendering


def test_tcl_synth_only(tmp_path):
    a, b = tmp_path / "a.v", tmp_path / "dir with space" / "b.sv"
    tcl = write_vivado_tcl(tmp_path / "out", "tlmm_top", "xczu7ev-ffvc1156-2-e", 250.0, [a, b])
    assert tcl == tmp_path / "out" / "vivado_synth.tcl" and tcl.exists()
    text = tcl.read_text()
    assert f"read_verilog {{{a.resolve()}}}" in text
    assert f"read_verilog -sv {{{b.resolve()}}}" in text
    assert "synth_design -top tlmm_top -part xczu7ev-ffvc1156-2-e -mode out_of_context" in text
    assert "create_clock -name clk -period 4.000 [get_ports clk]" in text
    assert "report_utilization -file util_synth.rpt" in text
    assert "report_timing_summary -file timing_synth.rpt" in text
    for impl_only in ("opt_design", "place_design", "route_design", "util_impl.rpt", "timing_impl.rpt"):
        assert impl_only not in text
    # the clock constraint is read before synthesis so synthesis is timing-driven
    assert text.index("read_xdc") < text.index("synth_design -top")


def test_tcl_with_implementation_and_clock_port(tmp_path):
    text = write_vivado_tcl(tmp_path, "top", "xc7z020clg400-1", 300, [tmp_path / "t.v"],
                            implement=True, clock_port="ap_clk").read_text()
    assert "-period 3.333 [get_ports ap_clk]" in text and "-name ap_clk" in text
    order = [text.index(s) for s in ("synth_design -top", "util_synth.rpt", "opt_design", "place_design",
                                     "route_design", "report_utilization -file util_impl.rpt",
                                     "report_timing_summary -file timing_impl.rpt")]
    assert order == sorted(order)


@pytest.mark.parametrize("kwargs,field", [
    ({"clock_mhz": 0}, "clock_mhz"),
    ({"clock_mhz": -5}, "clock_mhz"),
    ({"top": "my top"}, "top"),
    ({"top": "x; exec rm"}, "top"),
    ({"part": "xc7 [exec ls]"}, "part"),
    ({"verilog_files": []}, "verilog_files"),
    ({"clock_port": "c l k"}, "clock_port"),
])
def test_tcl_rejects_bad_input(tmp_path, kwargs, field):
    args = dict(out_dir=tmp_path, top="top", part="xc7z020clg400-1", clock_mhz=100, verilog_files=["a.v"])
    args.update(kwargs)
    with pytest.raises(UserError) as ei:
        write_vivado_tcl(**args)
    assert ei.value.field == field


def test_tcl_rejects_unquotable_path(tmp_path):
    with pytest.raises(UserError):
        write_vivado_tcl(tmp_path, "top", "xc7z020clg400-1", 100, [tmp_path / "a}b.v"])


def test_vendor_tools_available_keys():
    tools = vendor_tools_available()
    assert set(tools) == {"vitis_hls", "vivado"}
    assert all(v is None or isinstance(v, str) for v in tools.values())


# ----------------------------------------------------------------------------- run_tool


def test_run_tool_exit_code_and_log(tmp_path):
    code = "import sys\nfor i in range(100): print('line', i)\nsys.exit(3)"
    rc, timed_out, tail = run_tool([sys.executable, "-c", code], tmp_path, 30, tmp_path / "log" / "run.log")
    assert (rc, timed_out) == (3, False)
    lines = tail.splitlines()
    assert len(lines) == 40 and lines[0] == "line 60" and lines[-1] == "line 99"
    assert (tmp_path / "log" / "run.log").read_text().count("\n") == 100


def test_run_tool_success_stderr_captured(tmp_path):
    code = "import sys; print('out'); print('err', file=sys.stderr)"
    rc, timed_out, tail = run_tool([sys.executable, "-c", code], tmp_path, 30, tmp_path / "run.log")
    assert (rc, timed_out) == (0, False)
    assert "out" in tail and "err" in tail


def test_run_tool_timeout_kills_process_tree(tmp_path):
    # The child spawns a grandchild sleeper; the timeout must not wait for either.
    code = ("import subprocess, sys, time; print('started', flush=True); "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)")
    t0 = time.monotonic()
    rc, timed_out, tail = run_tool([sys.executable, "-c", code], tmp_path, 1.0, tmp_path / "run.log")
    assert time.monotonic() - t0 < 15
    assert rc is None and timed_out is True
    assert "started" in tail and "timeout" in tail


def test_run_tool_missing_command(tmp_path):
    rc, timed_out, tail = run_tool(["hwgen-no-such-command-xyz"], tmp_path, 5, tmp_path / "run.log")
    assert (rc, timed_out) == (127, False)
    assert "hwgen-no-such-command-xyz" in tail


# ----------------------------------------------------------------------------- runners without tools


@pytest.mark.skipif(HAVE_VIVADO, reason="vivado is installed; this checks the missing-tool path")
def test_run_vivado_without_tool_reports_skipped(tmp_path):
    r = run_vivado(tmp_path / "x.tcl", tmp_path, 10)
    assert r.status == "skipped" and "vivado" in r.error and r.flow == "vendor-vivado"


@pytest.mark.skipif(HAVE_VITIS, reason="vitis_hls is installed; this checks the missing-tool path")
def test_run_vitis_hls_without_tool_reports_skipped(tmp_path):
    r = run_vitis_hls(tmp_path / "x.tcl", tmp_path, 10)
    assert r.status == "skipped" and "vitis_hls" in r.error and r.flow == "vendor-hls"


# ----------------------------------------------------------------------------- real tool runs


@pytest.mark.vendor
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_VIVADO, reason=NO_TOOLS)
def test_vivado_ooc_counter(tmp_path):
    src = tmp_path / "counter.v"
    src.write_text(COUNTER_V)
    tcl = write_vivado_tcl(tmp_path, "counter", "xc7z020clg400-1", 200, [src])
    r = run_vivado(tcl, tmp_path / "run", 1800)
    assert r.status == "ok", r.error
    assert r.design == "counter" and r.resources.ff == 8
    assert r.extra["wns_ns"] is not None and r.clock_mhz == pytest.approx(200.0)


@pytest.mark.vendor
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_VIVADO, reason=NO_TOOLS)
def test_vivado_tcl_error_is_failed_report(tmp_path):
    tcl = tmp_path / "bad.tcl"
    tcl.write_text("this_is_not_a_command\n")
    r = run_vivado(tcl, tmp_path, 600)
    assert r.status == "failed" and r.error


@pytest.mark.vendor
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_VITIS, reason=NO_TOOLS)
def test_vitis_hls_tiny_kernel(tmp_path):
    (tmp_path / "add.cpp").write_text("int add(int a, int b) { return a + b; }\n")
    tcl = tmp_path / "hls.tcl"
    tcl.write_text("open_project -reset prj\nadd_files add.cpp\nset_top add\nopen_solution -reset sol1\n"
                   "set_part xc7z020clg400-1\ncreate_clock -period 5\ncsynth_design\nexit\n")
    r = run_vitis_hls(tcl, tmp_path, 1800)
    assert r.status == "ok", r.error
    assert r.design == "add" and r.tool_versions.get("vitis_hls")


# ----------------------------------------------------------------------------- report collection after a run

FIX = Path(__file__).resolve().parent / "fixtures" / "reports"


def test_collect_vivado_reports_prefers_impl(tmp_path):
    shutil.copy(FIX / "vivado2017_xc7z020_utilization_synth.rpt", tmp_path / "util_synth.rpt")
    shutil.copy(FIX / "vivado2024_xczu7ev_utilization_routed.rpt", tmp_path / "util_impl.rpt")
    shutil.copy(FIX / "vivado2024_xczu7ev_timing_summary_routed.rpt", tmp_path / "timing_impl.rpt")
    r = _parse_vivado_dir(tmp_path, since=0)
    assert r.extra["stage"] == "impl"
    assert r.resources.lut == 38110 and r.extra["wns_ns"] == -0.214      # util + timing merged
    assert r.extra["synth"]["resources"]["lut"] == 1392


def test_collect_vivado_ignores_stale_reports(tmp_path):
    shutil.copy(FIX / "vivado2017_xc7z020_utilization_synth.rpt", tmp_path / "util_synth.rpt")
    shutil.copy(FIX / "vivado2024_xczu7ev_utilization_routed.rpt", tmp_path / "util_impl.rpt")
    os.utime(tmp_path / "util_impl.rpt", (1000, 1000))      # left over from an older run
    r = _parse_vivado_dir(tmp_path, since=time.time() - 60)
    assert "stage" not in r.extra and r.resources.lut == 1392
    os.utime(tmp_path / "util_synth.rpt", (1000, 1000))
    assert _parse_vivado_dir(tmp_path, since=time.time() - 60) is None


def test_collect_hls_top_report(tmp_path):
    rep = tmp_path / "prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    shutil.copy(FIX / "vivadohls2018_xcku115_dataflow_csynth.xml", rep / "csynth.xml")
    (rep / "sub_module_csynth.xml").write_text("<profile/>")    # per-module report: not picked
    r = _parse_hls_dir(tmp_path, since=0)
    assert r.tool_versions == {"vitis_hls": "2018.3"} and r.resources.dsp == 24
    assert _parse_hls_dir(tmp_path / "prj", since=time.time() + 60) is None
