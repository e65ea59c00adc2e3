"""Rewrites of stored records when a measured quantity is redefined (`hwgen dataset migrate NAME --out DIR`).

Every migration is idempotent, runs under the dataset's writer lock and replaces records.jsonl atomically
(write a sibling file, fsync, rename), so an interrupt leaves either the old or the new file. Migrations ask the
kernel interface (hwgen/kernels/base.py); none branches on a kernel kind."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional

from .store import DatasetLock, _record_line, records_path, repair


def _rewrite(folder, migrate: Callable[[dict], Optional[str]]) -> dict:
    """Apply `migrate(record dict) -> outcome name or None (unchanged)` to every record; count the outcomes."""
    from hwgen.flows.report import Report

    path = records_path(folder)
    counts = {"records": 0}
    with DatasetLock(Path(folder)):
        repair(folder)               # a torn last line from a killed writer, as a build would drop it
        lines_out = []
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            counts["records"] += 1
            outcome = migrate(obj)
            if outcome is None:
                lines_out.append(line)
                continue
            counts[outcome] = counts.get(outcome, 0) + 1
            lines_out.append(_record_line(Report.model_validate(obj)).decode().rstrip("\n"))
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w") as f:
            f.write("\n".join(lines_out) + ("\n" if lines_out else ""))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return counts


def _kernel_and_spec(obj: dict):
    from hwgen import kernels
    from hwgen.errors import UserError

    spec_data = (obj.get("extra") or {}).get("spec")
    if obj.get("status") != "ok" or not spec_data:
        return None, None
    try:
        spec = kernels.parse_spec(spec_data)
    except UserError:
        return None, None
    return kernels.get(spec.kind), spec


def attention_call_ii(folder) -> dict:
    """For kernels whose unit is a call: `ii` := cycles between back-to-back calls at the maximum length (what the
    test bench measures since 2026-11-26), instead of the old cycles per accepted K beat (kept as
    extra.cosim.k_beat_ii). Old records carry no call-interval measurement, so it is taken from the kernel's
    performance contract, only where cosim showed the cycle model exact for both calls it ran (model_cycles_1/2 ==
    the measured latencies); the source is recorded (extra.cosim.ii_source). Others lose their ii rather than keep
    the old meaning."""
    def migrate(obj):
        kernel, spec = _kernel_and_spec(obj)
        cos = (obj.get("extra") or {}).get("cosim") or {}
        if kernel is None or kernel.unit != "call" or not cos:
            return None
        if "k_beat_ii" in cos or "units" in cos:          # already migrated, or measured by the new test bench
            return "already"
        cos["k_beat_ii"] = cos.get("ii")
        exact = (cos.get("status") == "ok" and cos.get("model_cycles_1") == cos.get("latency_cycles_1")
                 and cos.get("model_cycles_2") == cos.get("latency_cycles_2"))
        if exact:
            cos["ii"] = obj["ii"] = float(kernel.performance(spec).ii)
            cos["ii_source"] = "cycle model (exact vs cosim latency of both calls); migrated 2026-11-26"
            return "migrated"
        cos["ii"] = obj["ii"] = None
        return "dropped"

    return _rewrite(folder, migrate)


def perf_contract(folder) -> dict:
    """Store each record's performance contract (Kernel.performance: latency_cycles and ii of one unit, MACs,
    bytes per unit) in extra.performance next to its measurement, and whether the two agree
    (extra.contract = {latency_exact, ii_exact}). The measured fields themselves are unchanged: since their first
    build, the stored latency_cycles / ii are the contract's quantities (first unit; interval between two units)."""
    def migrate(obj):
        kernel, spec = _kernel_and_spec(obj)
        if kernel is None:
            return None
        perf = kernel.performance(spec).as_dict()
        check = {"latency_exact": None if obj.get("latency_cycles") is None
                 else obj["latency_cycles"] == perf["latency_cycles"],
                 "ii_exact": None if obj.get("ii") is None else obj["ii"] == perf["ii"]}
        extra = obj.setdefault("extra", {})
        if extra.get("performance") == perf and extra.get("contract") == check:
            return "already"
        extra["performance"], extra["contract"] = perf, check
        if None in check.values():
            return "unmeasured"
        return "exact" if all(check.values()) else "differs"

    return _rewrite(folder, migrate)


def rekey(folder) -> dict:
    """One key scheme: every record's extra.key := store.record_key(its design identity, its key tools), the key
    every build computes today (records from before design identities were keyed on the full spec dict; the old
    key is kept as extra.legacy_key). A design stored under both keys becomes one key, and its latest record
    wins as for any retried point."""
    from .builder import key_spec
    from .store import record_key

    def migrate(obj):
        extra = obj.get("extra") or {}
        if not extra.get("spec") or not extra.get("key_tools") or not extra.get("key"):
            return None
        key = record_key(key_spec(extra["spec"]), extra["key_tools"])
        if key == extra["key"]:
            return None
        extra["legacy_key"], extra["key"] = extra["key"], key
        return "rekeyed"

    return _rewrite(folder, migrate)


def _pin_default(spec: dict, field: str, value) -> bool:
    """Set `field` := value in every (nested) spec dict whose kernel has the field and leaves it unset."""
    from hwgen import kernels
    from hwgen.errors import UserError

    changed = False
    kind = spec.get("kind")
    if isinstance(kind, str) and field not in spec:
        try:
            fields = kernels.get(kind).spec_model.model_fields
        except UserError:
            fields = {}
        if field in fields:
            spec[field] = value
            changed = True
    for v in spec.values():
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, dict):
                changed |= _pin_default(item, field, value)
    return changed


def pipeline_zero(folder) -> dict:
    """The matmul kernels gained `pipeline` (register stages in the lane path; default auto = as many as the clock
    needs), and so did the attention kernels (the accumulator read register of the S.V path). Every record built before measured the unpipelined RTL, so its spec (extra.spec, nested member specs
    included) and params say `pipeline: 0` explicitly, extra.model gains pipeline 0, and extra.key is recomputed
    from the pinned spec (the design key of the hardware it measured). Records of other kernels are unchanged."""
    from .builder import key_spec
    from .store import record_key

    def migrate(obj):
        extra = obj.get("extra") or {}
        spec = extra.get("spec")
        if not isinstance(spec, dict) or not _pin_default(spec, "pipeline", 0):
            return None
        params = obj.get("params")
        if isinstance(params, dict):
            if "pipeline" in spec and "pipeline" not in params:
                params["pipeline"] = 0
            _pin_default(params, "pipeline", 0)
        if isinstance(extra.get("model"), dict) and "pipeline" in spec:
            extra["model"].setdefault("pipeline", 0)
        if extra.get("key") and extra.get("key_tools"):
            extra["key"] = record_key(key_spec(spec), extra["key_tools"])
        return "pinned"

    return _rewrite(folder, migrate)


def fmax_from_path(folder) -> dict:
    """One Fmax formula (hwgen/timing.py, docs/timing.md): fmax_mhz_est := fmax_from_arrival(the stored critical
    path's arrival extra.critical_path.crit_ns, block RAM / UltraRAM caps from the stored resources), and
    meets_timing / achieved_clock_mhz / units_per_s follow. Records before carried an estimate from the path's
    level count that left out its DSP delays (records without crit_dsp) and charged a carry-chain entry a routed
    LUT level; crit_ns was always summed arc by arc under the same per-arc delays, so the new value is exact, not a
    re-estimate. The old value is kept as extra.fmax_mhz_est_v1."""
    from hwgen import timing
    from hwgen.flows.report import Report, apply_timing

    def migrate(obj):
        extra = obj.get("extra") or {}
        path = extra.get("critical_path") or {}
        family = extra.get("yosys_family")
        if obj.get("status") != "ok" or path.get("crit_ns") is None or family not in timing.FAMILIES:
            return None
        res = obj.get("resources") or {}
        fmax = timing.fmax_from_arrival(path["crit_ns"], family, uses_bram=(res.get("bram36") or 0) > 0,
                                        uses_uram=(res.get("uram") or 0) > 0)
        if "fmax_mhz_est_v1" in extra and obj.get("fmax_mhz_est") == fmax:
            return None
        extra.setdefault("fmax_mhz_est_v1", obj.get("fmax_mhz_est"))
        rep = apply_timing(Report.model_validate({**obj, "fmax_mhz_est": fmax}))
        for key in ("fmax_mhz_est", "meets_timing", "achieved_clock_mhz", "units_per_s"):
            obj[key] = getattr(rep, key)
        return "recomputed" if extra["fmax_mhz_est_v1"] != fmax else "unchanged"

    return _rewrite(folder, migrate)


MIGRATIONS = {"attention-call-ii": attention_call_ii, "perf-contract": perf_contract, "rekey": rekey,
              "pipeline-zero": pipeline_zero, "fmax-from-path": fmax_from_path}
