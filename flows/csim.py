"""C-simulation: compile the generated HLS C++ with g++ and the hls4ml-shipped ap_types headers, run the
generic test bench on the vector files and compare bit-exactly with the golden model (flows/simulate.py)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hwgen.errors import UserError

from .simulate import FlowFailed, simulate
from .tools import ap_types_include, cache_dir as tool_cache, content_key, require, run_tool, tool_version

__all__ = ["run_csim", "build_csim", "FlowFailed"]

# -O0: at -O1 and above g++ reports -Wmaybe-uninitialized false positives inside the
# ap_types headers (ap_private leaves VAL unset before masking); our own code stays -Wall clean.
CXXFLAGS = ["-std=c++14", "-O0", "-Wall"]
COMPILE_TIMEOUT_S = 600.0
RUN_TIMEOUT_S = 600.0


def build_csim(project: Path, timeout_s: float = COMPILE_TIMEOUT_S, cache_dir: Path | None = None) -> tuple[Path, str]:
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
    exe = tool_cache("csim", cache_dir) / key / "csim.exe"
    if exe.exists():
        return exe, ""
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp_exe = exe.with_name(f"csim.{os.getpid()}.tmp")
    cmd = [gxx, *CXXFLAGS, "-isystem", str(include), "-I", str(hls), *map(str, sources), "-o", str(tmp_exe)]
    with tempfile.TemporaryDirectory() as tmp:
        res = run_tool(cmd, Path(tmp), timeout_s, Path(tmp) / "gcc.log", tail_lines=60)
        warnings = res.log_tail
    if not res.ok:
        tmp_exe.unlink(missing_ok=True)
        raise FlowFailed(f"g++ failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}")
    tmp_exe.replace(exe)
    return exe, warnings


def run_csim(project: Path, inputs_path: Path | None = None, output_path: Path | None = None,
             vectors: int = 8, seed: int = 0, timeout_s: float = RUN_TIMEOUT_S, cache_dir: Path | None = None,
             inputs: dict | None = None) -> dict:
    project = Path(project).resolve()     # g++ runs in its own folder

    def run(spec, kernel, inputs, folder):
        exe, warnings = build_csim(project, cache_dir=cache_dir)
        res = run_tool([str(exe), str(folder)], folder, timeout_s, folder / "run.log")
        if not res.ok:
            raise FlowFailed(f"C-simulation failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}")
        return {"compiler": tool_version("g++"), "compile_warnings": warnings.strip()}

    return simulate(project, "csim", run, inputs_path, output_path, vectors, seed, inputs)
