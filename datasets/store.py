"""Append-only dataset store: `datasets/<name>/records.jsonl`, one shared-schema Report per line.

Every record is a `hwgen.flows.report.Report` (flows/report.py) serialized as one JSON line, with
`extra["key"]` (the resume key, see `record_key`) and `extra["spec"]` (the full, normalized spec dict).

Crash safety: a record is written with a single `os.write` of one complete line to a file opened with
O_APPEND, then fsync'ed. A kill -9 can therefore leave at most one torn (partial) last line; readers
ignore it and writers truncate it (`repair`) before appending. Nothing is ever rewritten in place, so
finished records cannot be lost. When a key appears more than once (a retried point), the last wins.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator, Optional

from hwgen.errors import UserError
from hwgen.flows.report import CAPACITY_KEYS, RESOURCE_KEYS, Report
from hwgen.spec import canonical_json

__all__ = ["RECORDS_FILE", "PARQUET_FILE", "record_key", "records_path", "repair", "append_record",
           "iter_record_dicts", "load_records", "done_keys", "export_parquet", "DatasetLock", "counts"]

RECORDS_FILE = "records.jsonl"
PARQUET_FILE = "records.parquet"
MAX_ERROR_CHARS = 4000


def record_key(spec_dict: dict, tool_versions: dict) -> str:
    """sha256 of the canonical JSON of the design (its identity, KernelSpec.identity) and the tool versions."""
    return hashlib.sha256(canonical_json({"spec": spec_dict, "tools": tool_versions}).encode()).hexdigest()


def records_path(path_or_dir) -> Path:
    """A dataset folder -> its records.jsonl; a file path is returned unchanged."""
    p = Path(path_or_dir)
    if p.suffix in (".jsonl", ".json") or p.is_file():
        return p
    return p / RECORDS_FILE


# ----------------------------------------------------------------------------- writing

def repair(path_or_dir) -> int:
    """Truncate a torn last line (no trailing newline) left by a killed writer. Returns bytes removed."""
    path = records_path(path_or_dir)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        os.lseek(fd, size - 1, os.SEEK_SET)
        if os.read(fd, 1) == b"\n":
            return 0
        # Find the last newline by scanning backwards in blocks.
        pos, keep = size, 0
        block = 65536
        while pos > 0:
            start = max(0, pos - block)
            os.lseek(fd, start, os.SEEK_SET)
            chunk = os.read(fd, pos - start)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = start + i + 1
                break
            pos = start
        os.ftruncate(fd, keep)
        os.fsync(fd)
        return size - keep
    finally:
        os.close(fd)


def _record_line(report: Report) -> bytes:
    if report.error and len(report.error) > MAX_ERROR_CHARS:
        report = report.model_copy(update={"error": report.error[:1000] + "\n...\n" + report.error[-(MAX_ERROR_CHARS - 1005):]})
    line = report.model_dump_json()
    if "\n" in line:   # JSON escapes newlines in strings; this would be a bug
        raise ValueError("record JSON contains a raw newline")
    return (line + "\n").encode()


def append_record(path_or_dir, report: Report) -> None:
    """Append one record durably (single write of one line with O_APPEND, then fsync)."""
    path = records_path(path_or_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _record_line(report)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)   # one call for the whole line in practice (regular file)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


class DatasetLock:
    """Exclusive writer lock on a dataset for the duration of a build or import: flock on its
    records.jsonl (created empty if needed), released on process death, so a kill -9 never leaves a
    stale lock and no lock file litters the dataset folder. Readers never lock."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.fd: Optional[int] = None

    def __enter__(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.folder / RECORDS_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(self.fd)
            self.fd = None
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UserError("out", f"{self.folder} is being written by another build/import; wait for it "
                                       "or choose another --out") from None
            raise
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


# ----------------------------------------------------------------------------- reading

def iter_record_dicts(path_or_dir, stats: Optional[dict] = None) -> Iterator[dict]:
    """Parsed JSON objects, one per complete line; torn / corrupt lines are skipped (counted in stats)."""
    path = records_path(path_or_dir)
    if stats is not None:
        stats.setdefault("skipped", 0)
        stats.setdefault("lines", 0)
    if not path.exists():
        return
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    complete = lines[:-1]           # the last element is b"" or a torn line without its newline
    if lines[-1].strip() and stats is not None:
        stats["skipped"] += 1
    for raw in complete:
        if not raw.strip():
            continue
        if stats is not None:
            stats["lines"] += 1
        try:
            obj = json.loads(raw)
        except ValueError:
            if stats is not None:
                stats["skipped"] += 1
            continue
        if isinstance(obj, dict):
            yield obj
        elif stats is not None:
            stats["skipped"] += 1


def load_records(path_or_dir, *, status: Optional[str | Iterable[str]] = None, latest: bool = True,
                 warn: bool = True) -> list[Report]:
    """All records of a dataset (folder or records.jsonl) as Reports, in file order.

    latest=True keeps only the last record per extra["key"] (records without a key are all kept).
    status filters, e.g. status="ok". A torn last line or a corrupt line is skipped with a warning.
    """
    stats: dict = {}
    reports: list[Report] = []
    for obj in iter_record_dicts(path_or_dir, stats):
        try:
            reports.append(Report.model_validate(obj))
        except ValueError:
            stats["skipped"] += 1
    if warn and stats.get("skipped"):
        print(f"warning: {records_path(path_or_dir)}: skipped {stats['skipped']} torn or corrupt line(s)",
              file=sys.stderr)
    if latest:
        last: dict[str, int] = {}
        for i, r in enumerate(reports):
            k = r.extra.get("key")
            if k:
                last[k] = i
        reports = [r for i, r in enumerate(reports) if not r.extra.get("key") or last[r.extra["key"]] == i]
    if status is not None:
        wanted = {status} if isinstance(status, str) else set(status)
        reports = [r for r in reports if r.status in wanted]
    return reports


def done_keys(path_or_dir, statuses: Optional[Iterable[str]] = None) -> set[str]:
    """Keys already in the store (optionally only those whose latest record has one of `statuses`)."""
    latest: dict[str, str] = {}
    for obj in iter_record_dicts(path_or_dir):
        k = (obj.get("extra") or {}).get("key")
        if k:
            latest[k] = obj.get("status", "ok")
    if statuses is None:
        return set(latest)
    wanted = set(statuses)
    return {k for k, s in latest.items() if s in wanted}


def counts(reports: Iterable[Report]) -> dict:
    """Counts per status, kernel, target and (kernel, status)."""
    out: dict = {"total": 0, "status": {}, "kernel": {}, "target": {}, "kernel_status": {}, "flow": {}}
    for r in reports:
        out["total"] += 1
        for field, value in (("status", r.status), ("kernel", r.kernel or "?"), ("target", r.target or "?"),
                             ("flow", r.flow or "?"), ("kernel_status", f"{r.kernel or '?'}/{r.status}")):
            out[field][value] = out[field].get(value, 0) + 1
    for field in ("status", "kernel", "target", "kernel_status", "flow"):
        out[field] = dict(sorted(out[field].items()))
    return out


# ----------------------------------------------------------------------------- Parquet export

_FIXED = [
    ("key", "string"), ("status", "string"), ("error", "string"), ("kernel", "string"), ("design", "string"),
    ("target", "string"), ("part", "string"), ("flow", "string"), ("schema_version", "int64"),
    ("clock_mhz", "float64"), ("fmax_mhz_est", "float64"), ("lut_depth", "int64"),
    ("latency_cycles", "float64"), ("ii", "float64"), ("fits", "bool"), ("runtime_s", "float64"),
]


def _param_type(values: list) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "string"
    if all(isinstance(v, bool) for v in present):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float64"
    return "string"


def export_parquet(path_or_dir, out: Optional[Path] = None, *, latest: bool = True) -> Path:
    """Write records.parquet next to records.jsonl (atomically): flat columns

    key, status, error, kernel, design, target, part, flow, schema_version, clock_mhz, fmax_mhz_est,
    lut_depth, latency_cycles, ii, fits, runtime_s, resources.<lut|lutram|ff|carry|dsp|bram36|uram>,
    utilization.<lut|ff|dsp|bram36|uram>, param.<name> for every scalar parameter seen (typed;
    mixed types become strings), and params_json / spec_json / tool_versions_json / extra_json
    (the rest of the record, lossless).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = records_path(path_or_dir)
    reports = load_records(src, latest=latest)
    out = Path(out) if out else src.with_name(PARQUET_FILE)
    param_names = sorted({k for r in reports for k, v in r.params.items()
                          if v is None or isinstance(v, (bool, int, float, str))})
    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
    cols: dict[str, list] = {name: [] for name, _ in _FIXED}
    for k in RESOURCE_KEYS:
        cols[f"resources.{k}"] = []
    for k in CAPACITY_KEYS:
        cols[f"utilization.{k}"] = []
    for name in param_names:
        cols[f"param.{name}"] = []
    for name in ("params_json", "spec_json", "tool_versions_json", "extra_json"):
        cols[name] = []
    for r in reports:
        d = r.model_dump(mode="json")
        for name, _ in _FIXED:
            cols[name].append(r.extra.get("key") if name == "key" else d.get(name))
        for k in RESOURCE_KEYS:
            cols[f"resources.{k}"].append(d["resources"].get(k))
        for k in CAPACITY_KEYS:
            v = d["utilization"].get(k)
            cols[f"utilization.{k}"].append(None if v is None or v == float("inf") else v)
        for name in param_names:
            cols[f"param.{name}"].append(r.params.get(name))
        cols["params_json"].append(canonical_json(r.params))
        cols["spec_json"].append(canonical_json(r.extra.get("spec", {})))
        cols["tool_versions_json"].append(canonical_json(r.tool_versions))
        cols["extra_json"].append(canonical_json({k: v for k, v in r.extra.items() if k not in ("key", "spec")}))
    fields = [pa.field(name, types[t]) for name, t in _FIXED]
    fields += [pa.field(f"resources.{k}", pa.float64()) for k in RESOURCE_KEYS]
    fields += [pa.field(f"utilization.{k}", pa.float64()) for k in CAPACITY_KEYS]
    for name in param_names:
        t = _param_type(cols[f"param.{name}"])
        if t == "string":
            cols[f"param.{name}"] = [None if v is None else str(v) for v in cols[f"param.{name}"]]
        fields.append(pa.field(f"param.{name}", types[t]))
    fields += [pa.field(n, pa.string()) for n in ("params_json", "spec_json", "tool_versions_json", "extra_json")]
    schema = pa.schema(fields, metadata={"hwgen.report_schema_version": str(reports[0].schema_version if reports else 1),
                                         "hwgen.source": src.name})
    table = pa.table({f.name: pa.array(cols[f.name], type=f.type) for f in fields}, schema=schema)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, out)
    return out
