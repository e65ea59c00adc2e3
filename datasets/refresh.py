"""Re-synthesize stored records whose RTL the generator no longer emits (`hwgen dataset refresh`).

A record's labels belong to the RTL it was synthesized from (extra["rtl_design_sha256"], or extra["rtl_sha256"]
with the test bench for records older than that field). When a template change gives different Verilog for the
same spec (e.g. the RTL split into library modules: same circuit, but Yosys/ABC maps it 2 % differently, see
bench/results/dataset_drift_small_tlmm.md), the stored labels no longer describe what a user synthesizes today.
This pass renders every selected record again, and re-runs the whole point (synthesis + cosim, as the builder does)
for those whose digest differs. The new record is appended under the same key, so it supersedes the old one for
every reader (store.load_records keeps the latest per key) while the old line stays in the file as history;
extra["refreshed_from"] keeps the old digest and resources next to the new ones.

Resumable and interrupt-safe like the builder: each finished point is appended at once; a rerun finds the
refreshed records current and skips them. Only records whose key tools (Yosys, simulators, flow id) match this
machine's are refreshed, so a refresh never changes a record's key.
"""
from __future__ import annotations

import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from hwgen.errors import UserError
from hwgen.flows.report import RESOURCE_KEYS, Report

from . import store
from .card import append_build_log
from .point import DEFAULT_COSIM_TIMEOUT_S, DEFAULT_TIMEOUT_S, key_tool_versions, rtl_digests

__all__ = ["current_digests", "is_current", "plan_refresh", "refresh"]

def current_digests(spec_data: dict) -> tuple[str, str]:
    """(with test bench, design only) digests (point.rtl_digests) of the Verilog the generator emits today for this
    spec, from its render without writing the project."""
    from hwgen.kernels import parse_spec
    from hwgen.render import render_files

    files = render_files(parse_spec(spec_data), "rtl")
    return rtl_digests((Path(p).name, text.encode()) for p, text in files.items()
                       if p.startswith("rtl/") and p.endswith(".v") and p.count("/") == 1)


def is_current(extra: dict, digests: tuple[str, str]) -> bool:
    if extra.get("rtl_design_sha256"):
        return extra["rtl_design_sha256"] == digests[1]
    return extra.get("rtl_sha256") == digests[0]


def plan_refresh(folder, kernel: Optional[str] = None, max_lut: Optional[float] = None,
                 yosys: Optional[str] = None) -> dict:
    """-> {"stale": [record dicts, smallest stored LUT first], "current": n, "filtered": n, "other_tools": n,
    "tools": this machine's key tool versions}."""
    tools = key_tool_versions(cosim=True, yosys=yosys)
    out = {"stale": [], "current": 0, "filtered": 0, "other_tools": 0, "tools": tools}
    for rec in store.load_records(folder, status="ok"):
        obj = rec.model_dump(mode="json")
        extra = obj.get("extra") or {}
        lut = (obj.get("resources") or {}).get("lut") or 0.0
        if not extra.get("spec") or (kernel and obj.get("kernel") != kernel) or (max_lut is not None and lut >= max_lut):
            out["filtered"] += 1
            continue
        if extra.get("key_tools") != tools:
            out["other_tools"] += 1
            continue
        if is_current(extra, current_digests(extra["spec"])):
            out["current"] += 1
        else:
            out["stale"].append(obj)
    out["stale"].sort(key=lambda o: (o["resources"].get("lut") or 0.0, o["extra"]["key"]))
    return out


def refresh(folder, kernel: Optional[str] = None, max_lut: Optional[float] = None, limit: Optional[int] = None,
            jobs: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S, cosim_timeout_s: float = DEFAULT_COSIM_TIMEOUT_S,
            yosys: Optional[str] = None, dry_run: bool = False, log: Optional[Callable[[str], None]] = None,
            command: Optional[str] = None) -> dict:
    """Refresh the stale records of one dataset folder (see the module docstring). Returns a summary."""
    if jobs < 1:
        raise UserError("jobs", f"must be >= 1 (got {jobs})")
    if limit is not None and limit < 0:
        raise UserError("limit", f"must be >= 0 (got {limit})")
    if max_lut is not None and max_lut <= 0:
        raise UserError("max-lut", f"must be > 0 (got {max_lut})")
    folder = Path(folder)
    if not store.records_path(folder).exists():
        raise UserError("folder", f"{folder} has no {store.RECORDS_FILE}")
    t0 = time.monotonic()
    with store.DatasetLock(folder):
        plan = plan_refresh(folder, kernel, max_lut, yosys)
        todo = plan["stale"][:limit] if limit is not None else plan["stale"]
        summary = {"stale": len(plan["stale"]), "current": plan["current"], "filtered": plan["filtered"],
                   "other_tools": plan["other_tools"], "refreshed": 0, "status": {}, "interrupted": False,
                   "lut_change": [], "failed": []}
        if not dry_run and todo:
            started = datetime.now(timezone.utc)
            _run(folder, todo, jobs, timeout_s, cosim_timeout_s, yosys, summary, log)
            summary["seconds"] = round(time.monotonic() - t0, 1)
            # the card's build table: planned = stale records selected, skipped = current ones, built = refreshed
            append_build_log(folder, {
                "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "refresh": True,
                "command": command or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "planned": len(todo), "skipped": plan["current"], "built": summary["refreshed"],
                "status": summary["status"], "interrupted": summary["interrupted"], "seconds": summary["seconds"],
                "tools": plan["tools"]})
    summary["seconds"] = round(time.monotonic() - t0, 1)
    return summary


def _run(folder, todo, jobs, timeout_s, cosim_timeout_s, yosys, summary, log) -> None:
    from .executors import LocalRunner, drain

    runner = LocalRunner(jobs)      # the builder's workers: Ctrl-C reaches the parent only, tools die with it

    def submit(old):
        ex = old["extra"]
        return runner.submit(ex["spec"], ex["key"], ex["key_tools"], timeout_s=timeout_s,
                             cosim_timeout_s=cosim_timeout_s, build_info=ex.get("build") or {}, yosys=yosys)

    def failed(old, err):
        return {"status": "failed", "error": f"worker error: {type(err).__name__}: {err}"}

    def finish(old, new):
        ex = old["extra"]
        status = new.get("status", "failed")
        summary["status"][status] = summary["status"].get(status, 0) + 1
        n_done = summary["refreshed"] + len(summary["failed"]) + 1
        before, after = old["resources"].get("lut"), (new.get("resources") or {}).get("lut")
        if status != "ok":
            # Appending it would supersede the good (if stale) label with none; keep the old record in force and
            # say so, so that a rerun tries again.
            summary["failed"].append(f"{ex['key'][:12]}: {status}: {new.get('error')}")
            if log:
                log(f"[{n_done}/{len(todo)}] {old['design']} {status}, old record kept: {new.get('error')}")
            return
        new["extra"]["refreshed_from"] = {
            "rtl_sha256": ex.get("rtl_sha256"), "rtl_design_sha256": ex.get("rtl_design_sha256"),
            "resources": {k: old["resources"].get(k) for k in RESOURCE_KEYS}}
        store.append_record(folder, Report.model_validate(new))
        summary["refreshed"] += 1
        if before and after is not None:
            summary["lut_change"].append(after / before - 1.0)
        if log:
            log(f"[{n_done}/{len(todo)}] {old['design']} ok: LUT {before} -> {after}")

    try:
        drain(runner, todo, submit, finish, failed)
    except KeyboardInterrupt:
        summary["interrupted"] = True
        runner.stop()
    else:
        runner.close()
