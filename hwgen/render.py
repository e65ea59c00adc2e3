"""Render a spec into a project folder: HLS C++ and/or the Verilog twin, plus the spec and model."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import jinja2

from .errors import UserError
from .kernels import registry
from .spec import KernelSpec, dump_spec

BACKENDS = ("hls", "rtl")
SPEC_FILE = "hwgen.yaml"
MODEL_FILE = "model.json"

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("hwgen.templates", ""),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_template(template: str, ctx: dict) -> str:
    """A template path relative to templates/: `*.j2` is rendered with `ctx`, anything else (a parameterised
    library module such as lib/rtl/hwgen_fifo.v) is copied verbatim."""
    if template.endswith(".j2"):
        return _env.get_template(template).render(**ctx)
    return _env.loader.get_source(_env, template)[0]


def render_files(spec: KernelSpec, backend: str = "both") -> dict[str, str]:
    """Return {relative path: text} for the requested backend(s)."""
    if backend not in (*BACKENDS, "both"):
        raise UserError("backend", f"unknown backend {backend!r}; allowed: hls, rtl, both")
    kernel = registry.get(spec.kind)
    ctx = kernel.render_context(spec)
    top = ctx["top"]
    files: dict[str, str] = {}
    for be in BACKENDS if backend == "both" else (backend,):
        for template, out in kernel.outputs(be):
            files[out.format(top=top)] = render_template(template, ctx)
        if be == "hls":
            sources = sorted(p[4:] for p in files if p.startswith("hls/") and p.endswith((".cpp", ".h"))
                             and not Path(p).name.startswith("tb_"))
            tbs = sorted(p[4:] for p in files if Path(p).name.startswith("tb_"))
            files["hls/run_hls.tcl"] = _env.get_template("common/run_hls.tcl.j2").render(
                top=top, part=spec.target_info.part, clock_mhz=spec.clock,
                clock_period_ns=round(1000.0 / spec.clock, 4), sources=sources, testbenches=tbs)
    files[SPEC_FILE] = dump_spec(spec)
    files[MODEL_FILE] = json.dumps(_model_dict(kernel.model(spec)), indent=2) + "\n"
    return files


def _model_dict(model) -> dict:
    return model.as_dict() if hasattr(model, "as_dict") else dict(model)


def write_project(spec: KernelSpec, out: Path, backend: str = "both") -> Path:
    """Write the project atomically: a failure leaves no half-written folder behind."""
    files = render_files(spec, backend)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError("out", f"{out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
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
    return out
