"""Where the LUTs of small naive matmul designs go: each controlled design is synthesized with the open flow
(Yosys 0.23, `hwgen synth --flow open`), then once more with the same script keeping the register names (no
`opt_clean -purge`), and every LUT of the flattened netlist is assigned to a block by the registers / memories its
cone reads and feeds:

    select       LUTs that feed the lane-sum register s2_sum (the +a/0/-a select and, for P_k > 1, the lane tree)
    neg          the shared negations of the activations (read only s1_x, feed s2_sum)
    acc          the accumulator's read mux and adder (feed the partial-sum LUTRAM's data in or the output register)
    acc_we       the partial-sum LUTRAM's bank write enables
    acc_raddr    the read-address register memory_dff moves in front of the partial-sum LUTRAM
    bank_load    the weight banks' load side (write enables / demux, load counters)
    control      the rest (FSM, counters, handshakes)

It also lists which URAM288 output bits each bank uses (how memory_libmap laid the 4096-deep slices into byte lanes).
The anchor tests (tests/test_surrogate_anchors.py) compare the graph's per-block anchors with these counts, stored in
tests/fixtures/naive_cones.json by this script.

    python bench/naive_netlist_cones.py [--work build/bench/naive_cones] [--out tests/fixtures/naive_cones.json]

About 15 s of synthesis per design, one Yosys run at a time; designs already synthesized under --work are reused.
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# Controlled tlmm_naive designs (P_k = 1 unless named; pipeline 0): the lead's u250 K=40 a=5 URAM sweep over N and
# P_n (acc depth N / P_n, weight banks of 1-5 URAM slices), two training-set designs the anchor over-predicted
# (P_k = 1, two-slice banks), two with multi-bank accumulators and P_k = 3-4, a 9000 x 20 bank (three 24-bit slices
# in one URAM), and the K=40 sweep over N at P_n = 1.
DESIGNS = {
    "l96p1": dict(target="u250", K=40, N=96, P_k=1, P_n=1, act_bits=5, weight_memory="uram"),
    "l96p3": dict(target="u250", K=40, N=96, P_k=1, P_n=3, act_bits=5, weight_memory="uram"),
    "l192p1": dict(target="u250", K=40, N=192, P_k=1, P_n=1, act_bits=5, weight_memory="uram"),
    "l192p3": dict(target="u250", K=40, N=192, P_k=1, P_n=3, act_bits=5, weight_memory="uram"),
    "l418p1": dict(target="u250", K=40, N=418, P_k=1, P_n=1, act_bits=5, weight_memory="uram"),
    "l418p3": dict(target="u250", K=40, N=418, P_k=1, P_n=3, act_bits=5, weight_memory="uram"),
    "k214": dict(target="u250", K=214, N=320, P_k=1, P_n=10, act_bits=6, weight_memory="auto"),
    "k145": dict(target="u280", K=145, N=570, P_k=3, P_n=4, act_bits=5, weight_memory="auto"),
    "k54": dict(target="u250", K=54, N=945, P_k=4, P_n=3, act_bits=6, weight_memory="uram"),
    "u9000": dict(target="u250", K=180, N=500, P_k=10, P_n=1, act_bits=4, weight_memory="uram"),
}
# three lanes over two-slice (N=418: 5600 x 2) and one-slice (N=192: 2560 x 2) URAM banks, act_bits 4-8: the lone
# select's folded bank mux
DESIGNS.update({f"{tag}a{a}": dict(target="u250", K=40, N=n, P_k=1, P_n=3, act_bits=a, weight_memory="uram")
                for tag, n in (("s2", 418), ("s1", 192)) for a in (4, 6, 7, 8)})
# one lane, 11-bit accumulators of N partial sums (1-10 LUTRAM banks): the accumulator's read mux into its adder
DESIGNS.update({f"n{n}": dict(target="u250", K=40, N=n, P_k=1, P_n=1, act_bits=5, weight_memory="uram")
                for n in (50, 128, 160, 256, 300, 384, 512, 600)})

MODEL_FIELDS = ("lanes", "chunk", "chunks", "nblocks", "acc_bits", "wbuf_depth", "word_bits", "weight_memory")
SEQ = re.compile(r"^(FD|RAM|URAM)")
LANE = re.compile(r"g_(lane|bank)\[\d+\]")


def classify(netlist: dict) -> tuple[dict, dict]:
    """(LUT count per block, URAM cell -> used DOUT_A bits) of a flattened netlist with register names kept."""
    top = next(m for m, v in netlist["modules"].items() if v.get("attributes", {}).get("top"))
    mod = netlist["modules"][top]
    cells = mod["cells"]
    names = {}
    for nn, n in sorted(mod["netnames"].items(), key=lambda kv: (kv[0].startswith("$"), len(kv[0]))):
        for b in n["bits"]:
            if isinstance(b, int):
                names.setdefault(b, nn)
    drv, users = {}, collections.defaultdict(list)
    for cn, c in cells.items():
        for p, bits in c["connections"].items():
            for b in bits:
                if isinstance(b, int):
                    if c["port_directions"].get(p) == "output":
                        drv[b] = cn
                    else:
                        users[b].append((cn, p))

    def seq_name(cn):
        c = cells[cn]
        if c["type"].startswith("FD"):
            return names.get(c["connections"]["Q"][0], cn)
        return c["type"] + ":" + re.sub(r"(\.\d+)+$", "", cn)     # the memory's name, without its block index

    def cone(cn, memo, forward):
        if cn in memo:
            return memo[cn]
        memo[cn] = set()
        out = set()
        c = cells[cn]
        for p, bits in c["connections"].items():
            is_out = c["port_directions"].get(p) == "output"
            if is_out != forward:
                continue
            for b in bits:
                if not isinstance(b, int):
                    continue
                if forward:
                    for u, up in users.get(b, []):
                        out |= {seq_name(u) + "." + up} if SEQ.match(cells[u]["type"]) else cone(u, memo, True)
                else:
                    d = drv.get(b)
                    if d is None:
                        out.add("PI:" + names.get(b, "?"))
                    else:
                        out |= {seq_name(d)} if SEQ.match(cells[d]["type"]) else cone(d, memo, False)
        memo[cn] = out
        return out

    fin, fout = {}, {}
    counts = collections.Counter()
    for cn, c in cells.items():
        if not re.match(r"^(LUT|INV)", c["type"]):
            continue
        ins = ",".join(sorted(LANE.sub("g_lane[q]", x) for x in cone(cn, fin, False)))
        outs = ",".join(sorted(LANE.sub("g_lane[q]", x) for x in cone(cn, fout, True)))
        if "s2_sum" in outs and ".D" in outs and "u_acc.acc" not in outs:
            key = "neg" if all(x.startswith("s1_x") for x in ins.split(",")) else "select"
        elif "u_acc.acc.DI" in outs or ("m_axis_y_tdata" in outs and "u_acc" in ins):
            key = "acc"
        elif "u_acc.acc.WE" in outs:
            key = "acc_we"
        elif "acc$rdreg" in outs:
            key = "acc_raddr"
        elif "u_banks" in outs or "u_banks" in ins:
            key = "bank_load"
        else:
            key = "control"
        counts[key] += 1
    uram = {}
    for cn, c in cells.items():
        if c["type"] == "URAM288":
            bits = c["connections"]["DOUT_A"]
            uram[cn] = [i for i, b in enumerate(bits) if isinstance(b, int) and users.get(b)]
    return dict(counts), uram


def synth(name: str, params: dict, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    spec = {"kind": "tlmm_naive", "name": name, "M_max": 128, "pipeline": 0, **params}
    (work / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    out = work / name
    ydir = out / "yosys"
    if not (ydir / "netlist_named.json").exists():
        _run(spec, work, name, out)
    report = json.loads((out / "report.json").read_text())
    counts, uram = classify(json.loads((ydir / "netlist_named.json").read_text()))
    spec.pop("name")
    model = json.loads((out / "project" / "model.json").read_text())
    return {"spec": spec, "model": {k: model[k] for k in MODEL_FIELDS}, "lut": report["resources"]["lut"],
            "lutram": report["resources"]["lutram"],
            "uram": report["resources"]["uram"], "cells": report["extra"]["cells"], "luts_by_block": counts,
            "uram_dout_bits": sorted(uram.values())[0] if uram else []}


def _run(spec: dict, work: Path, name: str, out: Path) -> None:
    """The open-flow synthesis, then its Yosys script again with the register names kept (netlist_named.json)."""
    subprocess.run([sys.executable, "-m", "hwgen", "synth", "--config", str(work / f"{name}.yaml"), "--out", str(out),
                    "--flow", "open"], check=True, capture_output=True)
    ydir = out / "yosys"
    script = (ydir / "synth.ys").read_text()
    script = (script.replace("opt_clean -purge", "opt_clean").replace("setattr -unset src", "")
              .replace("write_json netlist.json", "write_json netlist_named.json"))
    script = re.sub(r"tee -q -o stat.json stat -json -top \S+", "", script)
    (ydir / "named.ys").write_text(script)
    subprocess.run(["yosys", "-q", "-s", "named.ys"], cwd=ydir, check=True, capture_output=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=str(ROOT / "build" / "bench" / "naive_cones"))
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "naive_cones.json"))
    a = ap.parse_args(argv)
    from hwgen.flows.tools import tool_version

    rows = {name: synth(name, params, Path(a.work)) for name, params in DESIGNS.items()}
    doc = {"provenance": "python bench/naive_netlist_cones.py (hwgen synth --flow open, then the same Yosys script "
                         "keeping register names; LUTs assigned to blocks by their register cones)",
           "yosys": tool_version("yosys"), "designs": rows}
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    for name, r in rows.items():
        print(name, r["lut"], r["luts_by_block"], "URAM DOUT bits", r["uram_dout_bits"])
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
