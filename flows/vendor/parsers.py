"""Parsers for real vendor reports (Vitis/Vivado HLS csynth.xml, Vivado utilization and timing).

Vendor report layouts drift between tool versions and design states, so tables are found by their
row labels and column headers, never by section numbers or fixed columns. Anything not found
stays None (see report.py: unknown numbers are never guessed).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

from hwgen.errors import UserError
from hwgen.flows.report import RESOURCE_KEYS, Report, Resources

__all__ = [
    "parse_csynth_xml",
    "parse_vivado_utilization",
    "parse_vivado_timing",
    "parse_report_file",
    "merge_reports",
]


def _num(text: Optional[str]) -> Optional[float]:
    """'89' -> 89.0; 'undef' (dataflow designs), 'inf', 'NA', '', '-' -> None."""
    if text is None:
        return None
    t = text.strip().rstrip("*").strip()
    if t.endswith("ns"):
        t = t[:-2]
    try:
        v = float(t)
    except ValueError:
        return None
    return v if v == v and abs(v) != float("inf") else None


def _read_text(path: Path) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UserError("file", f"cannot read {path}: {e.strerror or e}") from None
    if b"\0" in data[:8192]:
        raise UserError("file", f"{path} is a binary file, not a vendor report")
    return data.decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------- csynth.xml

# Vitis HLS says DSP; Vivado HLS says DSP48E (7-series/UltraScale) or DSP48E2 or DSP58 (Versal).
_DSP_TAGS = ("DSP", "DSP48E", "DSP48E2", "DSP48E1", "DSP58")


def _area(elem: Optional[ET.Element]) -> dict[str, Optional[float]]:
    """Map a <Resources>/<AvailableResources> block onto schema keys."""
    if elem is None:
        return {}
    raw = {child.tag: _num(child.text) for child in elem}
    dsp = next((raw[t] for t in _DSP_TAGS if t in raw), None)
    bram18 = raw.get("BRAM_18K")
    return {
        "lut": raw.get("LUT"),
        "ff": raw.get("FF"),
        "dsp": dsp,
        "bram36": None if bram18 is None else bram18 / 2,
        # Older Vivado HLS reports omit URAM entirely: those parts/flows have none.
        "uram": raw.get("URAM", 0.0) if raw else None,
    }


def parse_csynth_xml(path, tool: Optional[str] = None) -> Report:
    """Parse the top-level csynth.xml of an HLS solution.

    `tool` ("vitis_hls" | "vivado_hls") overrides the version-based guess of which HLS tool wrote it.
    """
    path = Path(path)
    text = _read_text(path)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise UserError("file", f"{path} is not valid XML: {e}") from None
    if root.tag != "profile" or root.find("AreaEstimates") is None and root.find("PerformanceEstimates") is None:
        raise UserError("file", f"{path} is XML but not an HLS csynth.xml report")

    def get(p: str) -> Optional[str]:
        e = root.find(p)
        return None if e is None or e.text is None else e.text.strip()

    version = get("ReportVersion/Version")
    res_elem = root.find("AreaEstimates/Resources")
    if tool is None:
        # Vivado HLS ended with 2020.1 and used DSP48E naming; Vitis HLS reports say <DSP>.
        legacy = res_elem is not None and any(c.tag.startswith("DSP48") for c in res_elem)
        year = _num((version or "").split(".")[0])
        tool = "vivado_hls" if legacy or (year is not None and year < 2020) else "vitis_hls"

    lat = "PerformanceEstimates/SummaryOfOverallLatency/"
    latency = {k: _num(get(f"{lat}{k.capitalize()}-caseLatency")) for k in ("best", "average", "worst")}
    ii_min, ii_max = _num(get(f"{lat}Interval-min")), _num(get(f"{lat}Interval-max"))
    ii = ii_max if ii_max is not None else _num(get(f"{lat}PipelineInitiationInterval"))

    target = _num(get("UserAssignments/TargetClockPeriod")) or _num(
        get("PerformanceEstimates/SummaryOfTimingAnalysis/TargetClockPeriod"))
    est = _num(get("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod"))
    design = get("UserAssignments/TopModelName") or get("RTLDesignHierarchy/TopModule/ModuleName") or ""

    area = _area(res_elem)
    return Report(
        design=design,
        part=get("UserAssignments/Part"),
        flow="vendor-hls",
        tool_versions={tool: version} if version else {},
        resources=Resources(**{k: v for k, v in area.items() if k in RESOURCE_KEYS}),
        fmax_mhz_est=1000.0 / est if est else None,
        clock_mhz=1000.0 / target if target else None,
        latency_cycles=latency["worst"],
        ii=ii,
        extra={
            "latency": latency,
            "interval": {"min": ii_min, "max": ii_max},
            "pipeline_depth": _num(get(f"{lat}PipelineDepth")),
            "target_period_ns": target,
            "estimated_period_ns": est,
            "clock_uncertainty_ns": _num(get("UserAssignments/ClockUncertainty")),
            "product_family": get("UserAssignments/ProductFamily"),
            "available": _area(root.find("AreaEstimates/AvailableResources")),
            "source": str(path),
        },
    )


# ----------------------------------------------------------------------------- Vivado text reports

_HEADER_RE = re.compile(r"^\|\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$")


def _header(text: str) -> dict[str, str]:
    """The '| Key : value' block every Vivado report starts with."""
    out: dict[str, str] = {}
    for line in text.splitlines()[:40]:
        m = _HEADER_RE.match(line)
        if m and not line.rstrip().endswith("|"):
            out.setdefault(m.group(1), m.group(2))
    return out


def _vivado_version(hdr: dict[str, str]) -> dict[str, str]:
    m = re.search(r"v\.?(\d{4}\.\d+(?:\.\d+)?)", hdr.get("Tool Version", ""))
    return {"vivado": m.group(1)} if m else {}


def _tables(text: str):
    """Yield (header_cells, rows) for each '+---+' bordered table; rows are lists of cell strings."""
    header: Optional[list[str]] = None
    rows: list[list[str]] = []
    in_table = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("+-"):
            in_table = True
            continue
        if in_table and s.startswith("|") and s.endswith("|"):
            cells = [c.strip() for c in s[1:-1].split("|")]
            if header is None:
                header = cells
            else:
                rows.append(cells)
            continue
        if in_table:
            if header is not None:
                yield header, rows
            header, rows, in_table = None, [], False
    if header is not None:
        yield header, rows


def parse_vivado_utilization(path) -> Report:
    """Parse `report_utilization` text (synthesized or routed, 7-series or UltraScale(+))."""
    path = Path(path)
    text = _read_text(path)
    hdr = _header(text)
    site: dict[str, Optional[float]] = {}   # first occurrence wins: later 'Distribution' tables repeat rows
    prims: dict[str, float] = {}
    for head, rows in _tables(text):
        names = [h.lower() for h in head]
        if "used" not in names:
            continue
        used = names.index("used")   # 2024-era tables insert a 'Prohibited' column, so never assume
        if names[0] == "site type":
            for r in rows:
                if len(r) > used:
                    site.setdefault(r[0].rstrip("*").strip(), _num(r[used]))
        elif names[0] == "ref name":
            for r in rows:
                v = _num(r[used]) if len(r) > used else None
                if v is not None:
                    prims[r[0]] = prims.get(r[0], 0.0) + v
    lut_total = site.get("CLB LUTs", site.get("Slice LUTs"))
    if lut_total is None and not site:
        raise UserError("file", f"{path}: no utilization tables found (expected 'Site Type | Used' tables)")

    lut = site.get("LUT as Logic", lut_total)
    carry = site.get("CARRY8", site.get("CARRY4"))
    if carry is None and any(k in prims for k in ("CARRY4", "CARRY8")):
        carry = prims.get("CARRY4", 0.0) + prims.get("CARRY8", 0.0)
    uram = site.get("URAM")
    if uram is None and "Block RAM Tile" in site:
        # The memory table was printed without a URAM row: the device has no URAM.
        uram = 0.0
    device = hdr.get("Device")
    return Report(
        design=hdr.get("Design", ""),
        part=device,
        flow="vendor-vivado",
        tool_versions=_vivado_version(hdr),
        resources=Resources(
            lut=lut,
            lutram=site.get("LUT as Memory"),
            ff=site.get("CLB Registers", site.get("Slice Registers")),
            carry=carry,
            dsp=site.get("DSPs"),
            bram36=site.get("Block RAM Tile"),
            uram=uram,
        ),
        extra={
            "lut_total": lut_total,
            "lut_as_dram": site.get("LUT as Distributed RAM"),
            "lut_as_srl": site.get("LUT as Shift Register"),
            "f7_muxes": site.get("F7 Muxes"),
            "f8_muxes": site.get("F8 Muxes"),
            "bram18": site.get("RAMB18"),
            "design_state": hdr.get("Design State"),
            "primitives": prims,
            "source": str(path),
        },
    )


def _column_table(lines: list[str], start: int, first_col: str) -> tuple[list[str], list[list[str]]]:
    """Whitespace-aligned table (timing summary style): header line starting with `first_col`,
    a dashes line, then rows until a blank line. Header names may contain single spaces."""
    for i in range(start, min(start + 15, len(lines))):
        s = lines[i].strip()
        if s.split() and s.split()[0] == first_col and i + 1 < len(lines) and lines[i + 1].strip().startswith("---"):
            head = re.split(r"\s{2,}", s)
            rows = []
            for line in lines[i + 2:]:
                if not line.strip():
                    break
                rows.append(line.split())
            return head, rows
    return [], []


def _find(lines: list[str], needle: str) -> Optional[int]:
    return next((i for i, line in enumerate(lines) if needle in line), None)


def parse_vivado_timing(path) -> Report:
    """Parse `report_timing_summary` text; also accepts a plain `report_timing` (single worst path)."""
    path = Path(path)
    text = _read_text(path)
    hdr = _header(text)
    lines = text.splitlines()
    extra: dict[str, Any] = {"source": str(path)}
    wns = tns = whs = period = None

    i = _find(lines, "WNS(ns)")
    if i is not None:
        extra["report_kind"] = "report_timing_summary"
        head, rows = _column_table(lines, i, "WNS(ns)")
        if rows:
            vals = dict(zip(head, rows[0]))
            wns, tns, whs = (_num(vals.get(k)) for k in ("WNS(ns)", "TNS(ns)", "WHS(ns)"))
            extra["ths_ns"] = _num(vals.get("THS(ns)"))
            extra["wpws_ns"] = _num(vals.get("WPWS(ns)"))
            extra["tns_failing_endpoints"] = _num(vals.get("TNS Failing Endpoints"))
        clocks = {}
        c = _find(lines, "| Clock Summary")
        if c is not None:
            _, crows = _column_table(lines, c, "Clock")
            for r in crows:
                # name {rise fall} period freq -- the waveform braces hold a space, so index from the end
                if len(r) >= 4 and _num(r[-2]) is not None:
                    clocks[r[0]] = _num(r[-2])
        intra = {}
        c = _find(lines, "| Intra Clock Table")
        if c is not None:
            _, irows = _column_table(lines, c, "Clock")
            intra = {r[0]: _num(r[1]) for r in irows if len(r) > 1}
        extra["clocks"] = clocks
        if clocks:
            # With several clocks the design WNS belongs to one of them; use that clock's period.
            name = next((n for n, w in intra.items() if w is not None and w == wns and n in clocks), next(iter(clocks)))
            period = clocks[name]
            extra["clock"] = name
    else:
        m = re.search(r"^Slack(?:\s*\((\w+)\))?\s*:\s*(-?[\d.]+|inf)\s*ns", text, re.M)
        if m is None:
            raise UserError("file", f"{path}: no timing summary or slack found")
        extra["report_kind"] = "report_timing"
        slack = _num(m.group(2))
        ptype = re.search(r"^\s*Path Type:\s*(.+)$", text, re.M)
        extra["path_type"] = ptype.group(1).strip() if ptype else None
        # report_timing shows the single worst path: its slack is WNS (setup) or WHS (hold);
        # TNS is not derivable from one path, so it stays None.
        if extra["path_type"] and "Hold" in extra["path_type"]:
            whs = slack
        else:
            wns = slack
        p = re.search(r"clocked by (\S+)\s+\{[^}]*period=([\d.]+)ns", text)
        if p:
            extra["clock"], period = p.group(1), float(p.group(2))
        lv = re.search(r"^\s*Logic Levels:\s*(\d+)\s*(\(.*\))?", text, re.M)
        if lv:
            extra["critical_path_logic_levels"] = int(lv.group(1))
            extra["critical_path_luts"] = sum(int(n) for n in re.findall(r"LUT\d=(\d+)", lv.group(2) or ""))
        dp = re.search(r"^\s*Data Path Delay:\s*([\d.]+)ns", text, re.M)
        extra["data_path_delay_ns"] = float(dp.group(1)) if dp else None

    extra.update({"wns_ns": wns, "tns_ns": tns, "whs_ns": whs, "period_ns": period,
                  "timing_met": None if wns is None else wns >= 0})
    # Timing reports split the part: 'Device : xcvu9p-flgb2104' and 'Speed File : -2  PRODUCTION ...'.
    part = hdr.get("Device")
    speed = re.match(r"(-\S+)", hdr.get("Speed File", ""))
    if part and speed and not part.endswith(speed.group(1)):
        part += speed.group(1)
    if hdr.get("Temperature Grade"):
        extra["temperature_grade"] = hdr["Temperature Grade"]
    return Report(
        design=hdr.get("Design", ""),
        part=part,
        flow="vendor-vivado",
        tool_versions=_vivado_version(hdr),
        clock_mhz=1000.0 / period if period else None,
        fmax_mhz_est=1000.0 / (period - wns) if period is not None and wns is not None and period > wns else None,
        extra=extra,
    )


# ----------------------------------------------------------------------------- dispatch / merge


def parse_report_file(path) -> Report:
    """Detect the report type from its content and parse it."""
    path = Path(path)
    text = _read_text(path)
    head = text[:20000]
    if not head.strip():
        raise UserError("file", f"{path} is empty")
    if head.lstrip().startswith("<"):
        if "<profile" in head and ("<ReportVersion" in head or "<AreaEstimates" in head or "<UserAssignments" in head):
            return parse_csynth_xml(path)
    elif "Vivado" in head or "Xilinx" in head:
        if "report_utilization" in head or "Utilization Design Information" in head:
            return parse_vivado_utilization(path)
        if "report_timing" in head or "Timing Summary Report" in head or re.search(r"^Slack", head, re.M):
            return parse_vivado_timing(path)
    raise UserError("file", f"{path}: unrecognized report (expected csynth.xml, report_utilization or "
                            f"report_timing_summary output)")


def merge_reports(*reports: Report) -> Report:
    """Combine reports of one run (e.g. utilization + timing): later reports only fill gaps
    (None / empty) of earlier ones. A non-ok status anywhere makes the merge non-ok."""
    if not reports:
        raise ValueError("merge_reports needs at least one report")
    out = reports[0].model_copy(deep=True)
    for r in reports[1:]:
        for name in Report.model_fields:
            mine, theirs = getattr(out, name), getattr(r, name)
            if name == "resources":
                for k in RESOURCE_KEYS:
                    if getattr(mine, k) is None:
                        setattr(mine, k, getattr(theirs, k))
            elif isinstance(mine, dict):
                setattr(out, name, {**theirs, **mine})
            elif name == "status":
                if mine == "ok" and theirs != "ok":
                    out.status = theirs
            elif name == "error":
                if theirs and theirs != mine:
                    out.error = f"{mine}\n{theirs}" if mine else theirs
            elif mine is None or mine == "":
                setattr(out, name, theirs)
    return out
