"""Render a spec into a project folder: the kernel's HLS C++ and/or Verilog twin, the generic test benches,
the Vitis HLS script, the spec and the derived model. The one Jinja environment of the project lives here."""
from __future__ import annotations

import contextlib
import functools
import json
import shutil
import tempfile
from pathlib import Path

import jinja2

from .errors import UserError
from .spec import KernelSpec, dump_spec

BACKENDS = ("hls", "rtl")
SPEC_FILE = "hwgen.yaml"
MODEL_FILE = "model.json"


@functools.lru_cache(maxsize=1)
def template_env() -> jinja2.Environment:
    """Templates under templates/ (package hwgen.templates): hardware text only; every number comes from the
    context that Python computed."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("hwgen.templates", ""),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_template(template: str, ctx: dict) -> str:
    """A template path relative to templates/: `*.j2` is rendered with `ctx`, anything else (a parameterised
    library module such as lib/rtl/hwgen_stream_adapter.v) is copied verbatim."""
    env = template_env()
    if template.endswith(".j2"):
        return env.get_template(template).render(**ctx)
    return env.loader.get_source(env, template)[0]


def testbench_context(kernel, spec: KernelSpec) -> dict:
    """What the generic test benches need: every port's widths, the HLS scalars, the top's name."""
    ports = []
    for p in kernel.ports(spec):
        ports.append({"name": p.name, "var": f"p_{p.name}", "rtl": p.rtl, "is_in": p.direction == "in",
                      "setup": p.role == "setup", "elements": p.elements, "elem_bits": p.elem_bits,
                      "signed": p.signed, "msb": p.beat_bits - 1, "elem_msb": p.elem_bits - 1,
                      "beat_bits": p.beat_bits})
    outs = [p for p in ports if not p["is_in"]]
    return {"top": kernel.rtl_top(spec), "hls_top": spec.design_name, "ports": ports,
            "inputs": [p for p in ports if p["is_in"]], "outputs": outs, "primary": outs[0]["var"],
            "setup": [p for p in ports if p["setup"]], "data_inputs": [p for p in ports if p["is_in"] and not p["setup"]],
            "scalars": [{"name": s.name, "ctype": s.ctype} for s in kernel.hls_scalars(spec)]}


def render_files(spec: KernelSpec, backend: str = "both") -> dict[str, str]:
    """Return {relative path: text} for the requested backend(s)."""
    from . import kernels

    if backend not in (*BACKENDS, "both"):
        raise UserError("backend", f"unknown backend {backend!r}; allowed: hls, rtl, both")
    kernel = kernels.get(spec.kind)
    top = kernel.rtl_top(spec)
    tb = testbench_context(kernel, spec)
    files: dict[str, str] = {}
    for be in BACKENDS if backend == "both" else (backend,):
        files.update(kernel.files(spec, be))
        if be == "hls":
            files[f"hls/tb_{top}.cpp"] = render_template("common/tb.cpp.j2", tb)
            sources = sorted(p[4:] for p in files if p.startswith("hls/") and p.endswith((".cpp", ".h"))
                             and not Path(p).name.startswith("tb_"))
            tbs = sorted(p[4:] for p in files if p.startswith("hls/") and Path(p).name.startswith("tb_"))
            files["hls/run_hls.tcl"] = render_template("common/run_hls.tcl.j2", dict(
                top=top, part=spec.target_info.part, clock_mhz=spec.clock,
                clock_period_ns=round(1000.0 / spec.clock, 4), sources=sources, testbenches=tbs))
        else:
            files[f"rtl/tb_{top}.v"] = render_template("common/tb.v.j2", tb)
    files[SPEC_FILE] = dump_spec(spec)
    files[MODEL_FILE] = json.dumps(_model_dict(kernel.model(spec)), indent=2, default=str) + "\n"
    return files


def _model_dict(model) -> dict:
    return model.as_dict() if hasattr(model, "as_dict") else dict(model)


def write_project(spec: KernelSpec, out: Path, backend: str = "both") -> Path:
    """Write the project atomically: a failure leaves no half-written folder behind."""
    files = render_files(spec, backend)
    with atomic_folder(Path(out)) as staging:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return Path(out)


@contextlib.contextmanager
def atomic_folder(out: Path):
    """Yield a staging folder beside `out`; on success it replaces `out` in one rename, on any error it is
    removed and `out` is left as it was."""
    if out.exists() and not out.is_dir():
        raise UserError("out", f"{out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield staging
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def load_project(project: Path) -> KernelSpec:
    """The spec of a generated project folder."""
    from . import kernels

    project = Path(project)
    if not (project / SPEC_FILE).exists():
        raise UserError("project", f"{project} is not a generated project (no {SPEC_FILE}); run `hwgen generate` first")
    return kernels.load_spec(project / SPEC_FILE)
