"""How Yosys 0.23 maps bare block-RAM memories: RAMB18/RAMB36 cells and LUTs per depth x width, on xc7 and xcup.

Each geometry is one memory with a uniform write enable and a registered read (or an initialised ROM, `rom`), marked
ram_style / rom_style "block", synthesized alone with the flags of templates/common/yosys_synth.ys.j2
(synth_xilinx -flatten -noiopad -noclkbuf -nowidelut). The cells are what costs._bram_choice (block count, read-mux
inputs) is checked against in tests/test_surrogate_anchors.py.

    .venv/bin/python bench/yosys_bram_geometry.py [--out tests/fixtures/bram_geometry.json] [KIND:FAMILY:DEPTH:WIDTH ...]

About 7 s per geometry (one Yosys at a time).
"""
from __future__ import annotations

import argparse
import datetime
import json
import random
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RAM = """module mem #(parameter D = 16, W = 8, A = 4) (input clk, input we, input [A-1:0] wa, input [W-1:0] wd,
  input [A-1:0] ra, output reg [W-1:0] rd);
  (* ram_style = "block" *) reg [W-1:0] m [0:D-1];
  always @(posedge clk) begin if (we) m[wa] <= wd; rd <= m[ra]; end
endmodule
"""
ROM = """module mem #(parameter D = 16, W = 8, A = 4) (input clk, input [A-1:0] ra, output reg [W-1:0] rd);
  (* rom_style = "block" *) reg [W-1:0] m [0:D-1];
  initial $readmemh("rom.hex", m);
  always @(posedge clk) rd <= m[ra];
endmodule
"""

# Geometries where the old cheapest-aspect-ratio rule and memory_libmap's slice packing disagree, and a few where they
# agree (16000 x 9 on xc7: the CASCADE option does not win), both families, and ROMs (no write-enable byte padding).
DEFAULT = ["ram:xc7:1280:44", "ram:xc7:2500:20", "ram:xc7:2685:27", "ram:xc7:7985:83", "ram:xc7:2155:95",
           "ram:xc7:4434:91", "ram:xc7:2526:59", "ram:xc7:7455:79", "ram:xc7:7137:39", "ram:xc7:8674:27",
           "ram:xc7:6501:63", "ram:xc7:4169:51", "ram:xc7:2367:75", "ram:xc7:1413:47", "ram:xc7:16000:9",
           "ram:xc7:16000:5", "ram:xc7:1076:23", "ram:xc7:6000:30",
           "ram:xcup:1280:44", "ram:xcup:2685:27", "ram:xcup:7137:39", "ram:xcup:6501:63", "ram:xcup:7985:83",
           "ram:xcup:8192:72", "ram:xcup:1076:48",
           "rom:xc7:1076:23", "rom:xc7:1173:58", "rom:xcup:1076:48"]


def synth(kind: str, family: str, depth: int, width: int, work: Path) -> dict:
    abits = max(depth - 1, 1).bit_length()
    (work / "mem.v").write_text(RAM if kind == "ram" else ROM)
    if kind == "rom":   # random contents: no constant data bit for Yosys to drop
        rnd = random.Random(depth * 1000 + width)
        (work / "rom.hex").write_text("\n".join(format(rnd.getrandbits(width), "x") for _ in range(depth)) + "\n")
    script = (f"read_verilog mem.v; chparam -set D {depth} -set W {width} -set A {abits} mem; "
              f"synth_xilinx -family {family} -top mem -flatten -noiopad -noclkbuf -nowidelut; "
              "tee -q -o stat.json stat -json")
    subprocess.run(["yosys", "-q", "-p", script], cwd=work, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=600)
    return json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("geometries", nargs="*", default=DEFAULT, help="KIND:FAMILY:DEPTH:WIDTH, KIND ram or rom")
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "bram_geometry.json"))
    a = ap.parse_args(argv)
    from hwgen.flows.tools import tool_version

    version = tool_version("yosys")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for g in a.geometries:
            kind, family, depth, width = g.split(":")
            cells = synth(kind, family, int(depth), int(width), Path(tmp))
            rows.append({"kind": kind, "family": family, "depth": int(depth), "width": int(width), "cells": cells})
            print(g, cells, flush=True)
    doc = {"provenance": f"python bench/yosys_bram_geometry.py ({version}, "
                         f"{datetime.date.today().isoformat()}): bare memories synthesized alone",
           "memories": rows}
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
