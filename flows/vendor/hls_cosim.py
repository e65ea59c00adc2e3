"""Vendor C/RTL cosimulation: Vitis HLS runs the generated TCL (csim + csynth + cosim) on our vector files;
the generic C++ test bench writes the output streams, compared bit-exactly by flows/simulate.py."""
from __future__ import annotations

import shutil
from pathlib import Path

from hwgen.errors import ToolMissing

from ..simulate import FlowFailed, simulate
from ..tools import run_tool

TIMEOUT_S = 6 * 3600.0


def run_vendor_cosim(project: Path, inputs_path: Path | None, output_path: Path | None,
                     vectors: int = 8, seed: int = 0, timeout_s: float = TIMEOUT_S) -> dict:
    vitis = shutil.which("vitis_hls")
    if vitis is None:
        raise ToolMissing("vitis_hls", "the vendor flow needs AMD Vitis HLS on PATH; use --flow open for Icarus/Verilator")
    project = Path(project).resolve()

    def run(spec, kernel, inputs, folder):
        res = run_tool([vitis, "-f", "run_hls.tcl", "-tclargs", "cosim"], project / "hls", timeout_s,
                       project / "hls" / "vitis_cosim.log", env={"HWGEN_VECTORS": str(folder)})
        if not res.ok:
            raise FlowFailed(f"vitis_hls failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}")
        return {}

    try:
        return simulate(project, "vendor-cosim", run, inputs_path, output_path, vectors, seed)
    except FlowFailed as err:
        return {"pass": False, "mismatches": None, "vectors": 0, "flow": "vendor-cosim", "error": str(err)}
