"""LUTs per module of small controlled TLMM designs, synthesized with the hierarchy kept (Yosys 0.23 `synth_xilinx`
without -flatten), next to the flattened total: what each block of the RTL costs on its own, for the analytical
anchor's per-block terms (hwgen/kernels/tlmm_graph.py). One design per G (1..5) and table_style, everything else
fixed (kv260, K=N=64, act_bits 6, T=2, Q=2, BRAM weight banks), so that G alone changes the table build's select,
the walk ROM and the table depth (mirror G=5: a table two LUTRAM banks deep).

    .venv/bin/python bench/tlmm_module_cells.py [--out tests/fixtures/tlmm_modules/module_luts.json]

~10 s of Yosys per design (20 runs). The committed fixture is this script's output; tests/test_matmul_anchors.py
reads it (no synthesis in the tests).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = {"kind": "tlmm", "target": "kv260", "K": 64, "N": 64, "act_bits": 6, "T": 2, "Q": 2,
        "weight_memory": "bram"}
LUT_CELLS = {f"LUT{i}" for i in range(1, 7)} | {"INV", "LUT6_2"}


def _luts(cells: dict) -> int:
    return int(sum(v for k, v in cells.items() if k in LUT_CELLS))


def _module_name(name: str) -> str:
    """`$paramod$<hash>\\hwgen_tlmm_build` / `\\tlmm_walk` -> hwgen_tlmm_build / tlmm_walk."""
    return name.rsplit("\\", 1)[-1]


def synth(spec: dict, work: Path) -> dict:
    from hwgen.flows.tools import tool_version
    from hwgen.kernels import parse_spec
    from hwgen.render import write_project

    ks = parse_spec(spec)
    write_project(ks, work / "p", "rtl")
    sources = sorted(str(p) for p in (work / "p").rglob("*.v") if not p.name.startswith("tb_"))
    top = ks.top if getattr(ks, "top", None) else "tlmm"
    fam = ks.target_info.yosys_family
    out = {"spec": spec, "yosys": tool_version("yosys")}
    for tag, flatten in (("hier", ""), ("flat", "-flatten")):
        stat = work / f"{tag}.json"
        script = "\n".join([*(f'read_verilog -sv "{s}"' for s in sources),
                            f"synth_xilinx -family {fam} -top {top} {flatten} -noiopad -noclkbuf -nowidelut",
                            f"tee -q -o {stat} stat -json -top {top}"])
        (work / f"{tag}.ys").write_text(script + "\n")
        subprocess.run(["yosys", "-q", "-s", str(work / f"{tag}.ys")], check=True, capture_output=True, cwd=work)
        s = json.loads(stat.read_text())
        if flatten:
            out["flat_lut"] = _luts(s["design"]["num_cells_by_type"])
        else:   # per module once (the per-lane modules are instantiated Q times)
            out["modules"] = {_module_name(m): {"lut": _luts(v["num_cells_by_type"]),
                                                "cells": {k: c for k, c in sorted(v["num_cells_by_type"].items())
                                                          if not k.startswith("$")}}
                              for m, v in s["modules"].items()}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "tlmm_modules" / "module_luts.json"))
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    designs = []
    for style in ("full", "mirror"):
        for G in range(1, 6):
            with tempfile.TemporaryDirectory(prefix="tlmm_cells_") as tmp:
                d = synth({**BASE, "G": G, "table_style": style}, Path(tmp))
            designs.append(d)
            print(f"G={G} {style}: flat {d['flat_lut']} LUT, "
                  + ", ".join(f"{k} {v['lut']}" for k, v in d["modules"].items()), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"generated_by": "python bench/tlmm_module_cells.py", "designs": designs},
                                      indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
