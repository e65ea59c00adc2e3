"""hls4ml's compile() with a content-addressed cache, as flows/csim.py caches its test benches: the project is
written (fast), hashed without its random stamp, and built once per content under
$HWGEN_CACHE_DIR/hls4ml/<key>/ (a copy of the project: the library reads its weight files from there)."""
from __future__ import annotations

import ctypes
import os
import shutil
from pathlib import Path

from hwgen.flows.tools import cache_dir as tool_cache, content_key, run_tool, tool_version

BUILD_TIMEOUT_S = 900.0
# What g++ reads besides the fixed nnet_utils/ap_types headers of the installed hls4ml version.
_HASHED = ("firmware/*.cpp", "firmware/*.h", "firmware/weights/*", "firmware/nnet_utils/nnet_code_gen.h",
           "build_lib.sh", "*_bridge.cpp")


def project_key(project: Path, stamp: str) -> str:
    import hls4ml

    parts = [hls4ml.__version__, tool_version("g++")]
    for pattern in _HASHED:
        for path in sorted(project.glob(pattern)):
            parts.append(f"{path.relative_to(project)}\n" + path.read_text(errors="replace").replace(stamp, "STAMP"))
    return content_key(*parts)


def compile_cached(hls_model, cache_dir: Path | None = None) -> Path:
    """Write the project and link its C-simulation library, building it only when its content is new.
    Returns the library's path; `hls_model.predict()` then works as after `hls_model.compile()`."""
    hls_model.write()
    project = Path(hls_model.config.get_output_dir())
    stamp = hls_model.config.get_config_value("Stamp")
    key = project_key(project, stamp)
    entry = tool_cache("hls4ml", cache_dir) / key
    lib = entry / "lib.so"
    if not lib.exists():
        # Built in place: the library reads its weight files from the folder it was built in
        # (build_lib.sh bakes that path in), so the build folder stays; lib.so appears atomically, last.
        build = entry / f"build.{os.getpid()}"
        shutil.rmtree(build, ignore_errors=True)
        shutil.copytree(project, build, ignore=shutil.ignore_patterns("*.so", "tb_data", "*.keras"))
        res = run_tool(["bash", "build_lib.sh"], build, BUILD_TIMEOUT_S, build / "build.log", tail_lines=40)
        built = sorted(build.glob("firmware/*.so"))
        if not res.ok or not built:
            shutil.rmtree(build, ignore_errors=True)
            raise RuntimeError(f"hls4ml build_lib.sh failed (rc={res.rc}, timeout={res.timed_out}):\n{res.log_tail}")
        os.replace(built[0], lib)
    # hls4ml keeps the loaded library here (ModelGraph._compile does the same after its own build).
    hls_model._top_function_lib = ctypes.cdll.LoadLibrary(str(lib))
    return lib
