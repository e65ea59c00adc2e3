"""Dataset builder: sample a design space, generate RTL, synthesize with Yosys, cosimulate for latency
and II, and append one shared-schema Report per design point to an append-only store.

    build("datasets/spaces/tlmm.yaml", n=1000, jobs=2, out_dir="datasets/tlmm", seed=0)

Per point (`run_point`, runs in a worker process): parse spec -> write_project(spec, tmp, "both") ->
run_open_synth -> (if synthesis is ok) two RTL cosimulations:

* latency_cycles: latency of a 1-vector run (one token for the matmul kernels, one call at the maximum
  length for attention), as the kernel's test bench measures it (first input beat -> last output beat,
  weight loading excluded).
* ii: the test bench's steady-state interval of a 2-vector run (cycles per token in steady state
  for the matmul kernels).

`ii` is the test bench's initiation interval: cycles per token for the matmul kernels, cycles from one
call's first beat to the next call's first beat for attention (its first call has length L_max). The
attention bench's cycles per accepted K beat (1.0 = full rate) is kept as extra.cosim.k_beat_ii.
Both runs share one compiled simulator (the cosim build cache), so the second costs only its cycles.
For the matmul kernels latency(2 vectors) - ii == latency(1 vector) exactly; both are stored in
extra["cosim"]. Simulator: Icarus when its predicted time (simulated cycles x synthesized cells) is
short (it starts instantly), Verilator (compiles 20-180 s, runs ~100x faster) otherwise, and as the
fallback when Icarus overruns.
A cosim failure keeps the synthesis record (status ok) with latency/ii None and the reason in
extra["cosim"]; synthesis failures and timeouts are rows with status failed/timeout and `error`.

Resume key = sha256 of the design (kind, target and every non-default spec field: `key_spec`) and the
tool versions + flow id (store.record_key). A rerun skips
keys already stored (ok and failed rows; timeout rows only if they ran with at least the current
timeout), so growing n only builds the new points (sampling is prefix-stable).

Execution: local processes (ProcessPoolExecutor, `jobs` at a time) or a Dask distributed cluster
(`executor="dask", scheduler=ADDR`). Only the parent writes the store. Ctrl-C / SIGTERM stops
submitting, stops the running jobs (their Yosys/simulator process groups are killed), keeps every
finished record and returns with interrupted=True.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from hwgen.errors import UserError

from . import store
from .space import Space, load_space, sample

__all__ = ["build", "run_point", "key_spec", "key_tool_versions", "FLOW_ID", "write_card"]

FLOW_ID = "hwgen-dataset/1"
DEFAULT_TIMEOUT_S = 1800.0
DEFAULT_COSIM_TIMEOUT_S = 600.0
# Icarus runs roughly 1e7-6e7 (cell x cycle)/s on these designs (cells = Yosys cells after synthesis);
# Verilator needs 20-180 s to compile but then runs ~100x faster. Icarus is used when its predicted
# time is short, Verilator otherwise (and when Icarus overruns ICARUS_TIMEOUT_S).
ICARUS_CELL_CYCLES_PER_S = 1.5e7
ICARUS_MAX_PREDICTED_S = 45.0
ICARUS_TIMEOUT_S = 120.0         # an Icarus run slower than this is retried with Verilator
BUILDS_LOG = "builds.jsonl"
CARD_FILE = "card.md"
SCHEMA_FILE = "schema.json"
SPACES_DIR = "spaces"

_cosim_lock = threading.Lock()   # cosim patches process globals (cache dir, timeouts): one at a time per process


# ----------------------------------------------------------------------------- tool versions / keys

def key_spec(spec_data: dict) -> dict:
    """The part of a design point that enters its key: kind, target and every field that differs from
    the kernel's default. A field added to a kernel later (with a default that keeps the old behaviour)
    therefore does not invalidate a dataset; the full spec is still stored in extra["spec"]."""
    from hwgen.spec import parse_spec

    try:
        spec = parse_spec(spec_data)
    except UserError:
        return dict(spec_data)
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data["kind"], data["target"] = spec.kind, spec.target
    return data


def key_tool_versions(cosim: bool = True) -> dict[str, str]:
    """The tool versions (and flow id) that enter every record's key."""
    from hwgen.flows.tools import tool_version

    tools = {"yosys": tool_version("yosys"), "flow": FLOW_ID + ("+cosim" if cosim else "")}
    if cosim:
        tools["iverilog"] = tool_version("iverilog")
        tools["verilator"] = tool_version("verilator")
    return tools


# ----------------------------------------------------------------------------- one design point (worker)

def _failed_report(spec_data: dict, status: str, error: str):
    from hwgen.flows.report import Report
    from hwgen.targets import TARGETS

    params = {k: v for k, v in spec_data.items() if k not in ("kind", "name", "target", "clock_mhz")}
    t = TARGETS.get(spec_data.get("target", ""))
    return Report(design=spec_data.get("name") or spec_data.get("kind", ""), kernel=spec_data.get("kind", ""),
                  params=params, target=spec_data.get("target"), part=t.part if t else None, flow="open-yosys",
                  clock_mhz=spec_data.get("clock_mhz") or (t.default_clock_mhz if t else None),
                  status=status, error=error)


def _model_summary(kernel, spec) -> dict:
    try:
        m = kernel.model(spec)
        d = m.as_dict() if hasattr(m, "as_dict") else dict(m)
    except Exception:   # a model is a nice-to-have feature source, never a reason to fail a point
        return {}
    return {k: v for k, v in d.items() if isinstance(v, (bool, int, float, str)) or v is None}


def _rtl_digest(project: Path, test_bench: bool = True) -> str:
    """Digest of the generated Verilog. test_bench=False: only what synthesis reads (tb_*.v left out), so a
    test-bench change does not force a re-synthesis when a stored synthesis is reused."""
    h = hashlib.sha256()
    for p in sorted((project / "rtl").glob("*.v")):
        if test_bench or not p.name.startswith("tb_"):
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _same_design(prev_extra: dict, extra: dict) -> bool:
    """The stored synthesis was run on this RTL: by the design-only digest, or (records from before it existed)
    by the digest with the test bench."""
    if prev_extra.get("rtl_design_sha256"):
        return prev_extra["rtl_design_sha256"] == extra["rtl_design_sha256"]
    return prev_extra.get("rtl_sha256") == extra["rtl_sha256"]


def _estimate_sim_cycles(kernel, spec) -> int:
    """Cycles of the 1-vector + 2-vector runs, plus the weight load where the model says how long it is."""
    import numpy as np

    inputs1 = kernel.random_inputs(spec, np.random.default_rng(0), 1)
    inputs2 = kernel.random_inputs(spec, np.random.default_rng(0), 2)
    est = (kernel.expected_cycles(spec, inputs1) or 0) + (kernel.expected_cycles(spec, inputs2) or 0)
    return int(est + 2 * kernel.setup_cycles(spec))


def _cosim_pair(project: Path, simulator: str, timeout_s: float, seed: int) -> dict:
    """1-vector run (latency) and 2-vector run (ii) with one simulator. Raises FlowFailed."""
    import hwgen.flows.cosim as cosim_mod

    old = (cosim_mod.RUN_TIMEOUT_S, cosim_mod.BUILD_TIMEOUT_S)
    cosim_mod.RUN_TIMEOUT_S = cosim_mod.BUILD_TIMEOUT_S = timeout_s
    try:
        one = cosim_mod.run_cosim(project, vectors=1, seed=seed, simulator=simulator)
        two = cosim_mod.run_cosim(project, vectors=2, seed=seed, simulator=simulator)
    finally:
        cosim_mod.RUN_TIMEOUT_S, cosim_mod.BUILD_TIMEOUT_S = old
    return {"one": one, "two": two}


def _run_cosim(project: Path, kernel, spec, work: Path, timeout_s: float, seed: int, cells: int = 0) -> dict:
    from hwgen.flows.csim import FlowFailed

    t0 = time.monotonic()
    info: dict = {"status": "ok"}
    try:
        est = _estimate_sim_cycles(kernel, spec)
    except Exception:
        est = None
    info["est_cycles"] = est
    predicted = None if est is None else est * max(cells, 100) / ICARUS_CELL_CYCLES_PER_S
    info["icarus_predicted_s"] = None if predicted is None else round(predicted, 1)
    order = ["verilator"] if predicted is not None and predicted > ICARUS_MAX_PREDICTED_S else ["icarus", "verilator"]
    with _cosim_lock:
        old_cache = os.environ.get("HWGEN_CACHE_DIR")
        os.environ["HWGEN_CACHE_DIR"] = str(work / "cache")   # compiled simulators die with the job
        try:
            res = None
            for i, sim in enumerate(order):
                if shutil.which("iverilog" if sim == "icarus" else "verilator") is None:
                    continue
                limit = min(timeout_s, ICARUS_TIMEOUT_S) if sim == "icarus" and i + 1 < len(order) else timeout_s
                try:
                    res = _cosim_pair(project, sim, limit, seed)
                    info["simulator"] = sim
                    break
                except FlowFailed as err:
                    msg = str(err)
                    timed_out = "timeout=True" in msg
                    info["status"] = "timeout" if timed_out else "failed"
                    info["error"] = msg[-1500:]
                    if not timed_out:   # a real failure will fail in the other simulator too
                        break
                except UserError as err:
                    info["status"], info["error"] = "failed", str(err)
                    break
            if res is not None:
                one, two = res["one"], res["two"]
                info.pop("error", None)
                info.update({
                    "status": "ok" if one["pass"] and two["pass"] else "mismatch",
                    "pass": bool(one["pass"] and two["pass"]),
                    "mismatches": int(one["mismatches"]) + int(two["mismatches"]),
                    "latency_cycles_1": one["latency_cycles"], "latency_cycles_2": two["latency_cycles"],
                    "ii": two["ii"], "model_cycles_1": one["model_cycles"], "model_cycles_2": two["model_cycles"],
                    "simulator_version": one.get("simulator_version"),
                    **({"k_beat_ii": two["k_beat_ii"]} if two.get("k_beat_ii") is not None else {}),
                })
            elif "simulator" not in info and "error" not in info:
                info["status"], info["error"] = "skipped", "no simulator (iverilog/verilator) on PATH"
        finally:
            if old_cache is None:
                os.environ.pop("HWGEN_CACHE_DIR", None)
            else:
                os.environ["HWGEN_CACHE_DIR"] = old_cache
    info["seconds"] = round(time.monotonic() - t0, 2)
    return info


def run_point(spec_data: dict, key: str, key_tools: dict, timeout_s: float = DEFAULT_TIMEOUT_S,
              cosim: bool = True, cosim_timeout_s: float = DEFAULT_COSIM_TIMEOUT_S, seed: int = 0,
              build_info: Optional[dict] = None, previous: Optional[dict] = None) -> dict:
    """Build one design point; never raises for tool problems. Returns the Report as a JSON dict.

    `previous`: a stored record of this point whose synthesis succeeded but whose cosim failed; its
    synthesis is reused (only cosim reruns) when the regenerated RTL is byte-identical to it."""
    from hwgen.flows.report import Report
    from hwgen.flows.synth_open import run_open_synth
    from hwgen.kernels import registry
    from hwgen.render import write_project
    from hwgen.spec import parse_spec

    t0 = time.monotonic()
    reused_synth_s = 0.0     # a reused synthesis keeps the time it took when it ran
    work = Path(tempfile.mkdtemp(prefix="hwgen-ds-"))
    extra: dict = {}
    try:
        try:
            spec = parse_spec(spec_data)
            kernel = registry.get(spec.kind)
            project = write_project(spec, (work / "proj").resolve(), "both")
            extra["rtl_sha256"] = _rtl_digest(project)
            extra["rtl_design_sha256"] = _rtl_digest(project, test_bench=False)
            extra["model"] = _model_summary(kernel, spec)
            prev_extra = (previous or {}).get("extra") or {}
            if previous and previous.get("status") == "ok" and _same_design(prev_extra, extra):
                report = Report.model_validate(previous)
                reused_synth_s = float((prev_extra.get("timing") or {}).get("synth_s") or 0.0)
                extra["resynth"] = False
            else:
                report = run_open_synth(project, (work / "syn").resolve(), timeout_s)
        except UserError as err:
            report = _failed_report(spec_data, "failed", f"{err}")
        except Exception as err:   # a generator/flow bug: record it, keep building the rest
            report = _failed_report(spec_data, "failed",
                                    f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=6)[-2000:]}")
        synth_s = time.monotonic() - t0 + reused_synth_s
        if cosim and report.status == "ok":
            try:
                cells = sum(int(v) for v in (report.extra.get("cells") or {}).values())
                info = _run_cosim(project, kernel, spec, work, cosim_timeout_s, seed, cells)
            except Exception as err:
                info = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
            if info.get("status") == "ok":
                report.latency_cycles = info.get("latency_cycles_1")
                report.ii = info.get("ii")
            sim = info.get("simulator")
            if sim in ("icarus", "verilator"):
                tool = "iverilog" if sim == "icarus" else "verilator"
                report.tool_versions[tool] = info.get("simulator_version") or key_tools.get(tool, "")
        else:
            info = {"status": "skipped", "error": "cosim disabled" if not cosim else f"synthesis {report.status}"}
        report.extra.update(extra)
        report.extra.update({
            "key": key, "spec": spec_data, "key_tools": key_tools, "cosim": info, "timeout_s": timeout_s,
            "timing": {"synth_s": round(synth_s, 2), "cosim_s": info.get("seconds"),
                       "total_s": round(time.monotonic() - t0 + reused_synth_s, 2)},
            "build": build_info or {},
        })
        return report.model_dump(mode="json")
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ----------------------------------------------------------------------------- local executor plumbing

def _worker_init() -> None:
    """Local worker processes: ignore Ctrl-C (the parent decides), turn SIGTERM into SystemExit so
    run_tool kills the running tool's process group, and die with the parent (even on kill -9)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def _term(signum, frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, _term)
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)   # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(1)
    except (OSError, AttributeError):
        pass


def _local_job(*args, **kwargs) -> dict:
    """run_point in a local worker; a SIGTERM (parent stop or death) ends the worker at once, after
    run_tool has killed the running tool and run_point has removed its temporary folder."""
    try:
        return run_point(*args, **kwargs)
    except SystemExit:
        os._exit(143)


class _LocalRunner:
    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.jobs = jobs
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker_init)

    @property
    def window(self) -> int:
        return self.jobs

    def submit(self, *args, **kwargs):
        return self.pool.submit(_local_job, *args, **kwargs)

    def wait_any(self, futures, timeout=1.0):
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return done

    @staticmethod
    def result(fut) -> dict:
        return fut.result()

    def stop(self) -> None:
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        for p in procs:
            try:
                p.terminate()
            except (OSError, ValueError, AttributeError):
                pass
        self.pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def tool_versions(self, cosim: bool) -> dict:
        return key_tool_versions(cosim)


def _dask_tool_versions(cosim: bool) -> dict:
    return key_tool_versions(cosim)


class _DaskRunner:
    def __init__(self, scheduler: str, jobs: Optional[int]):
        try:
            from distributed import Client
        except ImportError:
            raise UserError("executor", "dask needs the `distributed` package: pip install 'hwgen[cluster]'") from None
        try:
            self.client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as err:
            raise UserError("scheduler", f"cannot connect to the Dask scheduler at {scheduler!r}: {err}") from None
        threads = sum(self.client.nthreads().values()) or 1
        self.jobs = jobs or threads

    @property
    def window(self) -> int:
        return self.jobs

    def submit(self, *args, **kwargs):
        return self.client.submit(run_point, *args, pure=False, **kwargs)

    def wait_any(self, futures, timeout=1.0):
        from distributed import wait

        try:
            done, _ = wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set()
        return set(done)

    @staticmethod
    def result(fut) -> dict:
        return fut.result()

    def stop(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass

    def close(self) -> None:
        self.client.close()

    def tool_versions(self, cosim: bool) -> dict:
        """Tool versions as the workers see them; they must agree (they enter every key)."""
        versions = self.client.run(_dask_tool_versions, cosim)
        distinct = {store.canonical_json(v) for v in versions.values()}
        if len(distinct) > 1:
            raise UserError("scheduler", f"workers run different tool versions: {sorted(distinct)}; "
                                         "records would get inconsistent keys")
        return next(iter(versions.values())) if versions else key_tool_versions(cosim)


# ----------------------------------------------------------------------------- build

def _is_done(existing: dict, key: str, timeout_s: float, retry_failed: bool, cosim: bool = True) -> bool:
    rec = existing.get(key)
    if rec is None:
        return False
    status, rec_timeout, cosim_failed = rec[:3]
    if status in ("ok", "skipped"):
        return not (retry_failed and cosim and cosim_failed)
    if retry_failed:
        return False
    if status == "timeout":
        return rec_timeout is not None and rec_timeout >= timeout_s
    return True


def _existing(out_dir: Path) -> dict:
    """key -> (status, timeout_s, cosim failed, the record when only its cosim failed) of the latest record."""
    out = {}
    for obj in store.iter_record_dicts(out_dir):
        extra = obj.get("extra") or {}
        if extra.get("key"):
            cosim_failed = obj.get("status") == "ok" and (extra.get("cosim") or {}).get("status") == "failed"
            out[extra["key"]] = (obj.get("status", "ok"), extra.get("timeout_s"), cosim_failed,
                                 obj if cosim_failed else None)
    return out


def build(space_path, n: int, jobs: Optional[int] = 1, out_dir="datasets/tlmm", seed: int = 0,
          executor: str = "local", scheduler: Optional[str] = None, cosim: bool = True,
          timeout_s: float = DEFAULT_TIMEOUT_S, cosim_timeout_s: float = DEFAULT_COSIM_TIMEOUT_S,
          retry_failed: bool = False, progress: bool = True, command: Optional[str] = None) -> dict:
    """Build (or resume) a dataset. Returns a summary dict (planned, skipped, built, per status,
    interrupted). Raises UserError for bad arguments; never loses a finished record."""
    if executor not in ("local", "dask"):
        raise UserError("executor", f"unknown executor {executor!r}; allowed: local, dask")
    if executor == "dask" and not scheduler:
        raise UserError("scheduler", "required with --executor dask (e.g. tcp://host:8786)")
    if n < 0:
        raise UserError("n", f"must be >= 0 (got {n})")
    if executor == "local" and (jobs is None or jobs < 1):
        raise UserError("jobs", f"must be >= 1 (got {jobs})")
    if timeout_s <= 0:
        raise UserError("timeout", f"must be > 0 seconds (got {timeout_s})")
    space_path = Path(space_path)
    space = load_space(space_path)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError("out", f"{out_dir} exists and is not a folder")
    if command is None:
        command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    started = datetime.now(timezone.utc)
    t_start = time.monotonic()

    with store.DatasetLock(out_dir):
        store.repair(out_dir)
        runner = _LocalRunner(jobs) if executor == "local" else _DaskRunner(scheduler, jobs)
        summary = {"planned": 0, "skipped": 0, "built": 0, "status": {}, "interrupted": False,
                   "out": str(out_dir), "executor": executor}
        bar = None
        old_term = None
        try:
            tools = runner.tool_versions(cosim)
            points = sample(space, n, seed)
            existing = _existing(out_dir)
            space_copy = _save_space(out_dir, space_path, space)
            todo = []
            for i, data in enumerate(points):
                key = store.record_key(key_spec(data), tools)
                # Records written before key_spec existed were keyed on the full spec: honour them too.
                legacy = store.record_key(data, tools)
                if _is_done(existing, key, timeout_s, retry_failed, cosim) or \
                        _is_done(existing, legacy, timeout_s, retry_failed, cosim):
                    summary["skipped"] += 1
                else:
                    prev = existing.get(key) or existing.get(legacy)
                    todo.append((i, data, key, prev[3] if prev else None))
            summary["planned"] = len(points)
            summary["sampled_short"] = len(points) < n
            if threading.current_thread() is threading.main_thread():
                old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
            if progress:
                from tqdm import tqdm
                bar = tqdm(total=len(todo), desc=out_dir.name, unit="design", file=sys.stderr,
                           dynamic_ncols=True, mininterval=1.0, smoothing=0.1)
            _run_all(runner, todo, tools, summary, out_dir, bar, space, space_copy, timeout_s, cosim,
                     cosim_timeout_s, seed)
            runner.close()
        except KeyboardInterrupt:
            summary["interrupted"] = True
            runner.stop()
        except BaseException:
            runner.stop()
            raise
        finally:
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
            if bar is not None:
                bar.close()
        summary["seconds"] = round(time.monotonic() - t_start, 1)
        _log_build(out_dir, command, started, space_path, space, n, seed, executor, summary, tools)
        write_card(out_dir)
    return summary


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _run_all(runner, todo, tools, summary, out_dir, bar, space, space_copy, timeout_s, cosim,
             cosim_timeout_s, seed) -> None:
    queue = list(reversed(todo))          # pop() from the end = sample order
    inflight: dict = {}                   # future -> (index, data, key, attempts)
    attempts: dict[str, int] = {}

    def submit(item):
        i, data, key, previous = item
        info = {"space": space.name or "", "space_file": space_copy, "space_digest": space.digest(),
                "seed": seed, "index": i}
        fut = runner.submit(data, key, tools, timeout_s=timeout_s, cosim=cosim,
                            cosim_timeout_s=cosim_timeout_s, seed=seed, build_info=info, previous=previous)
        inflight[fut] = item

    while queue or inflight:
        while queue and len(inflight) < runner.window:
            submit(queue.pop())
        done = runner.wait_any(list(inflight), timeout=1.0)
        broken = []
        for fut in done:
            item = inflight.pop(fut)
            i, data, key, _ = item
            try:
                rec = runner.result(fut)
            except KeyboardInterrupt:
                raise
            except BaseException as err:   # the worker died or the task raised past run_point's guards
                if _is_broken_pool(err) and attempts.get(key, 0) < 1:
                    attempts[key] = attempts.get(key, 0) + 1
                    broken.append(item)
                    continue
                rep = _failed_report(data, "failed", f"worker error: {type(err).__name__}: {err}")
                rep.extra.update({"key": key, "spec": data, "key_tools": tools, "timeout_s": timeout_s,
                                  "cosim": {"status": "skipped", "error": "worker error"}})
                rec = rep.model_dump(mode="json")
            _append(out_dir, rec, summary)
            if bar is not None:
                bar.update(1)
                st = summary["status"]
                bar.set_postfix({k: st[k] for k in sorted(st)}, refresh=False)
        if broken:
            # A dead worker breaks the whole local pool: rebuild it and retry the affected points once.
            if isinstance(runner, _LocalRunner):
                for fut, item in list(inflight.items()):
                    broken.append(item)
                inflight.clear()
                runner.stop()
                runner.__init__(runner.jobs)
            queue.extend(reversed(broken))


def _is_broken_pool(err: BaseException) -> bool:
    from concurrent.futures.process import BrokenProcessPool

    return isinstance(err, BrokenProcessPool) or type(err).__name__ == "KilledWorker"


def _append(out_dir: Path, rec: dict, summary: dict) -> None:
    from hwgen.flows.report import Report

    report = Report.model_validate(rec)
    store.append_record(out_dir, report)
    summary["built"] += 1
    summary["status"][report.status] = summary["status"].get(report.status, 0) + 1


# ----------------------------------------------------------------------------- card and logs

def _save_space(out_dir: Path, space_path: Path, space: Space) -> str:
    """Copy the space file into out/spaces/<stem>-<digest>.yaml (once); returns the relative path."""
    dest = out_dir / SPACES_DIR / f"{space_path.stem}-{space.digest()}.yaml"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(space_path, tmp)
        os.replace(tmp, dest)
    return str(dest.relative_to(out_dir))


def _log_build(out_dir, command, started, space_path, space, n, seed, executor, summary, tools) -> None:
    entry = {"date": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command, "space": str(space_path),
             "space_digest": space.digest(), "n": n, "seed": seed, "executor": executor, "tools": tools,
             **{k: summary[k] for k in ("planned", "skipped", "built", "status", "interrupted", "seconds")}}
    line = (json.dumps(entry, sort_keys=True) + "\n").encode()
    fd = os.open(Path(out_dir) / BUILDS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


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
             "Resource numbers come from Yosys 0.23 `synth_xilinx` (CARRY4 even on UltraScale+, no LUT "
             "packing), not Vivado. latency_cycles is the cosim latency of one vector (one token for the "
             "matmul kernels, one call at the maximum length for attention); ii is the test bench's "
             "initiation interval in a 2-vector run (cycles per token for the matmul kernels; for attention, "
             "cycles between the starts of back-to-back calls, the first at the maximum length; records "
             "built before 2026-11-26 take it from the cycle model that their cosim showed exact, see "
             "`hwgen dataset migrate attention-call-ii`). Cosim details in `extra.cosim`.", "",
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
            macs = [r.extra.get("model", {}).get("macs_per_cycle") for r in rs]
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
