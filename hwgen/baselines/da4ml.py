"""The da4ml floor: constant-weight adder graphs (PyPI `da4ml`, optional extra `baselines`) for a ternary matrix
fixed at synthesis time, through hwgen's open flows.

da4ml solves the constant-matrix-vector multiply y = x @ W as a shared adder graph (common subexpressions across
the columns) and writes Verilog; pipelined with `latency_cutoff` adder levels per register stage. Here: generate
it for a chunk x lanes ternary W with signed act_bits inputs (the part of the matmul a kernel does per cycle),
simulate it with Icarus against numpy's x @ W, and synthesize it with the same Yosys flow as the kernels
(flows/synth_open.synth_verilog). The design is the datapath only: registered inputs and outputs, no accumulator,
no weight storage (the weights are the wiring).

da4ml >= 0.6 needs numpy >= 2 (tensorflow 2.15 needs < 2): use da4ml 0.5.2 (numba).
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class CmvmDesign:
    top: str               # the uniform-I/O wrapper da4ml writes
    folder: Path
    sources: tuple         # Verilog files
    n_in: int
    n_out: int
    act_bits: int
    out_field: int         # bits per output in model_out
    latency: int           # cycles from model_inp to model_out (0: combinational)
    stages: int            # da4ml pipeline stages
    cost: float            # da4ml's own cost estimate (adder bits)


def available() -> bool:
    try:
        import da4ml  # noqa: F401
    except ImportError:
        return False
    return True


def _require():
    if not available():
        from ..flows.tools import ToolMissing
        raise ToolMissing("da4ml", "pip install 'da4ml==0.5.2' (pyproject extra `baselines`)")


def generate(w: np.ndarray, act_bits: int, folder: Path, latency_cutoff: float = -1, name: str = "cmvm") -> CmvmDesign:
    """da4ml Verilog for y = x @ w (w: [n_in, n_out] integers), x signed act_bits; latency_cutoff > 0: register
    stages every that many adder levels (da4ml's latency unit with adder_size 1), else combinational."""
    _require()
    from da4ml.codegen import VerilogModel
    from da4ml.trace import FixedVariableArrayInput, HWConfig, comb_trace

    w = np.asarray(w)
    if w.ndim != 2 or not np.issubdtype(w.dtype, np.integer):
        raise UserError("w", f"expected a 2-D integer matrix, got {w.dtype} {list(w.shape)}")
    if not re.match(r"^[A-Za-z_]\w*$", name):
        raise UserError("name", f"must be a Verilog identifier (got {name!r})")
    folder = Path(folder).resolve()     # the simulator and Yosys run in their own folders
    shutil.rmtree(folder, ignore_errors=True)
    inp = FixedVariableArrayInput((w.shape[0],), hwconf=HWConfig(1, -1, -1))
    out = inp.quantize(1, act_bits - 1, 0) @ w.astype(np.float64)
    comb = comb_trace(inp, out)
    model = VerilogModel(comb, name, folder, latency_cutoff=latency_cutoff, print_latency=False)
    model.write()
    src = folder / "src"
    wrapper = (src / f"{name}_wrapper.v").read_text()
    out_bits = int(re.search(r"output\s*\[(\d+):0\]\s*model_out", wrapper).group(1)) + 1
    in_bits = int(re.search(r"input\s*\[(\d+):0\]\s*model_inp", wrapper).group(1)) + 1
    if in_bits != w.shape[0] * act_bits or out_bits % w.shape[1]:
        raise RuntimeError(f"da4ml wrapper ports {in_bits}/{out_bits} bits do not match {w.shape}")
    pipe = getattr(model, "_pipe", None)
    stages = len(pipe.solutions) if pipe is not None else 0
    generated = sorted(src.glob("*.v"))
    text = "".join(p.read_text() for p in generated)
    # only the library modules the design instantiates (lookup_table.v reads a placeholder memory file)
    static = [p for p in sorted((src / "static").glob("*.v")) if re.search(rf"\b{p.stem}\b", text)]
    sources = tuple(generated + static)
    return CmvmDesign(f"{name}_wrapper", folder, sources, w.shape[0], w.shape[1], act_bits, out_bits // w.shape[1],
                      stages + 1 if stages else 0, stages, float(comb.cost))


def simulate(design: CmvmDesign, x: np.ndarray, timeout_s: float = 600) -> np.ndarray:
    """Icarus run of the design on the rows of x (one per cycle); returns y [rows, n_out]."""
    from ..flows.tools import require, run_tool
    from ..render import render_template

    x = np.asarray(x, dtype=np.int64)
    run_dir = design.folder / "sim_icarus"
    run_dir.mkdir(parents=True, exist_ok=True)
    mask = (1 << design.act_bits) - 1
    digits = -(-design.n_in * design.act_bits // 4)
    with open(run_dir / "in.hex", "w") as f:
        for row in x:
            word = 0
            for i, v in enumerate(row):
                word |= (int(v) & mask) << (i * design.act_bits)
            f.write(f"{word:0{digits}x}\n")
    (run_dir / "tb.v").write_text(render_template("baselines/da4ml_tb.v.j2", dict(
        top=design.top, n_in=design.n_in, n_out=design.n_out, in_bits=design.n_in * design.act_bits,
        out_bits=design.n_out * design.out_field, out_field=design.out_field, latency=design.latency,
        vectors=len(x), cycles=len(x) + design.latency)))
    build = run_tool([require("iverilog"), "-g2012", "-s", "tb", "-o", "sim.vvp", "tb.v", *map(str, design.sources)],
                     run_dir, timeout_s, run_dir / "build.log")
    if not build.ok:
        raise RuntimeError(f"iverilog failed:\n{build.log_tail}")
    sim = run_tool([require("vvp"), "-n", "sim.vvp"], run_dir, timeout_s, run_dir / "sim.log")
    if not sim.ok:
        raise RuntimeError(f"vvp failed:\n{sim.log_tail}")
    rows = [line.split() for line in (run_dir / "out.txt").read_text().splitlines() if line.strip()]
    return np.array(rows, dtype=np.int64).reshape(len(x), design.n_out)


def synthesize(design: CmvmDesign, family: str = "xcup", timeout_s: float = 3600):
    """The open Yosys flow on the design (flows/synth_open.synth_verilog): (resources, depth info, cells, ok, log)."""
    from ..flows.synth_open import synth_verilog

    res, depth, cells, log, ok = synth_verilog(list(design.sources), design.top, family, design.folder / "yosys",
                                               timeout_s)
    return res, depth, cells, ok, log
