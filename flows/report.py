"""The one report schema shared by every flow (open synthesis, vendor, cosim) and the dataset.

A report is a flat, JSON-serializable record. Unknown numbers are None, never guessed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field

RESOURCE_KEYS = ("lut", "lutram", "ff", "carry", "dsp", "bram36", "uram")
# LUTRAM shares LUT sites, so utilization of "lut" counts logic LUTs plus LUTRAM LUTs.
CAPACITY_KEYS = ("lut", "ff", "dsp", "bram36", "uram")

SCHEMA_VERSION = 1


class Resources(BaseModel):
    lut: Optional[float] = None      # logic LUTs (LUTRAM excluded)
    lutram: Optional[float] = None   # LUTs used as distributed RAM (LUT sites)
    ff: Optional[float] = None
    carry: Optional[float] = None    # CARRY4/CARRY8 cells
    dsp: Optional[float] = None
    bram36: Optional[float] = None   # BRAM36 equivalents (a BRAM18 counts 0.5)
    uram: Optional[float] = None


class Report(BaseModel):
    schema_version: int = SCHEMA_VERSION
    design: str = ""
    kernel: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    target: Optional[str] = None
    part: Optional[str] = None
    flow: str = ""                    # open-yosys | vendor-hls | vendor-vivado | cosim | imported-...
    tool_versions: dict[str, str] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    lut_depth: Optional[int] = None   # LUT levels on the longest register-to-register path
    fmax_mhz_est: Optional[float] = None
    clock_mhz: Optional[float] = None
    latency_cycles: Optional[float] = None   # first data beat -> last output beat of one unit (hwgen/kernels/base.py)
    ii: Optional[float] = None               # cycles between successive units in steady state
    # Timing (apply_timing): throughput is quoted at min(clock, Fmax estimate), never at a clock not reached.
    meets_timing: Optional[bool] = None      # fmax_mhz_est >= clock_mhz
    achieved_clock_mhz: Optional[float] = None
    units_per_s: Optional[float] = None      # achieved_clock / ii (tokens, or calls for attention, per second)
    fits: Optional[bool] = None
    utilization: dict[str, float] = Field(default_factory=dict)  # percent of the device, per CAPACITY_KEYS
    runtime_s: Optional[float] = None
    status: Literal["ok", "failed", "timeout", "skipped"] = "ok"
    error: Optional[str] = None
    extra: dict[str, Any] = Field(default_factory=dict)   # flow-specific details (e.g. raw cell counts)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def write(self, path: Path) -> None:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> "Report":
        return cls.model_validate(json.loads(Path(path).read_text()))


def apply_performance(report: Report, kernel, spec) -> Report:
    """latency_cycles / ii from the kernel's performance contract (hwgen/kernels/base.py: one unit, zero stalls,
    exact against cosim). A vendor HLS estimate of its own schedule moves to extra.hls_* (another quantity)."""
    perf = kernel.performance(spec)
    if report.flow == "vendor-hls" and (report.latency_cycles is not None or report.ii is not None):
        report.extra["hls_latency_cycles"], report.extra["hls_ii"] = report.latency_cycles, report.ii
    report.latency_cycles, report.ii = float(perf.latency_cycles), float(perf.ii)
    report.extra["latency_source"] = f"cycle model, one {perf.unit} (exact against cosim at zero stalls)"
    report.extra["performance"] = perf.as_dict()
    return report


def apply_timing(report: Report) -> Report:
    """meets_timing, the achieved clock min(clock, Fmax estimate) and the throughput at that clock. Unknown
    stays None: without an Fmax estimate nothing is claimed."""
    clock, fmax = report.clock_mhz, report.fmax_mhz_est
    report.meets_timing = None if clock is None or fmax is None else bool(fmax >= clock)
    report.achieved_clock_mhz = None if clock is None or fmax is None else float(min(clock, fmax))
    report.units_per_s = (report.achieved_clock_mhz * 1e6 / report.ii
                          if report.achieved_clock_mhz and report.ii else None)
    return report


def timing_warning(report: Report) -> Optional[str]:
    """One line when a design does not meet its clock, with the clock it does reach."""
    if report.meets_timing is not False:
        return None
    stages = (report.params or {}).get("pipeline")
    if stages is None:
        fix = "choose a smaller fold (fewer adder levels per cycle)"
    elif stages == "auto":
        fix = ("change the design: `pipeline: auto` already placed every stage its modelled path takes (matmul: the "
               "lane path; attention: the accumulator read, none when lanes = d, so use lanes <= d/2); the slowest "
               "path is elsewhere (extra.critical_path, docs/timing.md)")
    else:
        fix = f"raise `pipeline` (now {stages}; `auto` picks the stages the clock needs)"
    return (f"warning: {report.design}: Fmax estimate {report.fmax_mhz_est:.0f} MHz (LUT depth {report.lut_depth}) "
            f"is below the {report.clock_mhz:g} MHz clock; throughput is quoted at {report.achieved_clock_mhz:.0f} MHz. "
            f"Set `clock_mhz: {int(report.fmax_mhz_est)}` or {fix}")


def apply_capacity(report: Report, capacity: dict[str, int]) -> Report:
    """Fill utilization percentages and `fits` from a device capacity table."""
    res = report.resources
    used = {
        "lut": (res.lut or 0) + (res.lutram or 0),
        "ff": res.ff or 0,
        "dsp": res.dsp or 0,
        "bram36": res.bram36 or 0,
        "uram": res.uram or 0,
    }
    util = {}
    fits = True
    for key in CAPACITY_KEYS:
        cap = capacity.get(key, 0)
        if cap > 0:
            util[key] = round(100.0 * used[key] / cap, 2)
            fits &= used[key] <= cap
        else:
            util[key] = 0.0 if used[key] == 0 else float("inf")
            fits &= used[key] == 0
    report.utilization = util
    report.fits = bool(fits)
    return report


def write_bench_results(out: Path, lines: list[str], data: Any) -> None:
    """A benchmark's result files: the markdown table at `out` and its numbers beside it as .json."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
