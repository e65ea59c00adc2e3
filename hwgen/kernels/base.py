"""The kernel contract. A kernel is one module implementing `Kernel` (plus its templates and one line in
`hwgen/kernels/__init__.py`); every later stage (render, flows, dataset, surrogate, search) asks these hooks
and never branches on the kind.

Performance contract (`Kernel.performance`, exact against RTL cosimulation at zero stalls):
    latency_cycles  cycles from the first data-input beat accepted to the last output beat of one unit of work
                    (the kernel's `unit`: a token for a matmul, a call for attention), counted inclusively
    ii              cycles between the last output beats of two successive units in steady state
both at the unit's largest size (a decode call at L_max, a prefill call at M_max). Setup streams (resident
weights) are loaded before the first data beat and are not part of either number.

Streams (`Kernel.ports`): AXI4-Stream ports, each beat a vector of `elements` integers of `elem_bits` bits
(element 0 at the LSBs). Vector files hold one beat per line, `tlast e0 e1 ...` (flows/vectors.py); the one
generic C++ and Verilog test bench (templates/common/tb.*.j2) drives and records any kernel through them.
"""
from __future__ import annotations

import functools

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

import numpy as np

from ..errors import UserError
from ..memo import memos_on, registered
from ..spec import KernelSpec


@dataclass(frozen=True)
class Port:
    """One AXI4-Stream port of a kernel's top level (HLS argument and RTL port group)."""

    name: str                     # stream name: vector file <name>.txt, composition endpoint "<kernel>.<name>"
    direction: Literal["in", "out"]
    elements: int                 # integers per beat
    elem_bits: int                # width of one integer
    signed: bool
    rtl: str                      # RTL signal prefix: <rtl>_tdata/_tvalid/_tready/_tlast
    role: Literal["setup", "data"] = "data"   # setup streams (resident weights) load before any data beat
    input_key: Optional[str] = None   # inputs[key] holds this port's elements per unit ([units, n]): the port can
                                      # be fed by another kernel's output in a composition
    unit_elements: int = 0        # elements per unit on this port (the meaningful ones of input_key / output)

    @property
    def beat_bits(self) -> int:
        return self.elements * self.elem_bits


@dataclass(frozen=True)
class Scalar:
    """A scalar argument of the HLS top function (after the streams), set per call by `call_plan`."""

    name: str
    ctype: str


@dataclass(frozen=True)
class Performance:
    """A kernel's performance contract at its largest unit (see the module docstring)."""

    latency_cycles: int
    ii: int
    unit: str                          # "token" | "call"
    macs: int                          # multiply-accumulates per unit
    macs_per_cycle: int                # peak parallelism of the datapath (MAC units)
    bytes: dict = field(default_factory=dict)   # payload bytes per unit per data port (setup ports: per load)

    def as_dict(self) -> dict:
        return asdict(self)



def spec_memo(method):
    """Memoise a kernel method that is a pure function of the spec's field values (e.g. `model`): the surrogate and
    the design search call it several times per design for thousands of designs. Specs with unhashable fields
    (lists, nested specs) are not cached. The result is shared: memoise only methods returning immutable values."""
    cache: dict = {}
    registered(cache.clear)

    @functools.wraps(method)
    def wrapper(self, spec):
        if not memos_on():        # the reference path (hwgen.memo.memos_off)
            return method(self, spec)
        try:
            key = (type(self), type(spec), *spec.__dict__.values())
            hit = cache.get(key)
        except TypeError:
            return method(self, spec)
        if hit is None:
            if len(cache) >= 1 << 16:
                cache.clear()
            hit = cache[key] = method(self, spec)
        return hit

    return wrapper

class Kernel:
    """Base class of kernel plugins."""

    kind: ClassVar[str]
    spec_model: ClassVar[type[KernelSpec]]
    description: ClassVar[str] = ""
    unit: ClassVar[str] = "token"
    node_types: ClassVar[tuple[str, ...]] = ()   # hardware-graph node types its graph builder uses
    # A top over member-kernel instances plus glue (part_specs): the surrogate predicts it by parts
    # (surrogate/parts.py)
    has_parts: ClassVar[bool] = False
    # A whole decoder layer: the surrogate report holds such tops out as split (d), not with the compositions (c)
    layer_top: ClassVar[bool] = False

    # --- spec -> kernel model -------------------------------------------------
    def normalize(self, data: dict) -> dict:
        """Rewrite a raw spec dict before validation (e.g. expand nested specs); default: unchanged."""
        return data

    def check(self, spec: KernelSpec) -> None:
        """Cross-field validation beyond pydantic; raise UserError."""

    def part_specs(self, spec: KernelSpec) -> list:
        """The member-kernel specs of a top with has_parts, one per instance (a member used twice is listed twice)."""
        raise NotImplementedError(f"{self.kind} is not a top over member kernels")

    def model(self, spec: KernelSpec) -> Any:
        """Derived micro-architecture (widths, depths, cycle counts): a dataclass with `as_dict()`."""
        raise NotImplementedError

    # --- interface and performance ------------------------------------------------
    def ports(self, spec: KernelSpec) -> list[Port]:
        """Top-level streams in HLS argument order: inputs first, then outputs."""
        raise NotImplementedError

    def performance(self, spec: KernelSpec) -> Performance:
        raise NotImplementedError

    def hls_scalars(self, spec: KernelSpec) -> list[Scalar]:
        return []

    def units_scalar(self, spec: KernelSpec) -> Optional[str]:
        """Name of the HLS scalar that carries the number of units in a call (None: one unit per call)."""
        return None

    def units_per_call(self, spec: KernelSpec) -> Optional[int]:
        """The most units one HLS call takes (None: unbounded)."""
        return 1

    def call_plan(self, spec: KernelSpec, inputs: dict) -> list[list[int]]:
        """Scalar values (in hls_scalars order) of each call of the HLS top that processes `inputs`."""
        return [[] for _ in range(self.vector_count(spec, inputs))]

    # --- render ------------------------------------------------------------
    def render_context(self, spec: KernelSpec) -> dict:
        raise NotImplementedError

    def outputs(self, backend: str) -> list[tuple[str, str]]:
        """(template path under templates/, output path in the project; `{top}` is substituted)."""
        raise NotImplementedError

    def rtl_top(self, spec: KernelSpec) -> str:
        return spec.design_name

    def files(self, spec: KernelSpec, backend: str) -> dict[str, str]:
        """{project path: text} of one backend's design sources (the test benches are added by hwgen.render)."""
        from ..render import render_template

        ctx = self.render_context(spec)
        return {out.format(top=ctx["top"]): render_template(template, ctx) for template, out in self.outputs(backend)}

    # --- data --------------------------------------------------------------
    def random_inputs(self, spec: KernelSpec, rng: np.random.Generator, vectors: int) -> dict[str, np.ndarray]:
        """`vectors` units of random data; the first two have the largest size (the contract's ii is measured
        between them)."""
        raise NotImplementedError

    def validate_inputs(self, spec: KernelSpec, inputs: dict) -> dict[str, np.ndarray]:
        """A user's arrays -> validated inputs; raise UserError naming the array on bad shapes or values."""
        raise NotImplementedError

    def input_names(self, spec: KernelSpec) -> tuple[str, ...]:
        """Arrays a user's IN.npz must hold."""
        raise NotImplementedError

    def load_inputs(self, spec: KernelSpec, path: Path) -> dict[str, np.ndarray]:
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise UserError("inputs", f"cannot read {path} as .npz: {err}") from None
        names = self.input_names(spec)
        for key in names:
            if key not in data:
                raise UserError("inputs", f"{path} has no array {key!r}; expected {self.input_doc(spec)}")
        return self.validate_inputs(spec, {key: data[key] for key in names})

    def input_doc(self, spec: KernelSpec) -> str:
        return ", ".join(self.input_names(spec))

    def vector_count(self, spec: KernelSpec, inputs: dict) -> int:
        raise NotImplementedError

    def golden(self, spec: KernelSpec, inputs: dict) -> dict[str, np.ndarray]:
        """Bit-exact expected hardware output per output port (integers)."""
        raise NotImplementedError

    def stream_beats(self, spec: KernelSpec, inputs: dict) -> dict[str, list]:
        """Every input port's beats in order: port -> [(tlast, [elements])]."""
        raise NotImplementedError

    def output_units(self, spec: KernelSpec, inputs: dict) -> dict[str, list[int]]:
        """Output beats of every unit, per output port (the last beat of each carries tlast)."""
        raise NotImplementedError

    def from_beats(self, spec: KernelSpec, inputs: dict, beats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Output beats (port -> [beats, elements] ints) -> outputs in the golden model's layout."""
        raise NotImplementedError

    def user_output(self, spec: KernelSpec, inputs: dict, outputs: dict) -> dict[str, np.ndarray]:
        """What --output receives (integers for matmul, dequantized floats for attention)."""
        return outputs

    def extra_metrics(self, spec: KernelSpec, inputs: dict, outputs: dict) -> dict:
        return {}

    # --- cycle budget for simulations ---------------------------------------------
    def expected_cycles(self, spec: KernelSpec, inputs: dict) -> int:
        """Zero-stall cycles of a run on `inputs` (data phase), the first unit's latency included."""
        perf = self.performance(spec)
        return perf.latency_cycles + (self.vector_count(spec, inputs) - 1) * perf.ii

    # --- surrogate and design spaces ------------------------------------------------
    def graph(self, spec: KernelSpec):
        """The design's hardware graph (hwgen.surrogate.ir.HwGraph) with per-block analytical cost terms."""
        raise NotImplementedError

    def graph_key(self, spec: KernelSpec):
        """A hashable key that determines graph(spec) (equal keys, equal graphs), coarser than the spec's field
        values: the surrogate builds, encodes and predicts designs of one key once (surrogate/features.FeatureCache).
        None: the spec's own fields are the key."""
        return None

    def fmax_estimate(self, spec: KernelSpec) -> Optional[float]:
        """Pre-synthesis Fmax estimate (MHz) of the paths the kernel models under the delay model (hwgen/timing.py),
        or None when it models none (the design search then assumes the clock until a synthesis says otherwise)."""
        return None

    def timing_estimate(self, spec: KernelSpec) -> Optional[dict]:
        """Pre-synthesis structural timing of the paths the kernel models: {"lut_depth": LUT levels of its deepest
        path, "crit_ns": arrival of its slowest path as flows/synth_open.py's logic_depth measures it (no clock-to-out
        or setup)}, optionally with "side_depth" / "side_ns", the paths the stream handshakes reach (a composition's
        adapters lengthen them), or None. The surrogate's timing anchor (its graph builder stores it in HwGraph.timing);
        kernels without one get a generic anchor and the GNN learns the rest."""
        return None

    def space_params(self) -> tuple[str, ...]:
        """Parameter names a design space may set for this kind (default: the spec's own fields)."""
        return tuple(self.spec_model.model_fields)

    def draw(self, params: dict, draw_value, rng) -> dict:
        """One raw point of a design space: each parameter drawn independently by `draw_value(domain, rng)`."""
        return {name: draw_value(params[name], rng) for name in sorted(params)}


class TokenKernel(Kernel):
    """A kernel whose unit is a token and whose HLS top takes up to M_max tokens per call (`m_tokens`).
    `setup_flag` names the HLS bool that loads its setup streams (resident weights) on the first call only."""

    setup_flag: Optional[str] = None

    def hls_scalars(self, spec: KernelSpec) -> list[Scalar]:
        flag = [Scalar(self.setup_flag, "bool")] if self.setup_flag else []
        return flag + [Scalar("m_tokens", "int")]

    def units_scalar(self, spec: KernelSpec) -> Optional[str]:
        return "m_tokens"

    def units_per_call(self, spec: KernelSpec) -> int:
        return spec.M_max

    def call_plan(self, spec: KernelSpec, inputs: dict) -> list[list[int]]:
        """Calls of at most M_max tokens; setup streams load with the first call."""
        total, batch = self.vector_count(spec, inputs), spec.M_max
        sizes = [min(batch, total - start) for start in range(0, total, batch)]
        return [([int(i == 0)] if self.setup_flag else []) + [n] for i, n in enumerate(sizes)]
