"""A dataset folder's description: card.md (tool versions, commands, counts, ranges, spaces) and schema.json
(the JSON Schema of one record), rewritten from the store and the build log after every build or import."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from . import store

__all__ = ["write_card", "append_build_log", "BUILDS_LOG", "CARD_FILE", "SCHEMA_FILE", "SPACES_DIR"]

BUILDS_LOG = "builds.jsonl"
CARD_FILE = "card.md"
SCHEMA_FILE = "schema.json"
SPACES_DIR = "spaces"


def _table(title: str, counts: dict) -> list[str]:
    lines = [f"| {title} | records |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in counts.items()]
    return lines + [""]


def _write_schema(out_dir: Path) -> None:
    """schema.json: the JSON Schema of one record (flows/report.py Report), next to records.jsonl."""
    from hwgen.flows.report import Report

    text = json.dumps(Report.model_json_schema(), indent=1, sort_keys=True) + "\n"
    path = out_dir / SCHEMA_FILE
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def append_build_log(out_dir, entry: dict) -> None:
    """One line of the build log (builds.jsonl: every build, import and refresh, with its command and counts),
    appended and synced in one write so that a kill leaves whole lines."""
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    fd = os.open(Path(out_dir) / BUILDS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_card(out_dir) -> Path:
    """(Re)write out/card.md from the store and the build log: tool versions, commands, dates, counts."""
    import statistics

    out_dir = Path(out_dir)
    reports = store.load_records(out_dir, warn=False)
    c = store.counts(reports)
    builds = []
    log = out_dir / BUILDS_LOG
    if log.exists():
        for line in log.read_text().splitlines():
            try:
                builds.append(json.loads(line))
            except ValueError:
                pass
    tools: dict[str, set] = {}
    for r in reports:
        for k, v in r.tool_versions.items():
            tools.setdefault(k, set()).add(v)
    lines = [f"# Dataset `{out_dir.name}`", "",
             f"Updated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
             f"{c['total']} records ({c['status'].get('ok', 0)} ok) in `{store.RECORDS_FILE}`, one "
             "`hwgen.flows.report.Report` JSON per line (shared report schema, version "
             f"{reports[0].schema_version if reports else 1}, JSON Schema in `{SCHEMA_FILE}`); resume key and full spec in `extra.key` / "
             "`extra.spec`. Load with `hwgen.datasets.store.load_records(folder)`; "
             "`hwgen dataset export` writes `records.parquet`.", "",
             "Resource numbers come from Yosys `synth_xilinx` (CARRY4 even on UltraScale+, no LUT packing), not "
             "Vivado. latency_cycles and ii are the kernel's performance contract as cosim measures it "
             "(hwgen/kernels/base.py): cycles from the first data beat accepted to the last output beat of the first "
             "unit (a token for the matmul kernels, a call at the maximum length for attention), and cycles between "
             "the first and the second unit; the contract's own numbers are in `extra.performance`. Records built "
             "before 2026-12 measured latency in a separate one-unit run (the same quantity); attention records "
             "before 2026-11-26 take ii from the cycle model their cosim showed exact (`hwgen dataset migrate "
             "attention-call-ii`). Matmul (tlmm, tlmm_naive) and attention records built before the kernel's "
             "`pipeline` parameter measured the unpipelined RTL; their specs say `pipeline: 0` (`hwgen dataset "
             "migrate pipeline-zero`). "
             "Cosim details in `extra.cosim`.", "",
             "## Tool versions", ""]
    lines += [f"- {k}: {', '.join(sorted(v))}" for k, v in sorted(tools.items())] or ["- (none)"]
    lines += ["", "## Counts", ""]
    lines += _table("kernel / status", c["kernel_status"])
    lines += _table("target", c["target"])
    lines += _table("flow", c["flow"])
    ok = [r for r in reports if r.status == "ok" and r.resources.lut is not None]
    if ok:
        lines += ["## Ranges (ok records)", "", "| kernel | n | LUT min / median / max | MACs/cycle max | synth s median / max |",
                  "|---|---|---|---|---|"]
        for kern in sorted({r.kernel for r in ok}):
            rs = [r for r in ok if r.kernel == kern]
            luts = [(r.resources.lut or 0) + (r.resources.lutram or 0) for r in rs]
            macs = [(r.extra.get("performance") or {}).get("macs_per_cycle") for r in rs]
            macs = [m for m in macs if isinstance(m, (int, float))]
            secs = [r.runtime_s for r in rs if r.runtime_s is not None]
            lines.append(f"| {kern} | {len(rs)} | {min(luts):.0f} / {statistics.median(luts):.0f} / {max(luts):.0f} | "
                         f"{max(macs) if macs else '-'} | "
                         f"{statistics.median(secs) if secs else '-'} / {max(secs) if secs else '-'} |")
        lines.append("")
    lines += ["## Builds", "", "| date (UTC) | command | planned | skipped | built | status | interrupted | s |",
              "|---|---|---|---|---|---|---|---|"]
    for b in builds[-30:]:
        st = ", ".join(f"{k} {v}" for k, v in sorted(b.get("status", {}).items()))
        lines.append(f"| {b.get('date')} | `{b.get('command')}` | {b.get('planned')} | {b.get('skipped')} | "
                     f"{b.get('built')} | {st} | {b.get('interrupted')} | {b.get('seconds')} |")
    if len(builds) > 30:
        lines.append(f"| ... | {len(builds) - 30} earlier builds in {BUILDS_LOG} | | | | | | |")
    lines += ["", "## Spaces", ""]
    spaces = sorted((out_dir / SPACES_DIR).glob("*.yaml")) if (out_dir / SPACES_DIR).exists() else []
    for p in spaces:
        lines += [f"### `{SPACES_DIR}/{p.name}`", "", "```yaml", p.read_text().rstrip(), "```", ""]
    if not spaces:
        lines.append("(imported data: no space)")
    _write_schema(out_dir)
    card = out_dir / CARD_FILE
    tmp = card.with_name(card.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, card)
    return card
