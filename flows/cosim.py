"""RTL cosimulation: run the generated Verilog and the generic test bench (Icarus or Verilator) on the same
vector files as C-simulation, compare bit-exactly with the golden model (flows/simulate.py), and report the
performance contract as measured: latency_cycles of one unit and ii between units (hwgen/kernels/base.py)."""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from hwgen.errors import UserError

from .simulate import FlowFailed, simulate
from .tools import cache_dir as tool_cache, content_key, require, run_tool, tool_version, xilinx_sim_models
from .vectors import rate_plusargs, read_stats, source_rates

__all__ = ["run_cosim", "pick_simulator", "build_simulation", "FlowFailed", "SIMULATORS"]

SIMULATORS = ("auto", "icarus", "verilator")
BUILD_TIMEOUT_S = 1200.0
RUN_TIMEOUT_S = 1800.0


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


# An instance of a Xilinx primitive (the expert naive adder writes LUT6_2 / CARRY8 by hand)
_PRIMITIVE = re.compile(r"^\s*(?:LUT[1-6](?:_2)?|CARRY[48])\s*#\s*\(", re.M)


def primitive_library(design: list[Path]) -> list[Path]:
    """Yosys' Xilinx simulation models when the design instantiates primitives (a library: only the modules the
    design uses are elaborated), else nothing."""
    return [xilinx_sim_models()] if any(_PRIMITIVE.search(p.read_text()) for p in design) else []


def simulator_version(simulator: str) -> str:
    return tool_version("verilator" if simulator == "verilator" else "iverilog")


def build_simulation(project: Path, top: str, simulator: str, timeout_s: float = BUILD_TIMEOUT_S,
                     cache_dir: Path | None = None) -> list[str]:
    """Compile the test bench + design once per content hash; return the command that runs it."""
    design, tb = rtl_sources(project, top)
    files = [tb, *design]
    library = primitive_library(design)
    root = tool_cache("cosim", cache_dir)
    key = content_key(simulator, simulator_version(simulator),
                      *[f"{p.name}\n{p.read_text()}" for p in files + library])
    folder = root / key
    if simulator == "icarus":
        exe = folder / "sim.vvp"
        run = [require("vvp"), "-n", str(exe)]
    else:
        exe = folder / "obj" / "Vtb"
        run = [str(exe)]
    if exe.exists():
        return run
    staging = Path(tempfile.mkdtemp(prefix="build.", dir=root))
    try:
        if simulator == "icarus":
            cmd = [require("iverilog"), "-g2012", "-s", f"tb_{top}", "-o", str(staging / "sim.vvp"), *map(str, files),
                   *(arg for lib in library for arg in ("-l", str(lib)))]
        else:
            cmd = [require("verilator"), "--binary", "--timing", "-Wno-fatal", "-O2", "--top-module", f"tb_{top}",
                   "-Mdir", str(staging / "obj"), "-o", "Vtb", *map(str, files),
                   *(arg for lib in library for arg in ("-v", str(lib)))]
        res = run_tool(cmd, staging, timeout_s, staging / "build.log", tail_lines=40)
        if not res.ok:
            raise FlowFailed(f"{simulator} build failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return run


def run_cosim(project: Path, inputs_path: Path | None = None, output_path: Path | None = None,
              vectors: int = 8, seed: int = 0, stall: int = 0, simulator: str = "auto",
              timeout_s: float = RUN_TIMEOUT_S, build_timeout_s: float = BUILD_TIMEOUT_S,
              cache_dir: Path | None = None, rates: dict | None = None, inputs: dict | None = None) -> dict:
    """Simulate; the summary's latency_cycles / ii are the test bench's measurement of the first unit and of the
    interval to the second (the kernel's performance contract at zero stalls), model_* the contract itself.
    `rates`: {input port: payload bytes per cycle} limits those sources (flows/vectors.py source_rates); the
    summary's source_rates holds the beats per cycle the test bench realised."""
    project = Path(project).resolve()     # simulators run in their own folders: relative paths would break
    if not 0 <= stall <= 90:
        raise UserError("stall", f"must be 0..90 percent (got {stall})")
    simulator = pick_simulator(simulator)

    def run(spec, kernel, inputs, folder):
        cmd = build_simulation(project, kernel.rtl_top(spec), simulator, build_timeout_s, cache_dir)
        beats = kernel.stream_beats(spec, inputs)
        setup = sum(len(v) for p, v in beats.items()
                    if p in {q.name for q in kernel.ports(spec) if q.role == "setup"})
        budget = kernel.expected_cycles(spec, inputs) + setup
        limited = source_rates(kernel, spec, rates)
        # a rate-limited port needs at least its beats / rate cycles
        budget += sum(len(beats[p]) * den // num for p, (num, den) in limited.items())
        max_cycles = int((budget + 10_000) * (4 + 10 * stall / 100)) + 100_000
        res = run_tool([*cmd, f"+VEC={folder}", f"+SEED={seed + 1}", f"+STALL={stall}", f"+MAXCYC={max_cycles}",
                        *rate_plusargs(limited)], folder, timeout_s, folder / "sim.log")
        if not res.ok or "TIMEOUT" in res.log_tail or not (folder / "stats.txt").exists():
            raise FlowFailed(f"{simulator} simulation failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}")
        stats = read_stats(folder / "stats.txt")
        perf = kernel.performance(spec)
        return {
            "latency_cycles": int(stats["latency_cycles"]) if "latency_cycles" in stats else None,
            "ii": int(stats["ii"]) if "ii" in stats else None,
            "model_latency_cycles": perf.latency_cycles, "model_ii": perf.ii, "unit": perf.unit,
            "model_cycles": kernel.expected_cycles(spec, inputs),
            "simulator": simulator, "simulator_version": simulator_version(simulator), "stall_percent": stall,
            **({"source_rates": {p: f"{n}/{d}" for p, (n, d) in limited.items()}} if limited else {}),
            **{k: v for k, v in stats.items() if k not in ("latency_cycles", "ii")},
        }

    return simulate(project, "cosim", run, inputs_path, output_path, vectors, seed, inputs)
