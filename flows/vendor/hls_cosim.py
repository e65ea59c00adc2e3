"""Vendor C/RTL cosimulation: Vitis HLS runs the generated TCL (csim + csynth + cosim) on our vector
files; the C++ test bench writes y.txt, which we compare bit-exactly with the golden model."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from hwgen.errors import ToolMissing

from ..csim import prepare_inputs, save_npy_atomic
from ..tools import run_tool

TIMEOUT_S = 6 * 3600


def run_vendor_cosim(project: Path, inputs_path: Path | None, output_path: Path | None,
                     vectors: int = 8, seed: int = 0) -> dict:
    vitis = shutil.which("vitis_hls")
    if vitis is None:
        raise ToolMissing("vitis_hls", "the vendor flow needs AMD Vitis HLS on PATH; use --flow open for Icarus/Verilator")
    spec, kernel, inputs = prepare_inputs(project, inputs_path, vectors, seed)
    expected = kernel.golden(spec, inputs)
    with tempfile.TemporaryDirectory(prefix="hwgen-vcosim-") as tmp:
        vec = Path(tmp) / "vectors"
        vec.mkdir()
        kernel.write_vectors(spec, inputs, vec)
        res = run_tool([vitis, "-f", "run_hls.tcl", "-tclargs", "cosim"], Path(project) / "hls", TIMEOUT_S,
                       Path(project) / "hls" / "vitis_cosim.log", env={"HWGEN_VECTORS": str(vec)})
        if not res.ok or not (vec / "y.txt").exists():
            return {"pass": False, "mismatches": None, "vectors": kernel.vector_count(inputs), "flow": "vendor-cosim",
                    "error": f"vitis_hls failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}"}
        got = kernel.read_hw_output(spec, inputs, vec)
    mismatches = int(np.count_nonzero(got != expected))
    if output_path is not None:
        save_npy_atomic(Path(output_path), kernel.user_output(spec, inputs, got))
    return {"pass": mismatches == 0, "mismatches": mismatches, "vectors": kernel.vector_count(inputs),
            "flow": "vendor-cosim", **kernel.extra_metrics(spec, inputs, got)}
