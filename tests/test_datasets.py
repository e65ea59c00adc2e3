"""Dataset pipeline: design spaces, the append-only store, the resumable builder (local and Dask),
crash safety under kill -9, failure rows, and the vendor / wa-hls4ml importers.

The synthesis tests build tiny TLMM designs (Yosys takes ~5-10 s each); the whole file takes about
1.5-2 minutes on 2 cores.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwgen.errors import UserError
from hwgen.flows.report import Report, Resources

from hwgen.datasets import store
from hwgen.datasets.space import enumerate_space, load_space, parse_space, sample, space_size

REPO = Path(__file__).resolve().parents[1]
SPACES = REPO / "datasets" / "spaces"
REAL_REPORTS = Path(__file__).resolve().parent / "fixtures" / "reports" / "real"   # real vendor reports (README)
LOCAL_REPORTS = Path(__file__).resolve().parent / "fixtures" / "reports"
WA_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "wa_hls4ml"

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed; run make setup")

TINY_SPACE = """\
name: tiny
targets: [kv260]
kind: tlmm
params:
  K: [16, 24]
  N: [8, 16]
  G: [1, 2]
  T: 1
  Q: [1, 2]
  weight_memory: lutram
"""


@pytest.fixture
def tiny_space(tmp_path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY_SPACE)
    return p


def _report(key: str, lut: float = 10.0, status: str = "ok") -> Report:
    return Report(design="d", kernel="tlmm", params={"K": 16, "G": 2, "table_style": "full"}, target="kv260",
                  flow="open-yosys", resources=Resources(lut=lut, ff=3.0), status=status,
                  extra={"key": key, "spec": {"kind": "tlmm", "K": 16}})



# ----------------------------------------------------------------------------- spaces

def test_space_sampling_is_deterministic_prefix_stable_and_valid():
    from hwgen import kernels
    from hwgen.kernels import parse_spec

    space = load_space(SPACES / "tlmm.yaml")
    a = sample(space, 400, seed=3)
    assert a == sample(space, 400, seed=3)
    assert sample(space, 150, seed=3) == a[:150]          # growing n only appends points
    assert sample(space, 50, seed=4) != a[:50]
    keys = {store.canonical_json(p) for p in a}
    assert len(keys) == len(a) == 400
    macs = []
    for p in a:
        spec = parse_spec(p)                                  # every point is a valid spec
        m = kernels.get(spec.kind).model(spec)
        assert m.macs_per_cycle <= 5120 and m.wbuf_depth <= 8192
        macs.append(m.macs_per_cycle)
    assert {p["kind"] for p in a} == {"tlmm", "tlmm_naive"}
    assert len({p["target"] for p in a}) >= 5
    assert min(macs) <= 4
    # The top of the space reaches thousands of MACs per cycle.
    big = sample(space, 1000, seed=0)
    top = max(kernels.get(p["kind"]).model(parse_spec(p)).macs_per_cycle for p in big)
    assert top >= 3000


def test_attention_space_samples_valid_points():
    from hwgen.kernels import parse_spec

    pts = sample(load_space(SPACES / "attention.yaml"), 60, seed=1)
    assert len(pts) == 60
    assert {p["kind"] for p in pts} == {"attention_decode", "attention_prefill"}
    for p in pts:
        parse_spec(p)


def test_enumerate_finite_space(tiny_space):
    space = load_space(tiny_space)
    assert space_size(space) == 16
    pts = list(enumerate_space(space))
    assert len(pts) == 16 and len({store.canonical_json(p) for p in pts}) == 16
    assert list(enumerate_space(space, limit=5)) == pts[:5]
    # Asking for more points than the space holds returns all of them.
    got = sample(space, 40, seed=0)
    assert sorted(map(store.canonical_json, got)) == sorted(map(store.canonical_json, pts))


def test_space_errors_name_the_field(tmp_path):
    with pytest.raises(UserError) as e:
        parse_space({"kind": "tlmm", "params": {"X": [1]}})
    assert e.value.field == "space.params.X" and "allowed" in e.value.message
    with pytest.raises(UserError) as e:
        parse_space({"kind": "tlmm", "params": {"T": {"min": 8, "max": 2}}})
    assert e.value.field.startswith("space.params.T")
    with pytest.raises(UserError) as e:
        parse_space({"kind": "tlmm", "targets": ["nope"]})
    assert "known" in e.value.message
    with pytest.raises(UserError):
        parse_space({"kind": "tlmm", "spaces": [{"kind": "tlmm"}]})     # both forms
    with pytest.raises(UserError):
        parse_space({"spaces": [{"kind": "nope"}]})
    with pytest.raises(UserError):
        sample(parse_space({"kind": "tlmm", "constraints": {"model_max": {"no_such_attr": 1}}}), 1)
    # Invalid combinations are redrawn (here: every one, since pynq-z2 has no URAM).
    impossible = parse_space({"kind": "tlmm", "targets": ["pynq-z2"], "params": {"weight_memory": "uram"}})
    assert sample(impossible, 3, seed=0, max_tries=50) == []


# ----------------------------------------------------------------------------- store

def test_store_append_load_torn_line_and_parquet(tmp_path):
    d = tmp_path / "ds"
    for i in range(3):
        store.append_record(d, _report(f"k{i}", lut=10.0 + i))
    store.append_record(d, _report("k1", lut=99.0))              # a retried point: the last one wins
    path = d / store.RECORDS_FILE
    with open(path, "ab") as f:                                    # what a kill -9 mid-write could leave
        f.write(b'{"schema_version": 1, "design": "torn", "extra": {"key": "k9"')
    recs = store.load_records(d)
    assert [r.extra["key"] for r in recs] == ["k0", "k2", "k1"]
    assert recs[-1].resources.lut == 99.0
    assert len(store.load_records(d, latest=False)) == 4
    assert store.done_keys(d) == {"k0", "k1", "k2"}
    assert store.repair(d) > 0 and store.repair(d) == 0
    store.append_record(d, _report("k3", status="failed"))
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(x) for x in lines[:-1])
    assert store.done_keys(d, statuses=["ok"]) == {"k0", "k1", "k2"}
    assert [r.extra["key"] for r in store.load_records(d, status="failed")] == ["k3"]
    assert store.record_key({"a": 1, "b": 2}, {"yosys": "x"}) == store.record_key({"b": 2, "a": 1}, {"yosys": "x"})
    assert store.record_key({"a": 1}, {"yosys": "x"}) != store.record_key({"a": 1}, {"yosys": "y"})

    import pyarrow.parquet as pq

    out = store.export_parquet(d)
    table = pq.read_table(out)
    assert table.num_rows == 4
    names = set(table.column_names)
    assert {"key", "status", "resources.lut", "utilization.lut", "param.K", "param.table_style", "params_json",
            "spec_json"} <= names
    assert str(table.schema.field("param.K").type) == "int64"
    assert str(table.schema.field("resources.lut").type) == "double"


def test_dataset_lock_refuses_a_second_writer(tmp_path):
    with store.DatasetLock(tmp_path / "ds"):
        with pytest.raises(UserError) as e:
            with store.DatasetLock(tmp_path / "ds"):
                pass
        assert e.value.field == "out"
    with store.DatasetLock(tmp_path / "ds"):     # released
        pass


def test_key_ignores_fields_left_at_their_defaults():
    from hwgen.datasets.builder import key_spec

    a = key_spec({"kind": "tlmm", "target": "kv260", "K": 16})
    b = key_spec({"kind": "tlmm", "target": "kv260", "K": 16, "G": 3, "weight_memory": "auto", "name": None})
    assert a == b == {"kind": "tlmm", "target": "kv260", "K": 16}
    assert key_spec({"kind": "tlmm", "K": 16, "G": 2}) != a


def test_rekey_migration_turns_full_spec_keys_into_design_keys(tiny_space, tmp_path, hwgen_cli):
    """Records keyed on the full spec dict (the first scheme) get the design-identity key, once; a build then
    finds them done."""
    from hwgen.datasets.builder import build, key_tool_versions

    (point,) = sample(load_space(tiny_space), 1, seed=2)
    rep = _report(store.record_key(point, key_tool_versions(True)))     # the first scheme: full spec dict
    rep.extra.update(spec=point, key_tools=key_tool_versions(True))
    store.append_record(tmp_path / "ds", rep)
    code, err = hwgen_cli(["dataset", "migrate", "rekey", "--out", str(tmp_path / "ds")])
    assert code == 0 and "rekeyed 1" in err, err
    (r,) = store.load_records(tmp_path / "ds")
    assert r.extra["legacy_key"] == rep.extra["key"] != r.extra["key"]
    code, err = hwgen_cli(["dataset", "migrate", "rekey", "--out", str(tmp_path / "ds")])
    assert code == 0 and "rekeyed" not in err
    s = build(tiny_space, n=1, jobs=1, out_dir=tmp_path / "ds", seed=2, progress=False)
    assert s["skipped"] == 1 and s["built"] == 0


def test_run_point_records_bad_specs_as_failed_rows():
    from hwgen.datasets.builder import run_point

    rec = run_point({"kind": "tlmm", "target": "kv260", "K": -5}, "key0", {"yosys": "x"}, cosim=False)
    rep = Report.model_validate(rec)
    assert rep.status == "failed" and "K" in rep.error
    assert rep.extra["key"] == "key0" and rep.extra["spec"]["K"] == -5 and rep.kernel == "tlmm"


# ----------------------------------------------------------------------------- builder

@needs_yosys
def test_build_resume_grow_card_export_info(tiny_space, tmp_path, hwgen_cli):
    from hwgen.datasets.builder import build

    out = tmp_path / "ds"
    s1 = build(tiny_space, n=2, jobs=1, out_dir=out, seed=7, progress=False)
    assert s1["built"] == 2 and s1["status"] == {"ok": 2} and not s1["interrupted"]
    recs = store.load_records(out)
    assert len(recs) == 2
    for r in recs:
        assert r.status == "ok" and r.flow == "open-yosys" and r.resources.lut > 0
        assert r.extra["cosim"]["status"] == "ok" and r.extra["cosim"]["pass"]
        # measured by cosim (two tokens), equal to the kernel's performance contract, which is kept next to it
        assert r.latency_cycles == r.extra["cosim"]["latency_cycles"] == r.extra["performance"]["latency_cycles"] > 0
        assert r.ii == r.extra["cosim"]["ii"] == r.extra["performance"]["ii"] > 0
        assert r.extra["cosim"]["model_cycles"] == r.latency_cycles + r.ii
        assert set(r.extra["spec"]) >= {"kind", "target", "K", "N", "G", "T", "Q"}
        assert len(r.extra["key"]) == 64 and "yosys" in r.tool_versions
    before = (out / store.RECORDS_FILE).read_bytes()
    s2 = build(tiny_space, n=2, jobs=1, out_dir=out, seed=7, progress=False)
    assert s2["built"] == 0 and s2["skipped"] == 2
    assert (out / store.RECORDS_FILE).read_bytes() == before            # nothing rebuilt
    s3 = build(tiny_space, n=3, jobs=1, out_dir=out, seed=7, progress=False)
    assert s3["built"] == 1 and s3["skipped"] == 2                      # a larger n only adds the new point
    keys = [r.extra["key"] for r in store.load_records(out)]
    assert len(keys) == 3 and set(keys) >= {r.extra["key"] for r in recs}
    card = (out / "card.md").read_text()
    assert "Yosys" in card and "tlmm/ok" in card and "hwgen" in card and "tiny" in card
    assert len((out / "builds.jsonl").read_text().splitlines()) == 3
    code, _ = hwgen_cli(["dataset", "export", str(out)])
    assert code == 0 and (out / store.PARQUET_FILE).exists()
    code, _ = hwgen_cli(["dataset", "info", str(out)])
    assert code == 0


@needs_yosys
def test_timeouts_become_rows_and_are_retried_with_a_longer_timeout(tiny_space, tmp_path):
    from hwgen.datasets.builder import build

    out = tmp_path / "ds"
    s = build(tiny_space, n=2, jobs=1, out_dir=out, seed=1, timeout_s=0.01, progress=False)
    assert s["status"] == {"timeout": 2}
    recs = store.load_records(out)
    assert all(r.status == "timeout" and "timed out" in r.error for r in recs)
    assert all(r.extra["cosim"]["status"] == "skipped" for r in recs)
    assert build(tiny_space, n=2, jobs=1, out_dir=out, seed=1, timeout_s=0.01, progress=False)["built"] == 0
    assert build(tiny_space, n=2, jobs=1, out_dir=out, seed=1, timeout_s=0.02, progress=False)["built"] == 2


@needs_yosys
def test_retry_failed_reruns_only_the_cosim_of_a_synthesized_point(tiny_space, tmp_path):
    from hwgen.datasets.builder import build

    out = tmp_path / "ds"
    build(tiny_space, n=1, jobs=1, out_dir=out, seed=3, progress=False)
    (good,) = store.load_records(out)
    # The same point as if its cosim had crashed: synthesis kept, no latency.
    broken = good.model_copy(deep=True)
    broken.latency_cycles = broken.ii = None
    broken.extra["cosim"] = {"status": "failed", "error": "ImportError: simulated"}
    broken.resources.lut = 12345.0            # a marker: the retry must reuse this synthesis, not redo it
    store.append_record(out, broken)
    assert build(tiny_space, n=1, jobs=1, out_dir=out, seed=3, progress=False)["built"] == 0
    s = build(tiny_space, n=1, jobs=1, out_dir=out, seed=3, retry_failed=True, progress=False)
    assert s["built"] == 1
    (latest,) = store.load_records(out, latest=True)
    assert latest.extra["cosim"]["status"] == "ok" and latest.latency_cycles == good.latency_cycles
    assert latest.resources.lut == 12345.0 and latest.extra["resynth"] is False
    assert build(tiny_space, n=1, jobs=1, out_dir=out, seed=3, retry_failed=True, progress=False)["built"] == 0


@needs_yosys
def test_cosim_retry_reuses_synthesis_across_test_bench_changes_only(tiny_space, tmp_path):
    """Reuse is decided on the design RTL alone: a changed test bench keeps the stored synthesis; a record from
    before the design-only digest must match the old digest (design + test bench) or it is re-synthesized."""
    from hwgen.datasets.builder import build

    out = tmp_path / "ds"
    build(tiny_space, n=1, jobs=1, out_dir=out, seed=3, progress=False)
    (good,) = store.load_records(out)
    assert good.extra["rtl_design_sha256"] != good.extra["rtl_sha256"]

    def broken(marker, **extra):
        rec = good.model_copy(deep=True)
        rec.latency_cycles = rec.ii = None
        rec.extra["cosim"] = {"status": "failed", "error": "simulated"}
        rec.resources.lut = marker
        rec.extra.update(extra)
        for k in [k for k, v in extra.items() if v is None]:
            rec.extra.pop(k)
        return rec

    store.append_record(out, broken(111.0, rtl_sha256="0" * 16))            # only the test bench differs
    build(tiny_space, n=1, jobs=1, out_dir=out, seed=3, retry_failed=True, progress=False)
    (latest,) = store.load_records(out)
    assert latest.resources.lut == 111.0 and latest.extra["resynth"] is False
    store.append_record(out, broken(222.0, rtl_design_sha256=None, rtl_sha256="0" * 16))   # old record, other RTL
    build(tiny_space, n=1, jobs=1, out_dir=out, seed=3, retry_failed=True, progress=False)
    (latest,) = store.load_records(out)
    assert latest.resources.lut == good.resources.lut and "resynth" not in latest.extra


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@needs_yosys
def test_kill9_loses_nothing_and_a_rerun_completes(tiny_space, tmp_path):
    import psutil

    from hwgen.datasets.builder import build

    out = tmp_path / "ds"
    cmd = [sys.executable, "-c", "from hwgen.cli import main; main()", "dataset", "build", "--space", str(tiny_space),
           "--n", "2", "--jobs", "1", "--out", str(out), "--seed", "5", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids: list[int] = []
    try:
        path = out / store.RECORDS_FILE
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not (path.exists() and path.stat().st_size > 0):
            assert proc.poll() is None, "build exited before writing a record"
            kids = _children(proc.pid) or kids
            time.sleep(0.2)
        assert path.exists() and path.stat().st_size > 0
        kids = _children(proc.pid) or kids
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # Workers die with the parent (PR_SET_PDEATHSIG), and with them their Yosys runs.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(psutil.pid_exists(k) and psutil.Process(k).status() != "zombie"
                                                  for k in kids):
            time.sleep(0.2)
        alive = [k for k in kids if psutil.pid_exists(k) and psutil.Process(k).status() != "zombie"]
        assert not alive, f"orphaned processes after kill -9: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    done = store.load_records(out)
    assert 1 <= len(done) <= 2 and all(r.status == "ok" for r in done)
    s = build(tiny_space, n=2, jobs=1, out_dir=out, seed=5, progress=False)
    assert s["skipped"] == len(done) and s["built"] == 2 - len(done)
    assert len(store.load_records(out)) == 2
    assert len(store.done_keys(out)) == 2


@needs_yosys
def test_dask_executor_on_a_local_cluster(tiny_space, tmp_path):
    distributed = pytest.importorskip("distributed")
    from hwgen.datasets.builder import build

    out = tmp_path / "ds"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster:
        s = build(tiny_space, n=1, jobs=None, out_dir=out, seed=11, executor="dask",
                  scheduler=cluster.scheduler_address, progress=False)
    assert s["built"] == 1 and s["status"] == {"ok": 1}
    (rec,) = store.load_records(out)
    assert rec.status == "ok" and rec.latency_cycles and rec.resources.lut > 0
    # The same point through the local executor is already done: the key does not depend on the executor.
    assert build(tiny_space, n=1, jobs=1, out_dir=out, seed=11, progress=False)["skipped"] == 1


def test_cli_bad_input_is_one_line_exit_2(tmp_path, tiny_space, hwgen_cli):
    code, err = hwgen_cli(["dataset", "build", "--space", str(tmp_path / "missing.yaml"), "--n", "1",
                          "--out", str(tmp_path / "o")])
    assert code == 2 and err.strip().startswith("error: space:") and len(err.strip().splitlines()) == 1
    code, err = hwgen_cli(["dataset", "build", "--space", str(tiny_space), "--n", "1", "--out", str(tmp_path / "o"),
                          "--executor", "dask"])
    assert code == 2 and "scheduler" in err
    code, err = hwgen_cli(["dataset", "build", "--space", str(tiny_space), "--n", "1", "--out", str(tmp_path / "o"),
                          "--jobs", "0"])
    assert code == 2 and "jobs" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: tlmm\nparams: {Z: [1]}\n")
    code, err = hwgen_cli(["dataset", "build", "--space", str(bad), "--n", "1", "--out", str(tmp_path / "o")])
    assert code == 2 and "space.params.Z" in err
    code, err = hwgen_cli(["dataset", "import", "--out", str(tmp_path / "o")])
    assert code == 2 and "--vendor" in err


# ----------------------------------------------------------------------------- importers

def test_import_real_vendor_fixtures():
    from hwgen.datasets.importers import import_vendor_tree

    reps = import_vendor_tree(REAL_REPORTS)
    # 2 HLS runs (different designs in one folder) + 1 Vivado run (utilization + timing merged)
    assert len(reps) == 3
    viv = [r for r in reps if any(s["flow"] == "vendor-vivado" for s in r.extra["sources"])]
    assert len(viv) == 1 and len(viv[0].extra["sources"]) == 2
    assert viv[0].resources.lut == 114927 and viv[0].clock_mhz == pytest.approx(200.0)
    hls = [r for r in reps if r not in viv]
    assert sorted(r.latency_cycles for r in hls) == [45.0, 89.0]
    assert all(r.flow == "imported-vendor" and len(r.extra["key"]) == 64 for r in reps)
    assert len({r.extra["key"] for r in reps}) == 3


def _vendor_tree(tmp_path: Path) -> Path:
    """A hwgen project with vendor results, plus an hls4ml-style project with a per-module report."""
    from hwgen.render import write_project
    from hwgen.kernels import parse_spec

    root = tmp_path / "runs"
    run = root / "zcu104_tlmm"
    write_project(parse_spec({"kind": "tlmm", "target": "zcu104", "name": "tlmm_top", "K": 32, "N": 32}),
                  run / "project", "rtl")
    (run / "vendor").mkdir(parents=True)
    shutil.copy(LOCAL_REPORTS / "vivado2024_xczu7ev_utilization_routed.rpt", run / "vendor" / "util_impl.rpt")
    shutil.copy(LOCAL_REPORTS / "vivado2024_xczu7ev_timing_summary_routed.rpt", run / "vendor" / "timing_impl.rpt")
    rep = run / "project" / "hls" / "tlmm_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    xml = (LOCAL_REPORTS / "vivadohls2018_xcku115_dataflow_csynth.xml").read_text()
    xml = xml.replace("xcku115-flvb2104-2-i", "xczu7ev-ffvc1156-2-e").replace(">myproject<", ">tlmm_top<")
    (rep / "csynth.xml").write_text(xml)
    hp = root / "model7" / "myproject_prj" / "solution1" / "syn" / "report"
    hp.mkdir(parents=True)
    top = REAL_REPORTS / "vitis2021_xc7z007s_mlp_csynth.xml"
    shutil.copy(top, hp / "myproject_csynth.xml")
    sub = top.read_text().replace("<TopModelName>myproject</TopModelName>",
                                  "<TopModelName>relu_ap_fixed_16_4_5_3_0_ap_ufixed_8_1_4_0_0_relu_config4_s"
                                  "</TopModelName>")
    (hp / "relu_config4_csynth.xml").write_text(sub)
    (root / "notes.txt").write_text("not a report\n")
    return root


@pytest.mark.skipif(not LOCAL_REPORTS.is_dir(), reason="tests/fixtures/reports missing")
def test_import_vendor_tree_groups_runs_and_reads_hwgen_specs(tmp_path, hwgen_cli):
    from hwgen.datasets.importers import import_vendor_tree

    root = _vendor_tree(tmp_path)
    reps = import_vendor_tree(root)
    ours = [r for r in reps if r.extra["run_dir"] == "zcu104_tlmm"]
    assert len(ours) == 1
    r = ours[0]
    assert r.kernel == "tlmm" and r.target == "zcu104" and r.extra["spec"]["K"] == 32
    assert r.resources.lut == 38110 and r.resources.uram == 16          # Vivado numbers win
    assert r.extra["hls_resources"]["lut"] == 8765                        # HLS estimate kept
    assert r.fits is True and r.utilization["lut"] > 0
    assert len(r.extra["sources"]) == 3
    mlp = [x for x in reps if x.extra["run_dir"] == "model7"]
    assert len(mlp) == 1 and mlp[0].latency_cycles == 89.0                # the per-module report is dropped
    # Re-import through the CLI: same keys, nothing added the second time.
    out = tmp_path / "ds"
    assert hwgen_cli(["dataset", "import", "--vendor", str(root), "--out", str(out)])[0] == 0
    n = len(store.load_records(out))
    assert n == len(reps)
    assert hwgen_cli(["dataset", "import", "--vendor", str(root), "--out", str(out)])[0] == 0
    assert len(store.load_records(out, latest=False)) == n
    assert "imported-vendor" in (out / "card.md").read_text()


def test_import_wa_hls4ml_records(tmp_path, hwgen_cli):
    from hwgen.datasets.importers import import_wa_hls4ml

    reps = import_wa_hls4ml(WA_FIXTURE)
    assert len(reps) == 3                                                 # the null entry is skipped
    a, b, c = reps
    assert a.flow == "imported-wa-hls4ml" and a.kernel == "hls4ml" and a.status == "ok"
    assert a.target == "u250" and a.part == "xcu250-figd2104-2L-e"
    assert a.resources.lut == 3120 and a.resources.bram36 == 0.5 and a.resources.dsp == 36
    assert a.latency_cycles == 14 and a.ii == 4 and a.clock_mhz == pytest.approx(200.0)
    assert a.params["reuse_factor"] == 4 and a.params["strategy"] == "Resource" and a.params["precision_bits"] == 8
    assert [L["class_name"] for L in a.extra["layers"]] == ["InputLayer", "QDense", "QDense"]
    assert a.extra["hls_resources"]["bram36"] == 1.0                      # 2 BRAM_18K estimated
    assert b.params["precision"] == "ap_fixed<6,2>" and b.params["n_layers"] == 4
    assert c.status == "failed" and c.resources.lut is None and c.target == "pynq-z2"
    assert "missing ground truth" in c.error
    assert c.extra["hls_resources"]["lut"] == 14820
    # JSON lines work too.
    jl = tmp_path / "recs.jsonl"
    data = json.loads((WA_FIXTURE / "sample_merged.json").read_text())
    jl.write_text("\n".join(json.dumps(x) for x in data if x) + "\n")
    assert [r.extra["key"] for r in import_wa_hls4ml(jl)] == [r.extra["key"] for r in reps]
    out = tmp_path / "ds"
    assert hwgen_cli(["dataset", "import", "--wa-hls4ml", str(WA_FIXTURE), "--out", str(out)])[0] == 0
    assert hwgen_cli(["dataset", "import", "--wa-hls4ml", str(jl), "--out", str(out)])[0] == 0
    loaded = store.load_records(out, latest=False)
    assert len(loaded) == 3 and loaded[0].extra["layers"] == a.extra["layers"]


@needs_yosys
def test_acquire_uncertainty_builds_the_pool_points_the_surrogate_is_least_sure_about(tiny_space, tmp_path):
    """--acquire uncertainty: of a pool of n x pool sampled points, the n with the largest predicted LUT log-sigma
    are built (timeouts here, so no synthesis runs), their scores are recorded, and a rerun resumes the same set."""
    from hwgen.datasets.acquire import Acquisition, uncertainty_scores
    from hwgen.datasets.builder import build

    acq = Acquisition("uncertainty", pool=4)
    pool = sample(load_space(tiny_space), 8, seed=5)
    scores = uncertainty_scores(pool, acq)
    assert len(set(scores)) > 1                            # the model does tell these designs apart
    want = sorted(range(8), key=lambda i: (-scores[i], i))[:2]
    out = tmp_path / "ds"
    s = build(tiny_space, n=2, jobs=1, out_dir=out, seed=5, timeout_s=0.01, progress=False, acquire=acq)
    assert s["built"] == 2 and s["acquire"] == "uncertainty"
    recs = store.load_records(out)
    assert sorted(r.extra["build"]["index"] for r in recs) == sorted(want)
    for r in recs:
        i = r.extra["build"]["index"]
        assert r.extra["build"]["acquire_score"]["lut"] == pytest.approx(scores[i], abs=1e-6)
    again = build(tiny_space, n=2, jobs=1, out_dir=out, seed=5, timeout_s=0.01, progress=False, acquire=acq)
    assert again["built"] == 0 and again["skipped"] == 2
    more = build(tiny_space, n=3, jobs=1, out_dir=out, seed=5, timeout_s=0.01, progress=False, acquire=acq)
    assert more["built"] == 1 and more["skipped"] == 2     # the two built count first; one more from the pool
    assert json.loads((out / "builds.jsonl").read_text().splitlines()[0])["acquire"] == "uncertainty"
    with pytest.raises(UserError, match="pool"):
        build(tiny_space, n=2, jobs=1, out_dir=out, acquire=Acquisition("uncertainty", pool=1))


@needs_yosys
def test_refresh_resynthesizes_records_whose_rtl_changed(tiny_space, tmp_path, hwgen_cli):
    """A record synthesized from RTL the generator no longer emits is re-run and superseded under its key; a
    current record is left alone, and a rerun finds nothing stale."""
    from hwgen.datasets.builder import build
    from hwgen.datasets.refresh import plan_refresh

    out = tmp_path / "ds"
    build(tiny_space, n=2, jobs=1, out_dir=out, seed=7, progress=False)
    recs = [json.loads(line) for line in (out / store.RECORDS_FILE).read_text().splitlines()]
    true_lut = recs[0]["resources"]["lut"]
    # the first record as if synthesized from older Verilog that mapped to other LUT counts
    recs[0]["extra"]["rtl_design_sha256"] = "0" * 16
    recs[0]["resources"]["lut"] = true_lut + 100
    (out / store.RECORDS_FILE).write_text("".join(json.dumps(r) + "\n" for r in recs))
    plan = plan_refresh(out)
    assert [r["extra"]["key"] for r in plan["stale"]] == [recs[0]["extra"]["key"]] and plan["current"] == 1

    code, err = hwgen_cli(["dataset", "refresh", str(out), "--max-lut", "0"])
    assert code == 2 and "max-lut" in err
    # a refresh whose synthesis fails (here: times out) keeps the old record in force, and a rerun retries it
    code, err = hwgen_cli(["dataset", "refresh", str(out), "--timeout", "0.001"])
    assert code == 0 and "refreshed 0" in err and "1 failed" in err, err
    assert {r.extra["key"]: r for r in store.load_records(out)}[recs[0]["extra"]["key"]].resources.lut == true_lut + 100
    code, err = hwgen_cli(["dataset", "refresh", str(out)])
    assert code == 0 and "1 stale, 1 current" in err and "refreshed 1" in err, err
    latest = {r.extra["key"]: r for r in store.load_records(out)}
    assert len(latest) == 2
    fresh = latest[recs[0]["extra"]["key"]]
    assert fresh.resources.lut == true_lut and fresh.extra["refreshed_from"]["resources"]["lut"] == true_lut + 100
    assert fresh.extra["cosim"]["pass"] and fresh.latency_cycles == recs[0]["latency_cycles"]
    # both refresh runs are in the build log (and so on the card): the failed one and the one that refreshed
    runs = [json.loads(line) for line in (out / "builds.jsonl").read_text().splitlines()][-2:]
    assert [(r.get("refresh"), r["planned"], r["built"]) for r in runs] == [(True, 1, 0), (True, 1, 1)], runs
    assert "dataset refresh" in (out / "card.md").read_text()
    code, err = hwgen_cli(["dataset", "refresh", str(out)])
    assert code == 0 and "0 stale, 2 current" in err and "refreshed 0" in err


def test_drain_retries_a_broken_pool_once_then_records_the_failure():
    """executors.drain: a worker death breaks a local pool; the pool is rebuilt and the affected items are retried
    once, in order; an item that kills its worker again becomes a failed record, not a traceback."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from hwgen.datasets.executors import LocalRunner, drain

    class InProcessPool(LocalRunner):       # LocalRunner's rebuild path without processes
        def __init__(self, jobs):
            self.jobs, self.pools = jobs, getattr(self, "pools", 0) + 1

        def submit(self, item):
            fut = Future()
            if item == "always" or (item == "once" and self.pools == 1):
                fut.set_exception(BrokenProcessPool("a worker died"))
            else:
                fut.set_result({"status": "ok", "item": item})
            return fut

        def wait_any(self, futures, timeout=1.0):
            return [f for f in futures if f.done()]

        def stop(self):
            pass

    runner, finished = InProcessPool(2), []
    drain(runner, ["a", "once", "b", "always", "c"], runner.submit,
          lambda item, rec: finished.append((item, rec["status"])),
          lambda item, err: {"status": "failed", "error": str(err)})
    assert finished == [("a", "ok"), ("once", "ok"), ("b", "ok"), ("c", "ok"), ("always", "failed")]
    assert runner.pools == 4          # rebuilt after every break, the last one included
