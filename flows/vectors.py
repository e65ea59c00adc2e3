"""Vector files, the same for every kernel and every simulator (templates/common/tb.{cpp,v}.j2):

    meta.txt     the number of HLS calls, then the beat count of every port in port order
    calls.txt    one line per HLS call: the values of the kernel's scalar arguments
    <port>.txt   one beat per line, `tlast e0 e1 ...` (element 0 at the LSBs of the beat); the test benches
                 write the output ports in the same format (tlast -1 where the HLS stream has none)

Source rates (`source_rates`): an input port can be limited to a number of payload bytes per cycle; the RTL test
bench realises it as a duty pattern of NUM/DEN beats per cycle (+RATE_<port>_NUM / _DEN, templates/common/tb.v.j2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hwgen.bits import source_rate
from hwgen.errors import UserError

META_FILE = "meta.txt"
CALLS_FILE = "calls.txt"


class FlowFailed(Exception):
    """A tool crashed, timed out or produced unreadable output; carries the log tail for the report."""


def write_vectors(kernel, spec, inputs: dict, folder: Path) -> dict[str, list[int]]:
    """Write every input stream, meta.txt and calls.txt; returns the expected beats per unit of each output."""
    folder = Path(folder)
    beats = kernel.stream_beats(spec, inputs)
    units = kernel.output_units(spec, inputs)
    plan = kernel.call_plan(spec, inputs)
    counts = []
    for port in kernel.ports(spec):
        if port.direction == "in":
            rows = beats[port.name]
            for _, elems in rows[:1]:
                if len(elems) != port.elements:
                    raise ValueError(f"{spec.kind}: port {port.name} beat has {len(elems)} elements, expected {port.elements}")
            (folder / f"{port.name}.txt").write_text(
                "".join(f"{int(tl)} {' '.join(map(str, elems))}\n" for tl, elems in rows))
            counts.append(len(rows))
        else:
            counts.append(sum(units[port.name]))
    (folder / META_FILE).write_text("\n".join(map(str, [len(plan), *counts])) + "\n")
    (folder / CALLS_FILE).write_text("".join(" ".join(map(str, call)) + "\n" for call in plan))
    return units


def read_outputs(kernel, spec, inputs: dict, folder: Path, units: dict[str, list[int]]) -> tuple[dict, int]:
    """The output streams written by a test bench -> (outputs in the golden model's layout, tlast errors).

    A tlast error is a beat whose tlast differs from the unit boundaries the kernel promises (beats of the
    HLS test bench carry -1: not checked)."""
    folder = Path(folder)
    beats, tlast_errors = {}, 0
    for port in kernel.ports(spec):
        if port.direction != "out":
            continue
        path = folder / f"{port.name}.txt"
        if not path.exists():
            raise FlowFailed(f"the test bench wrote no {path.name}")
        rows = [list(map(int, line.split())) for line in path.read_text().splitlines() if line.strip()]
        want = sum(units[port.name])
        if len(rows) != want or any(len(r) != port.elements + 1 for r in rows):
            raise FlowFailed(f"hardware produced {len(rows)} beats on {port.name}, expected {want} beats of "
                             f"{port.elements} values")
        arr = np.array(rows, dtype=np.int64).reshape(want, port.elements + 1)
        expected_last = np.zeros(want, np.int64)
        expected_last[np.cumsum(units[port.name]) - 1] = 1
        tl = arr[:, 0]
        tlast_errors += int(np.count_nonzero((tl >= 0) & (tl != expected_last)))
        beats[port.name] = arr[:, 1:]
    return kernel.from_beats(spec, inputs, beats), tlast_errors


def read_stats(path: Path) -> dict[str, float]:
    stats = {}
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                stats[parts[0]] = float(parts[1])
    return stats


def source_rates(kernel, spec, rates: dict | None) -> dict[str, tuple[int, int]]:
    """{input port: bytes per cycle} -> {port: (NUM, DEN)} beats per cycle (hwgen.bits.source_rate: a beat's
    bytes are elements * elem_bits / 8); unknown ports and rates <= 0 are UserErrors."""
    ports = {p.name: p for p in kernel.ports(spec) if p.direction == "in"}
    out = {}
    for name, bpc in (rates or {}).items():
        if name not in ports:
            raise UserError("rate", f"no input port {name!r}; allowed: {', '.join(ports)}")
        try:
            bpc = float(bpc)
        except (TypeError, ValueError):
            bpc = float("nan")
        if not bpc > 0 or bpc == float("inf"):
            raise UserError("rate", f"{name}: bytes per cycle must be a number > 0 (got {bpc})")
        out[name] = source_rate(bpc, ports[name].beat_bits)
    return out


def rate_plusargs(rates: dict[str, tuple[int, int]]) -> list[str]:
    return [arg for name, (num, den) in sorted(rates.items())
            for arg in (f"+RATE_{name}_NUM={num}", f"+RATE_{name}_DEN={den}")]
