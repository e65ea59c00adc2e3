"""`pipeline` of the ternary matmul kernels (TLMM resident and weight-streaming, naive): register stages in the lane
path add exactly their number to the latency (II unchanged), the RTL stays bit-exact (also under stalls and at a
limited weight rate), `auto` picks the fewest stages that meet the clock under the delay model (hwgen/timing.py),
and stored records keep meaning the unpipelined RTL they measured (`pipeline-zero` migration)."""
import json
import shutil

import numpy as np
import pytest

from hwgen import kernels, timing
from hwgen.errors import UserError
from hwgen.kernels import parse_spec
from hwgen.kernels.rtl_util import build_adder_tree
from hwgen.kernels.tlmm import lane_path
from hwgen.render import write_project

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed; run make setup")

CASES = [   # resident full / mirror tables, naive, streaming (the BitNet layer's TLMMs); several stage counts
    {"kind": "tlmm", "name": "pp_full", "K": 40, "N": 12, "G": 3, "T": 5, "Q": 4, "M_max": 4, "pipeline": 3},
    {"kind": "tlmm", "name": "pp_mirror", "K": 37, "N": 10, "G": 2, "T": 4, "Q": 2, "M_max": 3,
     "table_style": "mirror", "act_bits": 5, "pipeline": 1},
    {"kind": "tlmm_naive", "name": "pp_naive", "K": 40, "N": 12, "P_k": 7, "P_n": 3, "M_max": 4, "pipeline": 2},
    {"kind": "tlmm", "name": "pp_ws", "K": 40, "N": 12, "G": 3, "T": 4, "Q": 4, "M_max": 3,
     "weight_memory": "stream", "w_beat_words": 2, "pipeline": 2},
]


def _unpiped(cfg):
    return parse_spec({**cfg, "pipeline": 0})


@pytest.mark.parametrize("cfg", CASES, ids=lambda c: c["name"])
def test_latency_grows_by_the_stages(cfg):
    spec = parse_spec(cfg)
    k = kernels.get(spec.kind)
    m, base = k.model(spec), k.performance(_unpiped(cfg))
    perf = k.performance(spec)
    assert m.pipeline == cfg["pipeline"] and len(m.pipe_cuts) == m.pipeline
    assert (perf.latency_cycles, perf.ii) == (base.latency_cycles + m.pipeline, base.ii)
    if cfg.get("weight_memory") == "stream":
        for rate in (None, 0.5):
            a, b = k.stream_cycles(spec, 2, rate), k.stream_cycles(_unpiped(cfg), 2, rate)
            assert a["latency_cycles"] == b["latency_cycles"] + m.pipeline and a["ii"] == b["ii"]


@needs_iverilog
@pytest.mark.parametrize("cfg", CASES, ids=lambda c: c["name"])
def test_cosim_bit_and_cycle_exact(cfg, tmp_path):
    from hwgen.flows.cosim import run_cosim

    spec = parse_spec(cfg)
    k = kernels.get(spec.kind)
    write_project(spec, tmp_path / "prj", "rtl")
    perf = k.performance(spec)
    s = run_cosim(tmp_path / "prj", vectors=3, seed=5, simulator="icarus")
    assert s["pass"] and s["tlast_errors"] == 0, s
    assert (s["latency_cycles"], s["ii"]) == (perf.latency_cycles, perf.ii)
    assert run_cosim(tmp_path / "prj", vectors=3, seed=2, stall=35, simulator="icarus")["pass"]
    if cfg.get("weight_memory") == "stream":   # limited weight bandwidth: stream_cycles stays exact
        s = run_cosim(tmp_path / "prj", vectors=3, seed=1, simulator="icarus", rates={"w": 0.7})
        model = k.stream_cycles(spec, spec.M_max, 0.7, calls=3)
        assert s["pass"] and (s["latency_cycles"], s["ii"]) == (model["latency_cycles"], model["ii"]), (s, model)


def test_rtl_registers_the_cut_levels(tmp_path):
    spec = parse_spec(CASES[0])
    write_project(spec, tmp_path / "prj", "both")
    top = (tmp_path / "prj" / "rtl" / "pp_full.v").read_text()
    m = kernels.get("tlmm").model(spec)
    for cut in m.pipe_cuts:
        assert f"reg signed" in top and f" r{cut}_0;" in top
    assert ".EXTRA(3)" in top
    hls = (tmp_path / "prj" / "hls" / "pp_full.cpp").read_text()
    assert "LATENCY min=5" in hls and "PIPELINE II=1" in hls


def test_adder_tree_cuts_keep_every_path_equally_long():
    tree = build_adder_tree([4] * 5, 8, cut_levels=(0, 2))
    assert tree.stages == 2
    regs = [n for n in tree.nodes if n.reg]
    assert [r.name for r in regs if r.name.startswith("r0_")] == [f"r0_{i}" for i in range(5)]
    assert {r.name for r in regs if r.name.startswith("r2_")} == {"r2_0", "r2_1"}   # a sum and a passed-through leaf
    assert build_adder_tree([4] * 4, 8, cut_levels=(2,)).stages == 0                 # after the root: nothing


@pytest.mark.parametrize("cfg", [
    {"kind": "tlmm", "target": "u280", "K": 1536, "N": 4096, "G": 3, "T": 32, "Q": 16, "weight_memory": "uram"},
    {"kind": "tlmm_naive", "target": "kv260", "K": 1536, "N": 1536, "P_k": 48, "P_n": 8},
    {"kind": "tlmm", "target": "kv260", "K": 1536, "N": 4096, "G": 3, "T": 16, "Q": 8, "weight_memory": "stream"},
])
def test_auto_picks_the_fewest_stages_that_meet_the_clock(cfg):
    spec = parse_spec(cfg)
    m = kernels.get(spec.kind).model(spec)
    fam = spec.target_info.yosys_family
    comb, first = lane_path(m, fam)
    budget = 1000.0 / spec.clock - timing.path_ns(fam, 0)

    def slowest(p):
        return max(timing.parts_ns(comb, timing.place_stages(comb, p, first), first))

    assert slowest(m.pipeline) <= budget
    assert m.pipeline == 0 or slowest(m.pipeline - 1) > budget
    # a slower clock needs no more stages
    slow = parse_spec({**cfg, "clock_mhz": 100})
    assert kernels.get(spec.kind).model(slow).pipeline <= m.pipeline


def test_too_many_stages_name_the_field(tmp_path, hwgen_cli):
    with pytest.raises(UserError) as e:
        parse_spec({**CASES[0], "pipeline": 9})
    assert e.value.field == "pipeline" and "allowed: auto, 0..3" in e.value.message
    cfg = tmp_path / "s.yaml"
    cfg.write_text(json.dumps({**CASES[0], "pipeline": "fast"}))
    code, err = hwgen_cli(["generate", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert code == 2 and "pipeline" in err and not (tmp_path / "o").exists()


def test_pipeline_zero_migration_pins_old_records(tmp_path, hwgen_cli):
    """Records built before `pipeline` (matmul and attention kernels) measured the unpipelined RTL: the migration pins
    pipeline 0 (nested member specs of compositions too) and their key to that hardware; idempotent."""
    from hwgen.datasets.builder import key_spec
    from hwgen.datasets.store import record_key
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "datasets"
    rows = [json.loads(line) for name in ("tlmm", "composed", "attention")
            for line in (root / name / "records.jsonl").read_text().splitlines()[:3]]
    for r in rows:   # back to the pre-migration form
        spec = r["extra"]["spec"]
        for s in spec.get("kernels", [spec]):
            s.pop("pipeline", None)
        r["params"].pop("pipeline", None)
        for s in r["params"].get("kernels", []):
            s.pop("pipeline", None)
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, err = hwgen_cli(["dataset", "migrate", "pipeline-zero", "--out", str(tmp_path / "ds")])
    assert code == 0 and "pinned 9" in err, err
    done = [json.loads(line) for line in (tmp_path / "ds" / "records.jsonl").read_text().splitlines()]
    for r in done:
        spec = parse_spec(r["extra"]["spec"])
        k = kernels.get(spec.kind)
        members = k.members(spec) if hasattr(k, "members") else [spec]
        assert all(kernels.get(s.kind).model(s).pipeline == 0 for s in members)
        assert r["extra"]["key"] == record_key(key_spec(r["extra"]["spec"]), r["extra"]["key_tools"])
    code, err = hwgen_cli(["dataset", "migrate", "pipeline-zero", "--out", str(tmp_path / "ds")])
    assert code == 0 and "pinned" not in err, err


DEFAULTS = ["u280_tlmm", "kv260_tlmm", "kv260_naive", "zcu104_tlmm", "zcu102_tlmm", "u250_tlmm", "pynq-z2_tlmm"]


@pytest.mark.parametrize("name", DEFAULTS)
def test_default_designs_run_at_the_board_clock(name):
    """Every default matmul design asks for its board's clock, and `pipeline: auto` places the stages its lane path
    needs there (the synthesized numbers: bench/results/timing_defaults.md)."""
    from pathlib import Path

    from hwgen.spec import read_yaml

    spec = parse_spec(read_yaml(Path(__file__).resolve().parents[1] / "designs" / f"{name}.yaml"))
    assert spec.clock == spec.target_info.default_clock_mhz and spec.pipeline == "auto"
    assert kernels.get(spec.kind).fmax_estimate(spec) >= spec.clock


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed; run make setup")
def test_u280_1536_macs_meet_300_mhz(tmp_path):
    """Acceptance: the u280 default (1,536 MACs/cycle, the 1536 x 4096 FFN up-projection) meets 300 MHz after
    synthesis with `pipeline: auto` (35 s of Yosys on an idle core, up to ~2 minutes on a busy one)."""
    from pathlib import Path

    from hwgen.flows.synth import run_synth
    from hwgen.spec import read_yaml

    spec = parse_spec(read_yaml(Path(__file__).resolve().parents[1] / "designs" / "u280_tlmm.yaml"))
    assert kernels.get("tlmm").model(spec).macs_per_cycle == 1536
    rep = run_synth(spec, tmp_path / "syn", "open")
    assert rep.status == "ok" and rep.meets_timing and rep.fmax_mhz_est >= 300.0, rep.fmax_mhz_est


def test_fmax_from_path_migration_recomputes_from_the_stored_path(tmp_path, hwgen_cli):
    """Stored fmax_mhz_est is derived data: the migration recomputes it from the stored critical path (a DSP-bound
    attention record no longer reads the 737 MHz block-RAM cap), keeps the old value, and is idempotent."""
    from pathlib import Path

    from hwgen.timing import fmax_from_arrival

    root = Path(__file__).resolve().parents[1] / "datasets"
    rows = [json.loads(line) for line in (root / "attention" / "records.jsonl").read_text().splitlines()
            if json.loads(line)["extra"].get("fmax_mhz_est_v1") == 737.0][:2]
    rows += [json.loads(line) for line in (root / "tlmm" / "records.jsonl").read_text().splitlines()[:2]]
    assert len(rows) == 4
    for r in rows:                       # back to the stored form before the migration
        r["fmax_mhz_est"] = r["extra"].pop("fmax_mhz_est_v1")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, err = hwgen_cli(["dataset", "migrate", "fmax-from-path", "--out", str(tmp_path / "ds")])
    assert code == 0 and "records 4" in err, err
    done = [json.loads(line) for line in (tmp_path / "ds" / "records.jsonl").read_text().splitlines()]
    for r in done:
        res, path = r["resources"], r["extra"]["critical_path"]
        assert r["fmax_mhz_est"] == fmax_from_arrival(path["crit_ns"], r["extra"]["yosys_family"],
                                                      res["bram36"] > 0, res["uram"] > 0)
        assert r["meets_timing"] == (r["fmax_mhz_est"] >= r["clock_mhz"])
    assert done[0]["fmax_mhz_est"] < 400 < done[0]["extra"]["fmax_mhz_est_v1"]
    code, err = hwgen_cli(["dataset", "migrate", "fmax-from-path", "--out", str(tmp_path / "ds")])
    assert code == 0 and "recomputed" not in err, err
