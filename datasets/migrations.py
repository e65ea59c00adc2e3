"""One-off rewrites of stored records when a measured quantity is redefined (`hwgen dataset migrate`).

Each migration is idempotent, runs under the dataset's writer lock and replaces records.jsonl atomically
(write a sibling file, fsync, rename), so an interrupt leaves either the old or the new file."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .store import DatasetLock, _record_line, records_path, repair


def attention_call_ii(folder) -> dict:
    """Attention `ii` := initiation interval of back-to-back calls at L_max (what the RTL test bench measures
    since 2026-11-26), instead of the old cycles per accepted K beat (kept as extra.cosim.k_beat_ii).

    Old records carry no call-interval measurement, so it is taken from the kernel's cycle model; this is done
    only where cosim showed that model exact (model_cycles_1/2 == the measured latencies of both calls) and the
    source is recorded (extra.cosim.ii_source). Others lose their ii rather than keep the old meaning."""
    from hwgen.flows.report import Report
    from hwgen.kernels import registry
    from hwgen.spec import parse_spec

    path = records_path(folder)
    counts = {"records": 0, "migrated": 0, "already": 0, "dropped": 0}
    with DatasetLock(Path(folder)):
        repair(folder)               # a torn last line from a killed writer, as a build would drop it
        lines_out = []
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            obj = json.loads(line)
            counts["records"] += 1
            cos = (obj.get("extra") or {}).get("cosim") or {}
            if not str(obj.get("kernel", "")).startswith("attention") or obj.get("status") != "ok" or not cos:
                lines_out.append(line)
                continue
            if "k_beat_ii" in cos:
                counts["already"] += 1
                lines_out.append(line)
                continue
            cos["k_beat_ii"] = cos.get("ii")
            exact = (cos.get("status") == "ok" and cos.get("model_cycles_1") == cos.get("latency_cycles_1")
                     and cos.get("model_cycles_2") == cos.get("latency_cycles_2"))
            if exact:
                spec = parse_spec(obj["extra"]["spec"])
                kernel = registry.get(spec.kind)
                m = kernel.model(spec)
                cos["ii"] = obj["ii"] = float(kernel.call_interval(m, m.len_max))
                cos["ii_source"] = "cycle model (exact vs cosim latency of both calls); migrated 2026-11-26"
                counts["migrated"] += 1
            else:
                cos["ii"] = obj["ii"] = None
                counts["dropped"] += 1
            lines_out.append(_record_line(Report.model_validate(obj)).decode().rstrip("\n"))
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w") as f:
            f.write("\n".join(lines_out) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return counts


MIGRATIONS = {"attention-call-ii": attention_call_ii}
