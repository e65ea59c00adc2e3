"""What a composition's stream adapters cost on their own and inside the composition: every distinct adapter shape
of the training compositions (datasets/composed; never a fresh / holdout set) is synthesized alone with the open
flow's Yosys script (Yosys 0.23 synth_xilinx, one wrapper module instantiating templates/lib/rtl/hwgen_stream_adapter.v
with the composition's parameters), and its LUT / FF counts are stored next to the graph's adapter estimate
(surrogate/compose.py adapter_features). The anchor tests (tests/test_composed_anchor.py) read the stored counts.

    python bench/adapter_synth.py [--work build/bench/adapter_synth] [--out tests/fixtures/composed_adapters.json]

A few seconds of synthesis per shape, one Yosys run at a time; shapes already synthesized under --work are reused.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("in_n", "in_w", "in_beats", "out_n", "out_w", "out_beats", "shift")


def shapes(data: list[str]) -> dict:
    """{shape key: {adapter fields, family, sources: [record keys]}} of every adapter in the given datasets."""
    from hwgen import kernels, targets
    from hwgen.datasets.store import load_records

    out = {}
    for d in data:
        for r in load_records(ROOT / d, status="ok"):
            spec = r.extra.get("spec")
            if not spec or spec.get("kind") != "composed":
                continue
            sp = kernels.parse_spec(spec)
            family = r.extra.get("yosys_family") or targets.get_target(sp.target).yosys_family
            for a in kernels.get("composed").model(sp).adapters:
                f = {k: getattr(a, k) for k in FIELDS}
                key = "_".join(str(f[k]) for k in FIELDS) + f"_{family}"
                out.setdefault(key, {**f, "family": family, "sources": []})["sources"].append(r.extra["key"][:12])
    return out


def wrapper(f: dict) -> str:
    from hwgen.bits import index_bits

    p = f"#(.IN_N({f['in_n']}), .IN_W({f['in_w']}), .IN_BEATS({f['in_beats']}), .OUT_N({f['out_n']}), " \
        f".OUT_W({f['out_w']}), .OUT_BEATS({f['out_beats']}), .SHIFT({f['shift']}), " \
        f".IBW({index_bits(f['in_beats'])}), .OBW({index_bits(f['out_beats'])}))"
    ib, ob = f["in_n"] * f["in_w"], f["out_n"] * f["out_w"]
    return f"""module adapter_top (input wire clk, input wire rst,
    input wire [{ib - 1}:0] s_tdata, input wire s_tvalid, output wire s_tready, input wire s_tlast,
    output wire [{ob - 1}:0] m_tdata, output wire m_tvalid, input wire m_tready, output wire m_tlast);
    hwgen_stream_adapter {p} u (.clk(clk), .rst(rst), .s_tdata(s_tdata), .s_tvalid(s_tvalid), .s_tready(s_tready),
        .s_tlast(s_tlast), .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready), .m_tlast(m_tlast));
endmodule
"""


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=["datasets/composed"])
    ap.add_argument("--work", default=str(ROOT / "build" / "bench" / "adapter_synth"))
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "composed_adapters.json"))
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from hwgen.flows.synth_open import synth_verilog
    from hwgen.flows.tools import tool_version

    lib = ROOT / "templates" / "lib" / "rtl" / "hwgen_stream_adapter.v"
    found = shapes(a.data)
    rows = {}
    for key, f in sorted(found.items()):
        work = Path(a.work) / key
        done = work / "result.json"
        if done.exists():
            rows[key] = json.loads(done.read_text())
            continue
        work.mkdir(parents=True, exist_ok=True)
        (work / "adapter_top.v").write_text(wrapper(f))
        res, _, cells, tail, ok = synth_verilog([work / "adapter_top.v", lib], "adapter_top", f["family"],
                                                work / "yosys")
        if not ok:
            raise SystemExit(f"{key}: synthesis failed\n{tail}")
        rows[key] = {**f, "lut": res["lut"], "ff": res["ff"], "cells": cells}
        done.write_text(json.dumps(rows[key]))
        print(f"{key}: {res['lut']:.0f} LUT {res['ff']:.0f} FF", flush=True)
    doc = {"provenance": "python bench/adapter_synth.py --data " + " ".join(a.data) +
                         " (hwgen_stream_adapter.v alone, the open flow's Yosys script)",
           "yosys": tool_version("yosys"), "adapters": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {a.out} ({len(rows)} shapes)")


if __name__ == "__main__":
    main()
