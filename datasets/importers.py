"""Importers: a user's own vendor runs (and the public wa-hls4ml records) as shared-schema Reports,
so they can be appended to a dataset store and used as training data.

* `import_vendor_tree(root)`: walk a folder of Vitis/Vivado HLS csynth.xml and Vivado
  report_utilization / report_timing_summary outputs, group them per run, parse them with
  hwgen.flows.vendor.parsers and merge each run into one Report (flow "imported-vendor").
* `import_wa_hls4ml(path)`: records in the wa-hls4ml JSON layout (one object, a JSON array of them as
  in the published *_merged.json files, or JSON lines), flow "imported-wa-hls4ml", with the raw layer
  list in extra["layers"] so a surrogate can build a graph (nodes = layers).

Every imported Report carries extra["key"] (a content hash: re-importing the same files adds nothing)
and extra["spec"] (the hwgen spec when the run is a generated hwgen project, else what is known).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

from hwgen.errors import UserError
from hwgen.flows.report import Report, Resources, apply_capacity

from .store import canonical_json

__all__ = ["import_vendor_tree", "import_wa_hls4ml", "target_for_part", "VENDOR_FLOW", "WA_FLOW"]

VENDOR_FLOW = "imported-vendor"
WA_FLOW = "imported-wa-hls4ml"
MAX_REPORT_BYTES = 64 << 20


# ----------------------------------------------------------------------------- parts

def _norm_part(part: Optional[str]) -> str:
    """'xcvu9p-flgb2104-2' / 'xcvu9pflgb2104-2' / '7z020clg400-1' -> 'vu9pflgb21042' / ... (comparable)."""
    s = re.sub(r"[^a-z0-9]", "", (part or "").lower())
    return s[2:] if s.startswith("xc") else s


def _parts_match(a: Optional[str], b: Optional[str]) -> bool:
    na, nb = _norm_part(a), _norm_part(b)
    if not na or not nb:
        return True            # unknown part: no evidence against
    return na.startswith(nb) or nb.startswith(na)


def target_for_part(part: Optional[str]) -> Optional[str]:
    """The hwgen target whose part matches (speed grade / temperature suffixes may differ), else None."""
    from hwgen.targets import TARGETS

    if not part:
        return None
    for name, t in TARGETS.items():
        if _parts_match(part, t.part) and len(_norm_part(part)) >= 6:
            return name
    return None


# ----------------------------------------------------------------------------- vendor tree

# Folder names that are tool internals, not a run: a report's run folder is its nearest ancestor
# whose name is not one of these (after stripping an HLS `<project>/<solution>/syn/report` tail).
_GENERIC_DIRS = re.compile(
    r"^(report|reports|rpt|syn|impl|verilog|vhdl|hls|vivado|vendor|project|vsynth|vivado_synth|synth|"
    r"synth_\d+|impl_\d+|.*\.runs|.*_prj|.*_vivado|.*_hls|solution\d*|sol\d*)$", re.I)


def _run_dir(path: Path, root: Path) -> Path:
    d = path.parent
    parts = d.relative_to(root).parts
    if len(parts) >= 2 and parts[-2:] == ("syn", "report"):
        d = d.parent.parent           # .../<solution>/syn/report -> <solution>
        if d != root:
            d = d.parent              # <solution> -> <HLS project>
        if d != root:
            d = d.parent              # the folder holding the HLS project
    while d != root and _GENERIC_DIRS.match(d.name):
        d = d.parent
    return d


def _csynth_instances(path: Path) -> set[str]:
    """Module names instantiated below the top in a csynth.xml (to recognize per-module reports)."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return set()
    out = set()
    for inst in root.iter("InstancesList"):
        for mod in inst.iter("ModuleName"):
            if mod.text:
                out.add(mod.text.strip())
    return out


def _candidate(p: Path) -> bool:
    name = p.name.lower()
    if name.endswith("csynth.xml"):
        return True
    return p.suffix.lower() in (".rpt", ".txt") and ("util" in name or "tim" in name or "synth" in name
                                                     or "impl" in name or "route" in name or p.suffix.lower() == ".rpt")


def _find_spec(run_dir: Path, root: Path):
    """hwgen.yaml of a generated project in the run folder, its project/ child or one level below."""
    from hwgen.render import SPEC_FILE
    from hwgen.kernels import load_spec

    cands = [run_dir / SPEC_FILE, run_dir / "project" / SPEC_FILE]
    cands += sorted(run_dir.glob(f"*/{SPEC_FILE}"))
    for c in cands:
        if c.is_file():
            try:
                return load_spec(c), c
            except UserError:
                continue
    return None, None


_STATE_ORDER = {"routed": 0, "placed": 1, "implemented": 1, "synthesized": 2}


def _state_rank(r: Report) -> int:
    state = str(r.extra.get("design_state") or r.extra.get("path_type") or "").lower()
    for k, v in _STATE_ORDER.items():
        if k in state:
            return v
    src = str(r.extra.get("source", "")).lower()
    return 0 if ("route" in src or "impl" in src) else 3


def _file_digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def import_vendor_tree(root) -> list[Report]:
    """One Report per vendor run found under `root` (csynth.xml and/or Vivado utilization + timing).

    Grouping: reports of one run share a run folder (tool-internal folder names such as
    `<prj>/solution1/syn/report`, `report/`, `*.runs/impl_1` are climbed over). Within a run folder,
    per-module csynth reports (modules instantiated by another report's top) are dropped, Vivado
    reports of the same design and part form one set, and a set is paired with the HLS report of the
    same design (or the only one, when the part agrees). Vivado resources win over HLS estimates
    (kept in extra["hls_resources"]); latency/II come from the HLS report.
    """
    from hwgen.flows.vendor.parsers import merge_reports, parse_report_file

    root = Path(root)
    if not root.is_dir():
        raise UserError("vendor", f"{root} is not a folder")
    runs: dict[Path, list[tuple[Path, Report]]] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or not _candidate(p) or p.stat().st_size > MAX_REPORT_BYTES:
            continue
        try:
            rep = parse_report_file(p)
        except UserError:
            continue                  # not a report we know: ignore
        runs.setdefault(_run_dir(p, root), []).append((p, rep))
    out: list[Report] = []
    for run_dir, items in sorted(runs.items()):
        hls = [(p, r) for p, r in items if r.flow == "vendor-hls"]
        viv = [(p, r) for p, r in items if r.flow == "vendor-vivado"]
        # Drop per-module HLS reports.
        inst = {p: _csynth_instances(p) for p, _ in hls}
        tops = [(p, r) for p, r in hls
                if not any(r.design and r.design in inst[q] and _parts_match(r.part, s.part)
                           for q, s in hls if q != p)]
        # Vivado reports -> sets by (design, part).
        sets: list[list[tuple[Path, Report]]] = []
        for p, r in viv:
            for s in sets:
                if s[0][1].design == r.design and _parts_match(s[0][1].part, r.part):
                    s.append((p, r))
                    break
            else:
                sets.append([(p, r)])
        groups: list[tuple[list, list]] = []        # (vivado items, hls items)
        used_hls: set[Path] = set()
        for s in sets:
            d, part = s[0][1].design, s[0][1].part
            match = [(p, r) for p, r in tops if r.design == d and _parts_match(r.part, part) and p not in used_hls]
            if len(match) != 1 and len(sets) == 1 and len(tops) == 1 and _parts_match(tops[0][1].part, part):
                match = tops              # one HLS top, one Vivado set: the Vivado top may be a wrapper
            if len(match) == 1 and match[0][0] not in used_hls:
                used_hls.add(match[0][0])
                groups.append((s, match))
            else:
                groups.append((s, []))
        groups += [([], [t]) for t in tops if t[0] not in used_hls]
        spec, spec_path = _find_spec(run_dir, root)
        for viv_items, hls_items in groups:
            out.append(_vendor_report(root, run_dir, viv_items, hls_items, spec, spec_path, merge_reports))
    return out


def _vendor_report(root, run_dir, viv_items, hls_items, spec, spec_path, merge_reports) -> Report:
    util = sorted((x for x in viv_items if "lut_total" in x[1].extra or "design_state" in x[1].extra),
                  key=lambda x: _state_rank(x[1]))
    timing = sorted((x for x in viv_items if x not in util), key=lambda x: _state_rank(x[1]))
    ordered = [*util, *timing, *hls_items]
    merged = merge_reports(*(r for _, r in ordered))
    rel = lambda p: str(Path(p).relative_to(root))  # noqa: E731
    sources = [{"path": rel(p), "flow": r.flow, "sha256": _file_digest(p)} for p, r in ordered]
    extra = {k: v for k, v in merged.extra.items() if k != "source"}
    if hls_items and viv_items:
        extra["hls_resources"] = hls_items[0][1].resources.model_dump()
        extra["hls_latency"] = hls_items[0][1].extra.get("latency")
    extra.update({
        "key": hashlib.sha256(canonical_json([s["sha256"] for s in sources]).encode()).hexdigest(),
        "sources": sources, "run_dir": str(run_dir.relative_to(root)) or ".",
        "resources_from": "vivado" if util else ("hls-estimate" if hls_items else None),
    })
    merged.flow = VENDOR_FLOW
    if spec is not None:
        merged.design, merged.kernel, merged.params = spec.design_name, spec.kind, spec.params()
        merged.target = spec.target
        extra["spec"] = spec.model_dump(mode="json", exclude_none=True)
        extra["spec_file"] = rel(spec_path)
        if merged.part and not _parts_match(merged.part, spec.target_info.part):
            extra["part_mismatch"] = f"reports say {merged.part}, spec target {spec.target} is {spec.target_info.part}"
        if merged.clock_mhz is None:
            merged.clock_mhz = spec.clock
    else:
        merged.target = target_for_part(merged.part)
        extra["spec"] = {"kind": merged.kernel or "", "part": merged.part}
    merged.extra = extra
    if merged.target and merged.resources.lut is not None:
        from hwgen.targets import get_target
        apply_capacity(merged, get_target(merged.target).capacity())
    return merged


# ----------------------------------------------------------------------------- wa-hls4ml

def _num(v) -> Optional[float]:
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(str(v).strip())
    except ValueError:
        return None
    return x if x == x and abs(x) != float("inf") else None


def _iter_json_records(path: Path):
    """(index, object) from a JSON object, a JSON array, or JSON lines."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
        rows = []
        for i, line in enumerate(text.splitlines()):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise UserError("wa-hls4ml", f"{path}: line {i + 1} is not JSON (expected a JSON object, "
                                                 "an array of them, or JSON lines)") from None
        yield from enumerate(rows)
        return
    if isinstance(data, dict):
        yield 0, data
    elif isinstance(data, list):
        yield from enumerate(data)
    else:
        raise UserError("wa-hls4ml", f"{path}: top level is {type(data).__name__}; expected an object or array")


def _precision(hc: dict) -> Optional[str]:
    p = (hc.get("Model") or {}).get("Precision")
    if isinstance(p, dict):
        p = p.get("default") or p.get("result") or p.get("weight")
    return None if p is None else str(p)


def _bits(precision: Optional[str]) -> Optional[int]:
    m = re.search(r"fixed<\s*(\d+)", precision or "")
    return int(m.group(1)) if m else None


def _hls_resources(hrr: dict) -> dict:
    """hls_resource_report -> schema keys. C-synthesis counts BRAM_18K; a `bram_18k` key is halved to
    BRAM36, a plain `bram` key is taken in the same unit as resource_report (BRAM36 tiles)."""
    low = {str(k).lower(): v for k, v in (hrr or {}).items()}
    bram = _num(low.get("bram_18k"))
    bram36 = bram / 2 if bram is not None else _num(low.get("bram"))
    return {"lut": _num(low.get("lut")), "ff": _num(low.get("ff")), "dsp": _num(low.get("dsp")),
            "bram36": bram36, "uram": _num(low.get("uram"))}


def _wa_report(rec: dict, source: str) -> Report:
    md = rec.get("meta_data") or {}
    layers = rec.get("model_config") or []
    hc = rec.get("hls_config") or {}
    rr = rec.get("resource_report") or {}
    hrr = rec.get("hls_resource_report") or {}
    lat = rec.get("latency_report") or {}
    part = rec.get("target_part")
    model = hc.get("Model") or {}
    precision = _precision(hc)
    params: dict[str, Any] = {
        "reuse_factor": _num(model.get("ReuseFactor")), "strategy": model.get("Strategy"),
        "precision": precision, "precision_bits": _bits(precision),
        "io_type": hc.get("IOType") or hc.get("io_type"),
        "clock_period_ns": _num(hc.get("ClockPeriod") or hc.get("clock_period")),
        "n_layers": len(layers) if isinstance(layers, list) else None,
        "layer_classes": "-".join(str(L.get("class_name", "?")) for L in layers if isinstance(L, dict)) or None,
    }
    if params["reuse_factor"] is not None and params["reuse_factor"].is_integer():
        params["reuse_factor"] = int(params["reuse_factor"])
    params = {k: v for k, v in params.items() if v is not None}
    low = {str(k).lower(): v for k, v in rr.items()}
    ok = any(_num(low.get(k)) is not None for k in ("lut", "ff", "dsp", "bram"))
    resources = Resources(lut=_num(low.get("lut")), ff=_num(low.get("ff")), dsp=_num(low.get("dsp")),
                          bram36=_num(low.get("bram")), uram=_num(low.get("uram"))) if ok else Resources()
    target_clock, est_clock = _num(lat.get("target_clock")), _num(lat.get("estimated_clock"))
    versions = {"vivado": rec.get("vivado_version") or rec.get("backend_version"), "hls4ml": rec.get("hls4ml_version")}
    tool_versions = {k: str(v) for k, v in versions.items() if v}
    rep = Report(
        design=str(md.get("model_name") or md.get("uuid") or md.get("model_id") or source),
        kernel="hls4ml", params=params, target=target_for_part(part), part=part, flow=WA_FLOW,
        tool_versions=tool_versions, resources=resources,
        clock_mhz=1000.0 / target_clock if target_clock else (1000.0 / params["clock_period_ns"]
                                                              if params.get("clock_period_ns") else None),
        fmax_mhz_est=1000.0 / est_clock if est_clock else None,
        latency_cycles=_num(lat.get("cycles_max")), ii=_num(lat.get("interval_max")),
        status="ok" if ok else "failed",
        error=None if ok else "no logic-synthesis result (empty resource_report): missing ground truth, not zero",
        extra={
            "key": hashlib.sha256(canonical_json(rec).encode()).hexdigest(),
            "spec": {"kind": "hls4ml", "hls_config": hc, "target_part": part},
            "layers": layers, "meta_data": md, "resource_report": rr, "hls_resource_report": hrr,
            "hls_resources": _hls_resources(hrr), "latency_report": lat,
            "latency_min": _num(lat.get("cycles_min")), "interval_min": _num(lat.get("interval_min")),
            "backend": rec.get("backend"), "source": source,
            "resources_from": "vivado-synth" if ok else None,
            "latency_from": "hls-estimate",
        })
    if rep.target and ok:
        from hwgen.targets import get_target
        apply_capacity(rep, get_target(rep.target).capacity())
    return rep


def import_wa_hls4ml(path) -> list[Report]:
    """Reports from wa-hls4ml JSON records (a file or a folder of *.json / *.jsonl; `raw_reports`
    folders are skipped). Null entries are skipped; records without a logic-synthesis result become
    status "failed" rows (missing ground truth). Resources come from resource_report (post-synthesis,
    BRAM in 36K tiles), latency/II from latency_report (HLS estimates: cycles_max, interval_max)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file()
                       and "raw_reports" not in p.parts)
        base = path
    elif path.is_file():
        files, base = [path], path.parent
    else:
        raise UserError("wa-hls4ml", f"{path} does not exist")
    if not files:
        raise UserError("wa-hls4ml", f"{path} holds no .json / .jsonl files")
    out = []
    for f in files:
        for i, rec in _iter_json_records(f):
            if not isinstance(rec, dict):
                continue
            if isinstance(rec.get("model_config"), list) or "resource_report" in rec or "latency_report" in rec:
                out.append(_wa_report(rec, f"{os.path.relpath(f, base)}#{i}"))
    return out
