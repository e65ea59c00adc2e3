"""Surrogate-guided design search (surrogate/search.py): the front and hypervolume helpers, the loop
replayed on a shipped exhaustive ground-truth space, infeasible spaces, the CLI error contract, and one
real end-to-end search (Yosys + cosim) with resume.
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwgen.errors import UserError
from hwgen.surrogate.search import (AnalyticalPredictor, SearchSpace, hypervolume, pareto_front, run_search)

REPO = Path(__file__).resolve().parents[1]
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed; run make setup")


def _bench_search_eval():
    spec = importlib.util.spec_from_file_location("search_eval", REPO / "bench" / "search_eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pareto_front_and_hypervolume():
    pts = [(1.0, 1.0, 0), (2.0, 3.0, 1), (2.5, 2.0, 2), (4.0, 4.0, 3), (5.0, 1.0, 4)]
    assert [i for _, _, i in pareto_front(pts)] == [0, 1, 3]
    # (ref 5): [1,2) x 1 + [2,4) x 3 + [4,5) x 4
    assert hypervolume([(c, v) for c, v, _ in pts], 5.0) == pytest.approx(1 * 1 + 2 * 3 + 1 * 4)
    assert hypervolume([(6.0, 9.0)], 5.0) == 0.0          # beyond the cost limit: no area


def test_oracle_hypervolume_matches_brute_force():
    ev = _bench_search_eval()
    rng = np.random.default_rng(0)
    for _ in range(5):
        rows = [(bool(rng.random() < 0.8), float(rng.uniform(1, 100)), float(rng.uniform(1, 50))) for _ in range(14)]
        feas = [(c, t) for f, t, c in rows if f]
        total = hypervolume(feas, 40.0)
        for n in (1, 2, 4):
            brute = max(hypervolume(list(s), 40.0) for s in itertools.combinations(feas, n))
            assert ev.oracle_hv(rows, 40.0, n) == pytest.approx(brute / total)


@pytest.fixture(scope="module")
def pynq_space():
    ev = _bench_search_eval()
    space, reps = ev.load_space(REPO / "datasets" / "search_pynq_mixed", {"lut": 10.0})
    return ev, space, reps


def test_replayed_search_finds_the_true_best_and_beats_random(pynq_space):
    ev, space, reps = pynq_space
    rows = ev.truth(space, reps)
    res = run_search(space, "pareto", 6, AnalyticalPredictor(), lambda i: reps[i])
    assert len(res.observed) == 6 and len(res.log) == 6
    assert res.counts["candidates"] == len(space.specs) and res.counts["synthesized"] == 6
    best, hv = ev.score(set(res.observed), rows, space.limits["lut"])
    assert best == pytest.approx(1.0)                   # the last run goes to the throughput challenger
    rand = [ev.score(set(np.random.default_rng(s).choice(len(reps), 6, replace=False).tolist()), rows,
                     space.limits["lut"])[1] for s in range(10)]
    assert hv > max(rand)
    # every log row compares predicted with actual
    row = res.log[0]
    assert set(row["predicted"]["lut"]) == {"mean", "std"} and row["actual"]["lut"] == reps[row["index"]].resources.lut


def test_resumed_search_only_spends_the_rest_of_the_budget(pynq_space):
    _, space, reps = pynq_space
    first = run_search(space, "pareto", 2, AnalyticalPredictor(), lambda i: reps[i])
    calls = []
    res = run_search(space, "pareto", 4, AnalyticalPredictor(), lambda i: calls.append(i) or reps[i],
                     observed=first.observed)
    assert len(calls) == 2 and set(first.observed) <= set(res.observed) and len(res.observed) == 4


def test_infeasible_space_names_the_constraint(pynq_space):
    _, space, reps = pynq_space
    tight = SearchSpace(space.specs, space.capacity, {**space.limits, "lut": 10.0}, space.clock_mhz, space.z)
    with pytest.raises(UserError) as err:
        run_search(tight, "throughput", 3, AnalyticalPredictor(), lambda i: reps[i])
    assert err.value.field == "constraints" and "lut <=" in str(err.value)



TINY_SEARCH = """\
kind: tlmm
target: pynq-z2
fixed: {K: 48, N: 32, M_max: 4, act_bits: 8, weight_memory: lutram}
free:
  G: [2, 3]
  T: [1, 2]
  Q: [1, 2]
constraints:
  max_util: {lut: 2}
objective: throughput
"""


def test_cli_bad_input_is_one_line_exit_2(tmp_path, hwgen_cli):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(TINY_SEARCH)
    code, err = hwgen_cli(["search", "--config", str(cfg), "--budget", "0", "--out", str(tmp_path / "o")])
    assert code == 2 and err.strip().count("\n") == 0 and "budget" in err
    cfg.write_text(TINY_SEARCH.replace("max_util: {lut: 2}", "max_util: {lut: 200}"))
    code, err = hwgen_cli(["search", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert code == 2 and "constraints.max_util.lut" in err and "0..100" in err
    cfg.write_text(TINY_SEARCH.replace("max_util: {lut: 2}", "max_util: {lut: 0.01}"))
    code, err = hwgen_cli(["search", "--config", str(cfg), "--predictor", "analytical", "--out", str(tmp_path / "o")])
    assert code == 2 and "no candidate can meet lut" in err
    assert not (tmp_path / "o" / "records.jsonl").exists()


@needs_yosys
def test_cli_search_synthesizes_verifies_and_resumes(tmp_path, hwgen_cli, monkeypatch):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(TINY_SEARCH)
    monkeypatch.chdir(tmp_path)               # a relative --out, as users type it
    monkeypatch.setenv("HWGEN_CACHE_DIR", str(tmp_path / "cache"))   # the simulator really gets built
    out = Path("run")
    args = ["search", "--config", str(cfg), "--budget", "2", "--predictor", "analytical", "--out", str(out),
            "--objective", "pareto"]
    code, err = hwgen_cli(args)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["synthesized"] == 2 and summary["counts"]["candidates"] == 8
    assert summary["verification"]["pass"] and summary["best"][0]["lut"] > 0
    assert summary["synthesis_seconds_exhaustive_estimate"] > summary["synthesis_seconds_spent"] > 0
    log = json.loads((out / "search_log.json").read_text())
    assert len(log) == 2 and all(e["status"] == "ok" for e in log)
    assert (out / "pareto.md").exists() and (out / "pareto.png").stat().st_size > 1000
    # a rerun with a larger budget resumes: the two designs are read back, one more is synthesized
    code, err = hwgen_cli([*args[:4], "3", *args[5:], "--no-verify"])
    assert code == 0 and "resuming: 2 designs" in err
    assert json.loads((out / "summary.json").read_text())["counts"]["synthesized"] == 3
    assert len(json.loads((out / "search_log.json").read_text())) == 1


def test_timing_is_a_constraint_or_quoted_at_the_achieved_clock():
    """A design that misses its clock is never the best under `meet_clock` (its synthesized Fmax replaces the
    pre-synthesis estimate); without the constraint, throughput counts at min(clock, Fmax)."""
    import copy

    from hwgen.flows.report import Report, Resources
    from hwgen.kernels import parse_spec

    specs = [parse_spec({"kind": "tlmm", "target": "kv260", "K": 96, "N": 64, "T": t, "Q": 4}) for t in (2, 4, 8)]
    ii = [400.0, 200.0, 100.0]                       # the widest is fastest per cycle ...
    fmax = [300.0, 260.0, 110.0]                     # ... but reaches 110 MHz only
    reps = [Report(design=f"d{i}", kernel="tlmm", status="ok", ii=ii[i], latency_cycles=ii[i] + 4,
                   fmax_mhz_est=fmax[i], resources=Resources(lut=100.0 * (i + 1), lutram=0, ff=10, dsp=0, bram36=0,
                                                             uram=1)) for i in range(3)]

    class Exact:
        name = "exact"

        def predict(self, specs_):
            return [{"lut": (r.resources.lut, 0.0), "lutram": (0.0, 0.0), "ff": (10.0, 0.0), "dsp": (0.0, 0.0),
                     "bram36": (0.0, 0.0), "uram": (1.0, 0.0), "latency_cycles": (r.latency_cycles, 0.0),
                     "ii": (r.ii, 0.0)} for r in reps]

    def space(mode):
        cap = {"lut": 1e5, "ff": 1e5, "dsp": 100.0, "bram36": 100.0, "uram": 64.0}
        return SearchSpace(specs, cap, dict(cap), [250.0] * 3, 2.0, mode, [None] * 3)

    strict = space("constraint")
    res = run_search(strict, "throughput", 3, Exact(), lambda i: copy.deepcopy(reps[i]))
    assert res.best == [1] and res.counts["synthesized_missing_clock"] == 1       # d2 misses 250 MHz
    loose = space("achieved")
    res = run_search(loose, "throughput", 3, Exact(), lambda i: copy.deepcopy(reps[i]))
    assert res.best == [1]                          # 110 MHz / 100 cycles < 250 MHz / 200 cycles
    assert loose.throughput(2, Exact().predict(specs)[2]) == pytest.approx(110e6 / 100)
    ignore = space(None)                            # ground-truth replays of other clocks: Fmax not used
    assert run_search(ignore, "throughput", 3, Exact(), lambda i: copy.deepcopy(reps[i])).best == [2]
    # the kernels' pre-synthesis estimate: pipeline auto reaches the clock on the lane path
    from hwgen import kernels
    assert kernels.get("tlmm").fmax_estimate(specs[2]) >= 250.0
