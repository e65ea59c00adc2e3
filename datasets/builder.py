"""Dataset builder: sample a design space and build every point (datasets/point.py: generate, synthesize with
Yosys, cosimulate the performance contract) into an append-only store of shared-schema Reports.

    build("datasets/spaces/tlmm.yaml", n=1000, jobs=2, out_dir="datasets/tlmm", seed=0)

Resume key = sha256 of the design's identity (KernelSpec.identity: kind, target and every non-default field) and
the tool versions + flow id (store.record_key). A rerun skips keys already stored (ok and failed rows; timeout
rows only if they ran with at least the current timeout), so growing n only builds the new points (sampling is
prefix-stable).

Execution: local processes or a Dask cluster (datasets/executors.py). Only the parent writes the store. Ctrl-C /
SIGTERM stops submitting, stops the running jobs (their Yosys/simulator process groups are killed), keeps every
finished record and returns with interrupted=True.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from hwgen.errors import UserError

from . import store
from .card import SPACES_DIR, append_build_log, write_card
from .executors import DaskRunner, LocalRunner, drain
from .acquire import Acquisition, select
from .point import DEFAULT_COSIM_TIMEOUT_S, DEFAULT_TIMEOUT_S, FLOW_ID, failed_report, key_tool_versions, run_point
from .space import DesignSpace, load_space, sample

__all__ = ["build", "run_point", "key_spec", "key_tool_versions", "FLOW_ID", "write_card"]


def key_spec(spec_data: dict) -> dict:
    """The part of a design point that enters its key: its identity (hwgen.spec.KernelSpec.identity). A field
    added to a kernel later (with a default that keeps the old behaviour) therefore does not invalidate a dataset;
    the full spec is still stored in extra["spec"]."""
    from hwgen.kernels import parse_spec

    try:
        return parse_spec(spec_data).identity()
    except UserError:
        return dict(spec_data)


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
          retry_failed: bool = False, progress: bool = True, command: Optional[str] = None,
          acquire: Optional[Acquisition] = None, yosys: Optional[str] = None) -> dict:
    """Build (or resume) a dataset. Returns a summary dict (planned, skipped, built, per status,
    interrupted). Raises UserError for bad arguments; never loses a finished record.

    `acquire` chooses which sampled points are built (datasets/acquire.py; default: the first n, uniform).
    `yosys`: the Yosys binary (path or command) to synthesize with; its version is part of every key."""
    acquire = (acquire or Acquisition()).check()
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
        runner = LocalRunner(jobs) if executor == "local" else DaskRunner(scheduler, jobs)
        summary = {"planned": 0, "skipped": 0, "built": 0, "status": {}, "interrupted": False,
                   "out": str(out_dir), "executor": executor, "acquire": acquire.mode}
        bar = None
        old_term = None
        try:
            if yosys:
                from hwgen.flows.tools import require
                require("yosys", yosys)               # a wrong --yosys is the user's error, before any work
            tools = runner.tool_versions(cosim, yosys)
            points = sample(space, acquire.pool_size(n), seed)
            existing = _existing(out_dir)
            space_copy = _save_space(out_dir, space_path, space)
            keys = [store.record_key(key_spec(data), tools) for data in points]
            done = [_is_done(existing, key, timeout_s, retry_failed, cosim) for key in keys]
            chosen, scores = select(points, done, n, acquire)
            todo = []
            for i in chosen:
                if done[i]:
                    summary["skipped"] += 1
                else:
                    prev = existing.get(keys[i])
                    todo.append((i, points[i], keys[i], prev[3] if prev else None))
            summary["planned"] = len(chosen)
            summary["sampled_short"] = len(chosen) < n
            if threading.current_thread() is threading.main_thread():
                old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
            if progress:
                from tqdm import tqdm
                bar = tqdm(total=len(todo), desc=out_dir.name, unit="design", file=sys.stderr,
                           dynamic_ncols=True, mininterval=1.0, smoothing=0.1)
            _run_all(runner, todo, tools, summary, out_dir, bar, space, space_copy, timeout_s, cosim,
                     cosim_timeout_s, seed, acquire, scores, yosys)
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
             cosim_timeout_s, seed, acquire: Acquisition, scores: dict, yosys: Optional[str] = None) -> None:
    def submit(item):
        i, data, key, previous = item
        info = {"space": space.name or "", "space_file": space_copy, "space_digest": space.digest(),
                "seed": seed, "index": i, "acquire": acquire.mode}
        if i in scores:        # what the surrogate's uncertainty was when this point was chosen
            info["acquire_score"] = {acquire.target: round(scores[i], 6)}
        return runner.submit(data, key, tools, timeout_s=timeout_s, cosim=cosim, cosim_timeout_s=cosim_timeout_s,
                             seed=seed, build_info=info, previous=previous, yosys=yosys)

    def failed(item, err):
        _, data, key, _ = item
        rep = failed_report(data, "failed", f"worker error: {type(err).__name__}: {err}")
        rep.extra.update({"key": key, "spec": data, "key_tools": tools, "timeout_s": timeout_s,
                          "cosim": {"status": "skipped", "error": "worker error"}})
        return rep.model_dump(mode="json")

    def finish(item, rec):
        _append(out_dir, rec, summary)
        if bar is not None:
            bar.update(1)
            st = summary["status"]
            bar.set_postfix({k: st[k] for k in sorted(st)}, refresh=False)

    drain(runner, todo, submit, finish, failed)


def _append(out_dir: Path, rec: dict, summary: dict) -> None:
    from hwgen.flows.report import Report

    report = Report.model_validate(rec)
    store.append_record(out_dir, report)
    summary["built"] += 1
    summary["status"][report.status] = summary["status"].get(report.status, 0) + 1


# ----------------------------------------------------------------------------- card and logs

def _save_space(out_dir: Path, space_path: Path, space: DesignSpace) -> str:
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
             **{k: summary[k] for k in ("planned", "skipped", "built", "status", "interrupted", "seconds", "acquire")}}
    append_build_log(out_dir, entry)
