"""`hwgen synth`: generate a project, synthesize it with the vendor flow when present, otherwise the
open Yosys flow, and write one report (flows/report.py schema) with device utilization and the kernel's
performance contract (latency_cycles and ii of one unit, as `hwgen cosim` measures them)."""
from __future__ import annotations

import sys
from pathlib import Path

from hwgen import kernels
from hwgen.errors import UserError
from hwgen.render import render_files, write_project
from hwgen.spec import KernelSpec

from .report import Report, apply_capacity, apply_performance, apply_timing
from .tools import content_key
from .vendor.vendor_flow import run_vitis_hls, run_vivado, vendor_tools_available, write_vivado_tcl

FLOWS = ("auto", "open", "vendor")


def choose_flow(flow: str) -> str:
    if flow not in FLOWS:
        raise UserError("flow", f"unknown flow {flow!r}; allowed: {', '.join(FLOWS)}")
    tools = vendor_tools_available()
    if flow == "vendor":
        if not any(tools.values()):
            raise UserError("flow", "vendor flow needs vitis_hls and/or vivado on PATH; use --flow open (Yosys)")
        return "vendor"
    if flow == "auto":
        if any(tools.values()):
            return "vendor"
        print("notice: vitis_hls/vivado not on PATH, using the open flow (Yosys synth_xilinx)", file=sys.stderr)
        return "open"
    return "open"


def run_synth(spec: KernelSpec, out: Path, flow: str = "auto", timeout_s: float = 3600,
              yosys: str | None = None) -> Report:
    """`yosys`: the Yosys binary of the open flow (default: the one on PATH)."""
    flow = choose_flow(flow)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    project = write_project(spec, out / "project", "both")
    kernel = kernels.get(spec.kind)
    if flow == "open":
        from .synth_open import run_open_synth
        report = run_open_synth(project, out / "yosys", timeout_s=timeout_s, yosys=yosys)
    else:
        report = _vendor(spec, kernel, project, out / "vendor", timeout_s)
    report.design, report.kernel, report.params = spec.design_name, spec.kind, spec.params()
    report.target, report.part, report.clock_mhz = spec.target, spec.target_info.part, spec.clock
    apply_performance(report, kernel, spec)
    apply_timing(report)
    apply_capacity(report, spec.target_info.capacity())
    report.write(out / "report.json")
    return report


def run_open_synth_cached(spec: KernelSpec, work: Path, tag: str = "", timeout_s: float = 3600) -> Report:
    """run_synth's open flow into work/<design>[-tag]-<hash of the generated RTL>/, reusing the report there: a
    changed generator re-synthesizes, an unchanged one does not (the benchmarks' build cache)."""
    rtl = "".join(text for path, text in sorted(render_files(spec, "rtl").items()) if path.startswith("rtl/"))
    folder = Path(work) / "-".join(filter(None, (spec.design_name, tag, content_key(rtl)[:12])))
    if (folder / "report.json").exists():
        return Report.read(folder / "report.json")
    return run_synth(spec, folder, "open", timeout_s=timeout_s)


def _vendor(spec: KernelSpec, kernel, project: Path, workdir: Path, timeout_s: float) -> Report:
    tools = vendor_tools_available()
    reports = []
    if tools["vitis_hls"]:
        reports.append(run_vitis_hls(project / "hls" / "run_hls.tcl", project / "hls", timeout_s))
    if tools["vivado"]:
        rtl = sorted(p for p in (project / "rtl").glob("*.v") if not p.name.startswith("tb_"))
        tcl = write_vivado_tcl(workdir, kernel.rtl_top(spec), spec.target_info.part, spec.clock, rtl)
        reports.append(run_vivado(tcl, workdir, timeout_s))
    from .vendor.parsers import merge_reports
    # Vivado's post-synthesis numbers are the more faithful resources; put them first.
    reports.sort(key=lambda r: r.flow != "vendor-vivado")
    return merge_reports(*reports)


def format_table(report: Report, capacity: dict[str, int]) -> str:
    res = report.resources
    rows = [("resource", "used", "available", "util %")]
    used = {"lut": (res.lut or 0) + (res.lutram or 0), "ff": res.ff, "dsp": res.dsp, "bram36": res.bram36, "uram": res.uram}
    labels = {"lut": "LUT (logic+LUTRAM)", "ff": "FF", "dsp": "DSP", "bram36": "BRAM36", "uram": "URAM"}
    for key, label in labels.items():
        rows.append((label, _num(used[key]), _num(capacity.get(key)), f"{report.utilization.get(key, 0):.2f}"))
    rows.append(("  of which LUTRAM", _num(res.lutram), "", ""))
    rows.append(("CARRY", _num(res.carry), "", ""))
    w = [max(len(str(r[i])) for r in rows) for i in range(4)]
    unit = (report.extra.get("performance") or {}).get("unit", "unit")
    lines = [f"{report.design} ({report.kernel}) on {report.target} [{report.part}], flow {report.flow}, status {report.status}"]
    lines += ["  ".join(str(v).rjust(w[i]) if i else str(v).ljust(w[i]) for i, v in enumerate(r)) for r in rows]
    lines.append(f"fits: {report.fits}   LUT depth: {report.lut_depth}   Fmax est.: {_num(report.fmax_mhz_est)} MHz "
                 f"(clock {report.clock_mhz} MHz)   latency: {_num(report.latency_cycles)} cycles/{unit}   "
                 f"II: {_num(report.ii)} cycles   runtime: {_num(report.runtime_s)} s")
    if report.units_per_s:
        lines.append(f"meets timing: {report.meets_timing}   throughput: {_num(report.units_per_s)} {unit}s/s at "
                     f"{_num(report.achieved_clock_mhz)} MHz = min(clock, Fmax est.)")
    if report.error:
        lines.append("error: " + report.error.strip().splitlines()[-1])
    return "\n".join(lines)


def _num(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.1f}".rstrip("0").rstrip(".") if isinstance(v, float) else f"{v:,}"
