"""Where the analytical anchor of the surrogate errs: the mean and spread of log1p(measured LUT) - log1p(anchor LUT)
and the anchor's LUT / FF SMAPE per dataset, kernel kind and size, per matmul lane width (leaves of the lane adder
tree), TLMM G / table_style, matmul weight memory and device family, on the stored Yosys records. The GNN corrects
this residual per block; a bias that depends on a group with few designs (a G, a family, small designs) is what it
learns worst, so the anchor should have none.

    .venv/bin/python bench/surrogate_anchor_bias.py [--data datasets/tlmm ...] [--baseline OLD.json]
    -> bench/results/surrogate_anchor_bias.md (+ .json)

--baseline: a .json this script wrote for the same data at another commit (the anchors before a change); the
tables then show its SMAPE next to the current one. The committed baseline, surrogate_anchor_bias_v4.json, is this
script run on commit 268f179 (graph features v4, before the lane-tree / accumulator / LUTRAM-write anchor terms):
    git worktree add --detach /tmp/v4 268f179 && cp bench/surrogate_anchor_bias.py /tmp/v4/bench/ &&
    (cd /tmp/v4 && python bench/surrogate_anchor_bias.py --out $OLDPWD/bench/results/surrogate_anchor_bias_v4.md)
The script imports the code of the checkout it sits in (bind_checkout), not the editable install's.
Seconds (graph construction only; no training, no synthesis).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ["datasets/tlmm", "datasets/holdout_tlmm", "datasets/transfer_yosys023", "datasets/fresh_s4242_tlmm",
                "datasets/attention", "datasets/holdout_attention", "datasets/layer_kernels", "datasets/composed",
                "datasets/bitnet_layer"]
MATMUL = ("tlmm", "tlmm_naive")


def size_bucket(lut: float) -> str:
    return "< 1,000 LUT" if lut < 1000 else "1,000-10,000 LUT" if lut < 10000 else ">= 10,000 LUT"


def smape(y: float, p: float) -> float:
    return 200 * abs(y - p) / (abs(y) + abs(p) + 1)


def lane_leaves(spec: dict) -> int | None:
    """Operands of a matmul lane's adder tree (TLMM: T lookups + the mirror sign count; naive: P_k selects)."""
    if spec.get("kind") == "tlmm":
        return int(spec.get("T", 0)) + (1 if spec.get("table_style") == "mirror" else 0)
    if spec.get("kind") == "tlmm_naive":
        return int(spec.get("P_k", 0))
    return None


def leaves_bucket(n: int) -> str:
    return str(n) if n <= 3 else "4-7" if n < 8 else ">= 8"


GROUPINGS = {
    "all designs": lambda r: "all",
    "all designs under 1,000 LUT": lambda r: "< 1,000 LUT" if r["lut"] < 1000 else None,
    "dataset, kind": lambda r: f"{r['data']}, {r['kind']}",
    "kind, size (measured LUT)": lambda r: f"{r['kind']}, {size_bucket(r['lut'])}",
    "matmul lane leaves (< 1,000 LUT)":
        lambda r: f"{r['kind']}, {leaves_bucket(r['leaves'])} leaves" if r["kind"] in MATMUL and r["lut"] < 1000
        else None,
    "TLMM G, table_style": lambda r: f"G={r['G']}, {r['style']}" if r["kind"] == "tlmm" else None,
    "matmul weight_memory, family":
        lambda r: f"{r['kind']}, {r['wm']}, {r['family']}" if r["kind"] in MATMUL else None,
}


def bind_checkout() -> str:
    """Import hwgen and its mapped packages (surrogate/, datasets/, ... : pyproject package-dir) from this checkout,
    so that a copy of this script in another worktree measures that worktree's anchors. Returns its commit."""
    import importlib.util
    import subprocess

    sys.path.insert(0, str(ROOT))
    import hwgen

    assert Path(hwgen.__file__).resolve().parent == ROOT / "hwgen", hwgen.__file__
    for sub in ("surrogate", "datasets", "flows", "templates", "models"):
        init = ROOT / sub / "__init__.py"
        if init.exists() and f"hwgen.{sub}" not in sys.modules:
            spec = importlib.util.spec_from_file_location(f"hwgen.{sub}", init,
                                                          submodule_search_locations=[str(ROOT / sub)])
            mod = importlib.util.module_from_spec(spec)
            sys.modules[f"hwgen.{sub}"] = mod
            spec.loader.exec_module(mod)
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return rev.stdout.strip() or "?"


def rows_of(data: list[str]) -> list[dict]:
    from hwgen.datasets.store import load_records
    from hwgen.surrogate.features import build_ir

    rows = []
    for d in data:
        for r in load_records(ROOT / d, status="ok"):
            spec = r.extra.get("spec")
            if not spec:
                continue
            est = build_ir(spec).analytical()
            rows.append({"data": Path(d).name, "kind": r.kernel, "family": r.extra.get("yosys_family", ""),
                         "G": spec.get("G"), "style": spec.get("table_style"), "wm": spec.get("weight_memory"),
                         "leaves": lane_leaves(spec), "lut": r.resources.lut, "ana": est["lut"],
                         "ff": r.resources.ff, "ana_ff": est["ff"]})
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=DEFAULT_DATA)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "surrogate_anchor_bias.md"))
    ap.add_argument("--baseline", default=None, help="a .json of this script at another commit (same --data)")
    a = ap.parse_args(argv)
    commit = bind_checkout()
    from hwgen.errors import UserError
    from hwgen.surrogate.features import FEATURE_VERSION

    base = None
    if a.baseline:
        try:
            base = json.loads(Path(a.baseline).read_text())
        except (OSError, ValueError) as e:
            raise UserError("baseline", f"cannot read {a.baseline}: {e}") from None
    rows = rows_of(a.data)
    result = {"data": a.data, "n": len(rows), "feature_version": FEATURE_VERSION, "commit": commit, "groups": {}}
    cmp = f" Before -> after: the baseline {Path(a.baseline).name} (commit {base.get('commit', '?')}, graph features " \
          f"v{base.get('feature_version', '?')}) -> this checkout." if base else ""
    lines = ["# Analytical anchor bias", "",
             f"Generated by `python bench/surrogate_anchor_bias.py{' --baseline ' + a.baseline if base else ''}` "
             f"over {', '.join(a.data)} ({len(rows)} designs; graph features v{FEATURE_VERSION}). "
             "Residual r = log1p(measured LUT) - log1p(anchor LUT) (0.10 ~ the anchor 10 % low); "
             "SMAPE = 200%/n sum |y-p|/(|y|+|p|+1) of the anchor alone (the GNN's input, not its output)." + cmp, ""]
    for title, key in GROUPINGS.items():
        g = defaultdict(list)
        for r in rows:
            k = key(r)
            if k is not None:
                g[k].append(r)
        old = (base or {}).get("groups", {}).get(title, {})
        head = "| group | n | mean r | std r | anchor LUT SMAPE % | anchor FF SMAPE % |"
        lines += [f"## {title}", "", head.replace("LUT SMAPE % |", "LUT SMAPE % before -> after |") if base else head,
                  "|---|---|---|---|---|---|"]
        out = {}
        for k in sorted(g):
            rs = g[k]
            res = np.array([math.log1p(r["lut"]) - math.log1p(r["ana"]) for r in rs])
            sm = float(np.mean([smape(r["lut"], r["ana"]) for r in rs]))
            smf = float(np.mean([smape(r["ff"], r["ana_ff"]) for r in rs]))
            out[k] = {"n": len(rs), "mean": float(res.mean()), "std": float(res.std()), "lut_smape": sm,
                      "ff_smape": smf}
            was = f"{old[k]['lut_smape']:.2f} -> " if k in old and old[k]["n"] == len(rs) else ("- -> " if base else "")
            lines.append(f"| {k} | {len(rs)} | {res.mean():+.3f} | {res.std():.3f} | {was}{sm:.2f} | {smf:.2f} |")
        lines.append("")
        result["groups"][title] = out
    out_md = Path(a.out)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(lines) + "\n")
    out_md.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out_md}")


if __name__ == "__main__":
    main()
