"""RTL cosimulation: run the generated Verilog and its test bench (Icarus or Verilator) on the same
vector files as C-simulation, compare bit-exactly with the golden model, and measure latency and II."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from hwgen.errors import UserError

from .csim import FlowFailed, prepare_inputs, save_npy_atomic
from .tools import cache_dir, content_key, require, run_tool, tool_version

SIMULATORS = ("auto", "icarus", "verilator")
BUILD_TIMEOUT_S = 1200
RUN_TIMEOUT_S = 1800


def pick_simulator(requested: str) -> str:
    if requested not in SIMULATORS:
        raise UserError("simulator", f"unknown simulator {requested!r}; allowed: {', '.join(SIMULATORS)}")
    if requested != "auto":
        require("iverilog" if requested == "icarus" else "verilator")
        return requested
    # Icarus starts instantly; Verilator compiles for seconds but runs large designs far faster.
    if shutil.which("iverilog") and shutil.which("vvp"):
        return "icarus"
    if shutil.which("verilator"):
        return "verilator"
    require("iverilog")
    raise AssertionError("unreachable")


def rtl_sources(project: Path, top: str) -> tuple[list[Path], Path]:
    rtl = Path(project) / "rtl"
    tb = rtl / f"tb_{top}.v"
    design = sorted(p for p in rtl.glob("*.v") if not p.name.startswith("tb_"))
    if not design or not tb.exists():
        raise UserError("project", f"{project} has no RTL (rtl/{top}.v, rtl/tb_{top}.v); generate with --backend rtl or both")
    return design, tb


def build_simulation(project: Path, top: str, simulator: str) -> list[str]:
    """Compile the test bench + design once per content hash; return the command that runs it."""
    design, tb = rtl_sources(project, top)
    files = [tb, *design]
    key = content_key(simulator, tool_version("verilator" if simulator == "verilator" else "iverilog"),
                      *[f"{p.name}\n{p.read_text()}" for p in files])
    folder = cache_dir("cosim") / key
    if simulator == "icarus":
        exe = folder / "sim.vvp"
        run = [require("vvp"), "-n", str(exe)]
    else:
        exe = folder / "obj" / "Vtb"
        run = [str(exe)]
    if exe.exists():
        return run
    staging = Path(tempfile.mkdtemp(prefix="build.", dir=cache_dir("cosim")))
    try:
        if simulator == "icarus":
            cmd = [require("iverilog"), "-g2012", "-s", f"tb_{top}", "-o", str(staging / "sim.vvp"), *map(str, files)]
        else:
            cmd = [require("verilator"), "--binary", "--timing", "-Wno-fatal", "-O2", "--top-module", f"tb_{top}",
                   "-Mdir", str(staging / "obj"), "-o", "Vtb", *map(str, files)]
        res = run_tool(cmd, staging, BUILD_TIMEOUT_S, staging / "build.log", tail_lines=40)
        if not res.ok:
            raise FlowFailed(f"{simulator} build failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return run


def read_stats(path: Path) -> dict[str, float]:
    stats = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                stats[parts[0]] = float(parts[1])
    return stats


def run_cosim(project: Path, inputs_path: Path | None = None, output_path: Path | None = None,
              vectors: int = 8, seed: int = 0, stall: int = 0, simulator: str = "auto") -> dict:
    project = Path(project).resolve()     # simulators run in their own folders: relative paths would break
    if not 0 <= stall <= 90:
        raise UserError("stall", f"must be 0..90 percent (got {stall})")
    spec, kernel, inputs = prepare_inputs(project, inputs_path, vectors, seed)
    expected = kernel.golden(spec, inputs)
    simulator = pick_simulator(simulator)
    run = build_simulation(project, kernel.rtl_top(spec), simulator)
    model_cycles = kernel.expected_cycles(spec, inputs) or 0
    budget_cycles = model_cycles + kernel.setup_cycles(spec)
    max_cycles = int((budget_cycles + 10_000) * (4 + 10 * stall / 100)) + 100_000
    with tempfile.TemporaryDirectory(prefix="hwgen-cosim-") as tmp:
        folder = Path(tmp)
        kernel.write_vectors(spec, inputs, folder)
        res = run_tool([*run, f"+VEC={folder}", f"+SEED={seed + 1}", f"+STALL={stall}", f"+MAXCYC={max_cycles}"],
                       folder, RUN_TIMEOUT_S, folder / "sim.log")
        if not res.ok or "TIMEOUT" in res.log_tail or not (folder / "stats.txt").exists():
            raise FlowFailed(f"{simulator} simulation failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}")
        got = kernel.read_hw_output(spec, inputs, folder)
        stats = read_stats(folder / "stats.txt")
    mismatches = int(np.count_nonzero(got != expected))
    summary = {
        "pass": mismatches == 0,
        "mismatches": mismatches,
        "vectors": kernel.vector_count(inputs),
        "latency_cycles": int(stats["latency_cycles"]) if "latency_cycles" in stats else None,
        "ii": stats.get("ii"),
        "kernel": spec.kind,
        "design": spec.design_name,
        "flow": "cosim",
        "simulator": simulator,
        "simulator_version": tool_version("verilator" if simulator == "verilator" else "iverilog"),
        "stall_percent": stall,
        "model_cycles": model_cycles,
        **{k: v for k, v in stats.items() if k not in ("latency_cycles", "ii")},
    }
    summary.update(kernel.extra_metrics(spec, inputs, got))
    if output_path is not None:
        save_npy_atomic(Path(output_path), kernel.user_output(spec, inputs, got))
    return summary
