"""One design point of a dataset (runs in a worker process): parse the spec, generate the project, synthesize it
with Yosys and, when synthesis is ok, cosimulate two units to measure the performance contract
(hwgen/kernels/base.py): latency_cycles of the first unit and ii between the two.

Never raises for tool problems: a synthesis failure or timeout is a record with status failed/timeout and
`error`; a cosim failure keeps the synthesis record (status ok) with latency/ii None and the reason in
extra["cosim"]. Simulator: Icarus when its predicted time (simulated cycles x synthesized cells) is short (it starts
instantly), Verilator (compiles 20-180 s, runs ~100x faster) otherwise, and as the fallback when Icarus overruns.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Optional

from hwgen.errors import UserError

__all__ = ["run_point", "rtl_digests", "key_tool_versions", "failed_report", "FLOW_ID", "DEFAULT_TIMEOUT_S", "DEFAULT_COSIM_TIMEOUT_S"]

FLOW_ID = "hwgen-dataset/1"
DEFAULT_TIMEOUT_S = 1800.0
DEFAULT_COSIM_TIMEOUT_S = 600.0
COSIM_UNITS = 2                  # latency of unit 1, ii from unit 1 to unit 2
# Icarus runs roughly 1e7-6e7 (cell x cycle)/s on these designs (cells = Yosys cells after synthesis);
# Verilator needs 20-180 s to compile but then runs ~100x faster.
ICARUS_CELL_CYCLES_PER_S = 1.5e7
ICARUS_MAX_PREDICTED_S = 45.0
ICARUS_TIMEOUT_S = 120.0         # an Icarus run slower than this is retried with Verilator


def key_tool_versions(cosim: bool = True, yosys: Optional[str] = None) -> dict[str, str]:
    """The tool versions (and flow id) that enter every record's key; `yosys` as in flows.tools.require."""
    from hwgen.flows.tools import tool_version

    tools = {"yosys": tool_version("yosys", yosys), "flow": FLOW_ID + ("+cosim" if cosim else "")}
    if cosim:
        tools["iverilog"] = tool_version("iverilog")
        tools["verilator"] = tool_version("verilator")
    return tools


def failed_report(spec_data: dict, status: str, error: str):
    from hwgen.flows.report import Report
    from hwgen.spec import COMMON_FIELDS
    from hwgen.targets import TARGETS

    params = {k: v for k, v in spec_data.items() if k not in COMMON_FIELDS}
    t = TARGETS.get(spec_data.get("target", ""))
    return Report(design=spec_data.get("name") or spec_data.get("kind", ""), kernel=spec_data.get("kind", ""),
                  params=params, target=spec_data.get("target"), part=t.part if t else None, flow="open-yosys",
                  clock_mhz=spec_data.get("clock_mhz") or (t.default_clock_mhz if t else None),
                  status=status, error=error)


def _model_summary(kernel, spec) -> dict:
    try:
        m = kernel.model(spec)
        d = m.as_dict()
    except Exception:   # a model is a nice-to-have feature source, never a reason to fail a point
        return {}
    return {k: v for k, v in d.items() if isinstance(v, (bool, int, float, str)) or v is None}


def rtl_digests(rtl_files) -> tuple[str, str]:
    """(with the test bench, design only) digests of a project's Verilog, given as (file name, bytes) pairs of its
    rtl/*.v files. The design-only digest leaves tb_*.v out (what synthesis reads), so a test-bench change does not
    force a re-synthesis when a stored synthesis is reused."""
    full, design = hashlib.sha256(), hashlib.sha256()
    for name, data in sorted(rtl_files):
        chunk = name.encode() + b"\0" + data + b"\0"
        full.update(chunk)
        if not name.startswith("tb_"):
            design.update(chunk)
    return full.hexdigest()[:16], design.hexdigest()[:16]


def _same_design(prev_extra: dict, extra: dict) -> bool:
    """The stored synthesis was run on this RTL: by the design-only digest, or (records from before it existed)
    by the digest with the test bench."""
    if prev_extra.get("rtl_design_sha256"):
        return prev_extra["rtl_design_sha256"] == extra["rtl_design_sha256"]
    return prev_extra.get("rtl_sha256") == extra["rtl_sha256"]


def _estimate_sim_cycles(kernel, spec) -> int:
    """Cycles of the cosim run (the weight load included)."""
    import numpy as np

    inputs = kernel.random_inputs(spec, np.random.default_rng(0), COSIM_UNITS)
    setup_ports = {p.name for p in kernel.ports(spec) if p.role == "setup"}
    setup = sum(len(b) for name, b in kernel.stream_beats(spec, inputs).items() if name in setup_ports)
    return int(kernel.expected_cycles(spec, inputs) + setup)


def _run_cosim(project: Path, kernel, spec, work: Path, timeout_s: float, seed: int, cells: int = 0) -> dict:
    from hwgen.flows.cosim import run_cosim
    from hwgen.flows.simulate import FlowFailed

    t0 = time.monotonic()
    info: dict = {"status": "ok"}
    try:
        est = _estimate_sim_cycles(kernel, spec)
    except Exception:
        est = None
    info["est_cycles"] = est
    predicted = None if est is None else est * max(cells, 100) / ICARUS_CELL_CYCLES_PER_S
    info["icarus_predicted_s"] = None if predicted is None else round(predicted, 1)
    order = ["verilator"] if predicted is not None and predicted > ICARUS_MAX_PREDICTED_S else ["icarus", "verilator"]
    res = None
    for i, sim in enumerate(order):
        if shutil.which("iverilog" if sim == "icarus" else "verilator") is None:
            continue
        limit = min(timeout_s, ICARUS_TIMEOUT_S) if sim == "icarus" and i + 1 < len(order) else timeout_s
        try:
            # compiled simulators live (and die) with the job's folder
            res = run_cosim(project, vectors=COSIM_UNITS, seed=seed, simulator=sim, timeout_s=limit,
                            build_timeout_s=limit, cache_dir=work / "cache")
            info["simulator"] = sim
            break
        except FlowFailed as err:
            msg = str(err)
            timed_out = "timeout=True" in msg
            info["status"] = "timeout" if timed_out else "failed"
            info["error"] = msg[-1500:]
            if not timed_out:   # a real failure will fail in the other simulator too
                break
        except UserError as err:
            info["status"], info["error"] = "failed", str(err)
            break
    if res is not None:
        info.pop("error", None)
        info.update({
            "status": "ok" if res["pass"] else "mismatch", "pass": bool(res["pass"]),
            "mismatches": int(res["mismatches"]), "tlast_errors": int(res.get("tlast_errors") or 0),
            "units": COSIM_UNITS, "latency_cycles": res["latency_cycles"], "ii": res["ii"],
            "model_latency_cycles": res["model_latency_cycles"], "model_ii": res["model_ii"],
            "model_cycles": res["model_cycles"], "cycles": res.get("cycles"),
            "simulator_version": res.get("simulator_version"),
        })
    elif "simulator" not in info and "error" not in info:
        info["status"], info["error"] = "skipped", "no simulator (iverilog/verilator) on PATH"
    info["seconds"] = round(time.monotonic() - t0, 2)
    return info


def run_point(spec_data: dict, key: str, key_tools: dict, timeout_s: float = DEFAULT_TIMEOUT_S,
              cosim: bool = True, cosim_timeout_s: float = DEFAULT_COSIM_TIMEOUT_S, seed: int = 0,
              build_info: Optional[dict] = None, previous: Optional[dict] = None, yosys: Optional[str] = None) -> dict:
    """Build one design point; never raises for tool problems. Returns the Report as a JSON dict.
    `yosys`: the Yosys binary to synthesize with (default: the one on PATH).

    `previous`: a stored record of this point whose synthesis succeeded but whose cosim failed; its
    synthesis is reused (only cosim reruns) when the regenerated RTL is byte-identical to it."""
    from hwgen import kernels
    from hwgen.flows.report import Report, apply_performance, apply_timing
    from hwgen.flows.synth_open import run_open_synth
    from hwgen.render import write_project

    t0 = time.monotonic()
    reused_synth_s = 0.0     # a reused synthesis keeps the time it took when it ran
    work = Path(tempfile.mkdtemp(prefix="hwgen-ds-"))
    extra: dict = {}
    kernel = spec = project = None
    try:
        try:
            spec = kernels.parse_spec(spec_data)
            kernel = kernels.get(spec.kind)
            project = write_project(spec, (work / "proj").resolve(), "both")
            extra["rtl_sha256"], extra["rtl_design_sha256"] = rtl_digests(
                (p.name, p.read_bytes()) for p in (project / "rtl").glob("*.v"))
            extra["model"] = _model_summary(kernel, spec)
            prev_extra = (previous or {}).get("extra") or {}
            if previous and previous.get("status") == "ok" and _same_design(prev_extra, extra):
                report = Report.model_validate(previous)
                reused_synth_s = float((prev_extra.get("timing") or {}).get("synth_s") or 0.0)
                extra["resynth"] = False
            else:
                report = run_open_synth(project, (work / "syn").resolve(), timeout_s, yosys=yosys)
        except UserError as err:
            report = failed_report(spec_data, "failed", f"{err}")
        except Exception as err:   # a generator/flow bug: record it, keep building the rest
            report = failed_report(spec_data, "failed",
                                   f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=6)[-2000:]}")
        synth_s = time.monotonic() - t0 + reused_synth_s
        report.latency_cycles = report.ii = None      # only a measurement goes into a dataset record
        if cosim and report.status == "ok":
            try:
                cells = sum(int(v) for v in (report.extra.get("cells") or {}).values())
                info = _run_cosim(project, kernel, spec, work, cosim_timeout_s, seed, cells)
            except Exception as err:
                info = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
            if info.get("status") == "ok":
                report.latency_cycles = info.get("latency_cycles")
                report.ii = info.get("ii")
            sim = info.get("simulator")
            if sim in ("icarus", "verilator"):
                tool = "iverilog" if sim == "icarus" else "verilator"
                report.tool_versions[tool] = info.get("simulator_version") or key_tools.get(tool, "")
        else:
            info = {"status": "skipped", "error": "cosim disabled" if not cosim else f"synthesis {report.status}"}
        if kernel is not None and report.status == "ok":
            measured = (report.latency_cycles, report.ii)
            apply_performance(report, kernel, spec)           # the contract, kept next to the measurement
            report.latency_cycles, report.ii = measured
            report.extra["latency_source"] = "cosim, first of two units at zero stalls"
        apply_timing(report)
        report.extra.update(extra)
        report.extra.update({
            "key": key, "spec": spec_data, "key_tools": key_tools, "cosim": info, "timeout_s": timeout_s,
            "timing": {"synth_s": round(synth_s, 2), "cosim_s": info.get("seconds"),
                       "total_s": round(time.monotonic() - t0 + reused_synth_s, 2)},
            "build": build_info or {},
        })
        return report.model_dump(mode="json")
    finally:
        shutil.rmtree(work, ignore_errors=True)
