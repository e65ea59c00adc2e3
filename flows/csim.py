"""C-simulation: compile the generated HLS C++ with g++ and the hls4ml-shipped ap_types headers,
run it on vectors and compare bit-exactly with the numpy golden model."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hwgen.errors import UserError
from hwgen.kernels import registry
from hwgen.render import SPEC_FILE
from hwgen.spec import KernelSpec, load_spec

from .tools import ap_types_include, cache_dir, content_key, require, run_tool, tool_version

# -O0: at -O1 and above g++ reports -Wmaybe-uninitialized false positives inside the
# ap_types headers (ap_private leaves VAL unset before masking); our own code stays -Wall clean.
CXXFLAGS = ["-std=c++14", "-O0", "-Wall"]
COMPILE_TIMEOUT_S = 600
RUN_TIMEOUT_S = 600


class FlowFailed(Exception):
    """A tool crashed or timed out; carries the log tail for the report."""


def load_project(project: Path) -> KernelSpec:
    project = Path(project)
    if not (project / SPEC_FILE).exists():
        raise UserError("project", f"{project} is not a generated project (no {SPEC_FILE}); run `hwgen generate` first")
    return load_spec(project / SPEC_FILE)


def build_csim(project: Path, spec: KernelSpec) -> tuple[Path, str]:
    """Compile the project's test bench, reusing a cached binary when sources and flags are unchanged."""
    gxx = require("g++")
    hls = Path(project) / "hls"
    sources = sorted(hls.glob("*.cpp"))
    headers = sorted(hls.glob("*.h"))
    if not sources:
        raise UserError("project", f"{project} has no HLS sources; generate with --backend hls or both")
    include = ap_types_include()
    key = content_key(tool_version("g++"), " ".join(CXXFLAGS), str(include),
                      *[f"{p.name}\n{p.read_text()}" for p in sources + headers])
    exe = cache_dir("csim") / key / "csim.exe"
    if exe.exists():
        return exe, ""
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp_exe = exe.with_name(f"csim.{os.getpid()}.tmp")
    cmd = [gxx, *CXXFLAGS, "-isystem", str(include), "-I", str(hls), *map(str, sources), "-o", str(tmp_exe)]
    with tempfile.TemporaryDirectory() as tmp:
        res = run_tool(cmd, Path(tmp), COMPILE_TIMEOUT_S, Path(tmp) / "gcc.log", tail_lines=60)
        warnings = res.log_tail
    if not res.ok:
        tmp_exe.unlink(missing_ok=True)
        raise FlowFailed(f"g++ failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}")
    tmp_exe.replace(exe)
    return exe, warnings


def prepare_inputs(project: Path, inputs_path: Path | None, vectors: int, seed: int):
    """The project's spec and kernel, and the stimulus: the user's .npz (validated) or random vectors."""
    spec = load_project(project)
    kernel = registry.get(spec.kind)
    if inputs_path is not None:
        return spec, kernel, kernel.load_inputs(spec, Path(inputs_path))
    if vectors < 1:
        raise UserError("vectors", f"must be >= 1 (got {vectors})")
    return spec, kernel, kernel.random_inputs(spec, np.random.default_rng(seed), vectors)


def run_csim(project: Path, inputs_path: Path | None = None, output_path: Path | None = None,
             vectors: int = 8, seed: int = 0) -> dict:
    project = Path(project)
    spec, kernel, inputs = prepare_inputs(project, inputs_path, vectors, seed)
    expected = kernel.golden(spec, inputs)
    exe, warnings = build_csim(project, spec)
    with tempfile.TemporaryDirectory(prefix="hwgen-csim-") as tmp:
        folder = Path(tmp)
        kernel.write_vectors(spec, inputs, folder)
        res = run_tool([str(exe), str(folder)], folder, RUN_TIMEOUT_S, folder / "run.log")
        if not res.ok:
            raise FlowFailed(f"C-simulation failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}")
        got = kernel.read_hw_output(spec, inputs, folder)
    mismatches = int(np.count_nonzero(got != expected))
    summary = {
        "pass": mismatches == 0,
        "mismatches": mismatches,
        "vectors": kernel.vector_count(inputs),
        "kernel": spec.kind,
        "design": spec.design_name,
        "flow": "csim",
        "compiler": tool_version("g++"),
        "compile_warnings": warnings.strip(),
    }
    summary.update(kernel.extra_metrics(spec, inputs, got))
    if output_path is not None:
        save_npy_atomic(Path(output_path), kernel.user_output(spec, inputs, got))
    return summary


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, array)
    shutil.move(tmp, path)
