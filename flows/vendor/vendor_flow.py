"""Vendor flow: render the Vivado TCL, run Vivado / Vitis HLS, and parse their reports.

Runners never raise: a missing tool, crash or timeout comes back as a Report with a non-ok
status and the log tail in `error`, so a batch over many designs keeps going.
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Optional, Sequence

from hwgen.errors import UserError
from hwgen.flows import tools
from hwgen.flows.report import Report
from hwgen.flows.vendor.parsers import merge_reports, parse_csynth_xml, parse_vivado_timing, parse_vivado_utilization
from hwgen.render import render_template

__all__ = ["write_vivado_tcl", "vendor_tools_available", "run_tool", "run_vivado", "run_vitis_hls"]

LOG_TAIL_LINES = 40
TCL_NAME = "vivado_synth.tcl"
# Report files the TCL template writes (into Vivado's working directory).
SYNTH_REPORTS = ("util_synth.rpt", "timing_synth.rpt")
IMPL_REPORTS = ("util_impl.rpt", "timing_impl.rpt")

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")      # Verilog identifier
_PART_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def write_vivado_tcl(out_dir, top: str, part: str, clock_mhz: float, verilog_files: Sequence,
                     implement: bool = False, clock_port: str = "clk", clock_name: Optional[str] = None) -> Path:
    """Write `vivado_synth.tcl` for out-of-context synthesis (+ place & route if `implement`)."""
    if not _NAME_RE.match(top or ""):
        raise UserError("top", f"must be a Verilog module name (got {top!r})")
    for field, value in (("clock_port", clock_port), ("clock_name", clock_name or clock_port)):
        if not _NAME_RE.match(value or ""):
            raise UserError(field, f"must be an identifier (got {value!r})")
    if not _PART_RE.match(part or ""):
        raise UserError("part", f"must be a Xilinx part name like xczu7ev-ffvc1156-2-e (got {part!r})")
    if not isinstance(clock_mhz, (int, float)) or not clock_mhz > 0:
        raise UserError("clock_mhz", f"must be > 0 (got {clock_mhz!r})")
    if not verilog_files:
        raise UserError("verilog_files", "at least one source file is required")
    sources = []
    for f in verilog_files:
        p = str(Path(f).resolve())
        # Paths go into Tcl braces; a brace or newline would break out of the quoting.
        if any(c in p for c in "{}\n\\"):
            raise UserError("verilog_files", f"path contains characters Tcl cannot quote: {p!r}")
        sources.append({"tcl_path": "{" + p + "}", "sv": p.endswith((".sv", ".svh"))})

    text = render_template("vendor/vivado_synth.tcl.j2", dict(
        top=top, part=part, period_ns=f"{1000.0 / clock_mhz:.3f}", clock_port=clock_port,
        clock_name=clock_name or clock_port, sources=sources, implement=bool(implement), script_name=TCL_NAME,
    ))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / TCL_NAME
    path.write_text(text)
    return path


def vendor_tools_available() -> dict[str, Optional[str]]:
    return {tool: shutil.which(tool) for tool in ("vitis_hls", "vivado")}


def run_tool(cmd: list[str], cwd, timeout_s: float, log_path) -> tuple[Optional[int], bool, str]:
    """Run `cmd` with stdout+stderr into `log_path`. Returns (rc, timed_out, last 40 log lines).

    rc is None on timeout; 127 when the command cannot be started (as a shell would say).
    Thin adapter over flows.tools.run_tool, which kills the whole process group on timeout
    (Vivado forks helper processes).
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    run = tools.run_tool(list(cmd), Path(cwd), timeout_s, log_path, tail_lines=LOG_TAIL_LINES)
    if not run.timed_out:
        return run.rc, False, run.log_tail
    note = f"[hwgen] killed after timeout of {timeout_s} s"
    with open(log_path, "a") as log:
        log.write(f"\n{note}\n")
    return None, True, f"{run.log_tail}\n{note}".lstrip("\n")


def _failed(flow: str, status: str, error: str, runtime_s: Optional[float] = None) -> Report:
    return Report(flow=flow, status=status, error=error or f"{flow} failed without output", runtime_s=runtime_s)


def _run(tool: str, args: list[str], flow: str, workdir, timeout_s: float, parse) -> Report:
    """Shared runner: locate tool, run it, turn every failure mode into a Report."""
    exe = shutil.which(tool)
    if exe is None:
        return _failed(flow, "skipped", f"{tool} not on PATH")
    workdir = Path(workdir)
    t0 = time.monotonic()
    since = time.time() - 2.0   # slack for coarse filesystem timestamps
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        rc, timed_out, tail = run_tool([exe, *args], workdir, timeout_s, workdir / f"{tool}_run.log")
        runtime = round(time.monotonic() - t0, 3)
        if timed_out:
            return _failed(flow, "timeout", tail, runtime)
        if rc != 0:
            return _failed(flow, "failed", f"{tool} exited with {rc}\n{tail}", runtime)
        report = parse(workdir, since)
        if report is None:
            return _failed(flow, "failed", f"{tool} finished but wrote no reports\n{tail}", runtime)
        report.runtime_s = runtime
        return report
    except Exception as e:  # noqa: BLE001 -- contract: a runner reports failures, never raises
        return _failed(flow, "failed", f"{type(e).__name__}: {e}", round(time.monotonic() - t0, 3))


def _parse_vivado_dir(workdir: Path, since: float) -> Optional[Report]:
    def fresh(p: Path) -> bool:   # older files are left over from an earlier run in this workdir
        return p.exists() and p.stat().st_mtime >= since

    def load(names):
        util, timing = (workdir / n for n in names)
        if not fresh(util):
            return None
        return merge_reports(parse_vivado_utilization(util), *([parse_vivado_timing(timing)] if fresh(timing) else []))

    synth, impl = load(SYNTH_REPORTS), load(IMPL_REPORTS)
    if impl is None:
        return synth
    # Post-route numbers are the real ones; keep synthesis for comparison rather than mixing both.
    if synth is not None:
        impl.extra["synth"] = {"resources": synth.resources.model_dump(), "wns_ns": synth.extra.get("wns_ns"),
                               "fmax_mhz_est": synth.fmax_mhz_est}
    impl.extra["stage"] = "impl"
    return impl


def run_vivado(tcl_path, workdir, timeout_s: float) -> Report:
    """Run a Vivado batch TCL in `workdir`; parse util/timing reports it wrote there."""
    tcl = str(Path(tcl_path).resolve())
    return _run("vivado", ["-mode", "batch", "-nojournal", "-nolog", "-source", tcl], "vendor-vivado",
                workdir, timeout_s, _parse_vivado_dir)


def _parse_hls_dir(workdir: Path, since: float) -> Optional[Report]:
    # Top-level report only: per-module reports are named <module>_csynth.xml. Reports older than
    # this run belong to earlier runs/solutions in the same workdir.
    found = sorted((p for p in Path(workdir).glob("**/syn/report/csynth.xml") if p.stat().st_mtime >= since),
                   key=lambda p: p.stat().st_mtime)
    return parse_csynth_xml(found[-1], tool="vitis_hls") if found else None


def run_vitis_hls(tcl_path, workdir, timeout_s: float) -> Report:
    """Run `vitis_hls -f tcl` in `workdir`; parse the newest solution's csynth.xml."""
    return _run("vitis_hls", ["-f", str(Path(tcl_path).resolve())], "vendor-hls", workdir, timeout_s, _parse_hls_dir)
