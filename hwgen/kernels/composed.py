"""Composition: several kernels connected by streams, itself a kernel (`kind: composed`).

    kind: composed
    name: ffn_pair                 # Verilog top / HLS top function
    target: kv260                  # shared by every member (a member's own target is overridden)
    kernels:                       # ordinary kernel specs; `name` defaults to <name>_k<i> and must be unique
      - {kind: tlmm, name: up, K: 256, N: 128, G: 3, T: 8, Q: 8}
      - {kind: tlmm_naive, name: down, K: 128, N: 64, P_k: 16, P_n: 4}
    streams:                       # producer output port -> consumer input port
      - {from: up.y, to: down.x}   # "kernel.port", or "kernel" for its only output / its only feedable input;
                                   # optional shift (requantisation, default producer bits - consumer bits)

Each stream goes through a stream adapter (templates/lib/rtl/hwgen_stream_adapter.v, and its HLS twin in the
composed top): it requantises every producer value (>>> shift, low consumer bits, no saturation), collects one
unit in one of two buffers, and emits it in the consumer's beat shape. A consumer port can be fed only if it
takes per-unit element vectors (Port.input_key) of the same length as the producer's. Ports not connected stay
top-level ports named `<member>_<port>`.

Performance (exact against cosim, the tests check it): latency = the longest path of member latencies (the
consumer's first beat is valid the cycle after the producer's last beat), ii = the largest member ii (the adapter
double-buffers a unit). The golden model chains the members' golden models through the adapters' arithmetic.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, Optional

import numpy as np
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ..bits import index_bits
from ..errors import UserError
from ..spec import KernelSpec, canonical_json
from .base import Kernel, Performance, Port

ADAPTER_MODULE = "hwgen_stream_adapter"


class StreamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    src: str = Field(validation_alias=AliasChoices("from", "src"), description="producer: kernel.port or kernel")
    dst: str = Field(validation_alias=AliasChoices("to", "dst"), description="consumer: kernel.port or kernel")
    shift: Optional[int] = Field(None, ge=0, le=63, description="arithmetic right shift of the requantisation")


class ComposedSpec(KernelSpec):
    kind: Literal["composed"] = "composed"
    kernels: list[dict] = Field(default_factory=list, description="member kernel specs (normalized)")
    streams: list[StreamSpec] = Field(default_factory=list, description="producer port -> consumer port")


@dataclass(frozen=True)
class Adapter:
    name: str
    src: int                 # member index, port name
    src_port: str
    dst: int
    dst_port: str
    in_n: int                # producer values per beat
    in_w: int                # producer value bits
    in_beats: int            # producer beats per unit
    out_n: int
    out_w: int
    out_beats: int
    shift: int
    elements: int            # meaningful values per unit (== the consumer's unit_elements)

    @property
    def in_bits(self) -> int:
        return self.in_n * self.in_w

    @property
    def out_bits(self) -> int:
        return self.out_n * self.out_w


@dataclass(frozen=True)
class ComposedModel:
    top: str
    members: tuple           # member spec names, in order
    kinds: tuple
    order: tuple             # topological order of member indices
    adapters: tuple          # Adapter
    macs_per_cycle: int      # sum over members
    max_member_macs_per_cycle: int

    def as_dict(self) -> dict:
        d = asdict(self)
        d["adapters"] = [asdict(a) for a in self.adapters]
        return d


class ComposedKernel(Kernel):
    kind = "composed"
    spec_model = ComposedSpec
    description = "composition of kernels connected by streams (stream adapters between them)"
    node_types = ("stream_adapter",)
    has_parts = True

    def __init__(self, registry: dict):
        self.registry = registry          # the member kernels (injected: hwgen/kernels/__init__.py)
        self._members: dict = {}          # parsed member specs by their JSON (specs are re-read often)

    # --- spec ---------------------------------------------------------------------------------
    def normalize(self, data: dict) -> dict:
        from . import parse_spec

        data = dict(data)
        name = data.get("name") or "composed"
        target = data.get("target", "kv260")
        members = data.get("kernels")
        if not isinstance(members, list) or not members:
            raise UserError("kernels", "a composition needs a list of at least one kernel spec")
        out = []
        for i, k in enumerate(members):
            if not isinstance(k, dict):
                raise UserError(f"kernels[{i}]", "must be a kernel spec mapping")
            if k.get("kind") == self.kind:
                raise UserError(f"kernels[{i}].kind", "compositions do not nest; list the kernels directly")
            k = {**k, "target": target}
            k.setdefault("name", f"{name}_k{i}")
            if data.get("clock_mhz") is not None:
                k["clock_mhz"] = data["clock_mhz"]
            try:
                spec = parse_spec(k)
            except UserError as err:
                raise UserError(f"kernels[{i}].{err.field}", err.message) from None
            out.append(spec.model_dump(mode="json", exclude_none=True))
        data["kernels"] = out
        return data

    def members(self, spec: ComposedSpec) -> list:
        from . import parse_spec

        key = canonical_json(spec.kernels)
        if key not in self._members:
            if len(self._members) > 256:
                self._members.clear()
            self._members[key] = [parse_spec(k) for k in spec.kernels]
        return self._members[key]

    def part_specs(self, spec: ComposedSpec) -> list:
        return self.members(spec)

    def check(self, spec: ComposedSpec) -> None:
        self.model(spec)

    def _resolve(self, members, ports, ref: str, direction: str, field: str) -> tuple[int, Port]:
        names = [m.design_name for m in members]
        kname, _, pname = ref.partition(".")
        if kname not in names:
            raise UserError(field, f"unknown kernel {kname!r}; allowed: {', '.join(names)}")
        i = names.index(kname)
        cands = [p for p in ports[i] if p.direction == direction and (direction == "out" or p.input_key)]
        if pname:
            found = [p for p in cands if p.name == pname]
            if not found:
                allowed = ", ".join(f"{kname}.{p.name}" for p in cands) or "none"
                raise UserError(field, f"{kname} has no {'output' if direction == 'out' else 'feedable input'} port "
                                       f"{pname!r}; allowed: {allowed}")
            return i, found[0]
        if len(cands) != 1:
            raise UserError(field, f"{kname} has {len(cands)} candidate ports; name one as {kname}.<port>")
        return i, cands[0]

    def model(self, spec: ComposedSpec) -> ComposedModel:
        members = self.members(spec)
        names = [m.design_name for m in members]
        if len(set(names)) != len(names):
            raise UserError("kernels", f"kernel names must be unique, got {names}")
        if spec.design_name in names:
            raise UserError("name", f"the composition's name {spec.design_name!r} is also a member's name")
        kernels = [self.registry[m.kind] for m in members]
        ports = [k.ports(m) for k, m in zip(kernels, members)]
        units = {k.performance(m).unit for k, m in zip(kernels, members)}   # a spec may change the unit
        if len(units) > 1:
            raise UserError("kernels", f"members process different units ({', '.join(sorted(units))}); "
                                       "a composition needs one")
        per_call = {k.units_per_call(m) for k, m in zip(kernels, members)}
        if len(per_call) > 1:
            raise UserError("kernels", f"members take different numbers of units per call ({sorted(per_call, key=str)}); "
                                       "give them the same M_max")
        adapters, used_src, used_dst = [], set(), set()
        for j, s in enumerate(spec.streams):
            a, pa = self._resolve(members, ports, s.src, "out", f"streams[{j}].from")
            b, pb = self._resolve(members, ports, s.dst, "in", f"streams[{j}].to")
            if a == b:
                raise UserError(f"streams[{j}]", "a kernel cannot feed itself")
            if (a, pa.name) in used_src or (b, pb.name) in used_dst:
                raise UserError(f"streams[{j}]", "each output feeds one input and each input has one producer")
            if pa.unit_elements != pb.unit_elements:
                raise UserError(f"streams[{j}]", f"{names[a]}.{pa.name} carries {pa.unit_elements} values per unit but "
                                                 f"{names[b]}.{pb.name} takes {pb.unit_elements}; they must match")
            shift = s.shift if s.shift is not None else max(0, pa.elem_bits - pb.elem_bits)
            if shift >= pa.elem_bits:
                raise UserError(f"streams[{j}].shift", f"must be in 0..{pa.elem_bits - 1}")
            used_src.add((a, pa.name))
            used_dst.add((b, pb.name))
            adapters.append(Adapter(f"{spec.design_name}_s{j}", a, pa.name, b, pb.name, pa.elements, pa.elem_bits,
                                    -(-pa.unit_elements // pa.elements), pb.elements, pb.elem_bits,
                                    -(-pb.unit_elements // pb.elements), shift, pb.unit_elements))
        order = _topological(len(members), [(x.src, x.dst) for x in adapters])
        macs = [k.performance(m).macs_per_cycle for k, m in zip(kernels, members)]
        return ComposedModel(top=spec.design_name, members=tuple(names), kinds=tuple(m.kind for m in members),
                             order=tuple(order), adapters=tuple(adapters), macs_per_cycle=sum(macs),
                             max_member_macs_per_cycle=max(macs))

    # --- interface and performance ------------------------------------------------------------
    def _parts(self, spec):
        members = self.members(spec)
        kernels = [self.registry[m.kind] for m in members]
        return members, kernels, self.model(spec)

    def _top_ports(self, spec) -> list[tuple[int, Port, Port]]:
        """(member index, member port, top-level port): inputs of all members first, then outputs."""
        members, kernels, m = self._parts(spec)
        fed = {(a.dst, a.dst_port) for a in m.adapters}
        feeding = {(a.src, a.src_port) for a in m.adapters}
        out = []
        for direction, taken in (("in", fed), ("out", feeding)):
            for i, (mem, k) in enumerate(zip(members, kernels)):
                for p in k.ports(mem):
                    if p.direction == direction and (i, p.name) not in taken:
                        top = Port(f"{mem.design_name}_{p.name}", p.direction, p.elements, p.elem_bits, p.signed,
                                   f"{mem.design_name}_{p.rtl}", p.role,
                                   f"{mem.design_name}.{p.input_key}" if p.input_key else None, p.unit_elements)
                        out.append((i, p, top))
        # the last member in topological order provides the primary output (the contract's unit boundaries)
        last = m.order[-1]
        outs = sorted((t for t in out if t[1].direction == "out"), key=lambda t: t[0] != last)
        return [t for t in out if t[1].direction == "in"] + outs

    def ports(self, spec):
        return [top for _, _, top in self._top_ports(spec)]

    def performance(self, spec) -> Performance:
        members, kernels, m = self._parts(spec)
        perfs = [k.performance(mem) for k, mem in zip(kernels, members)]
        finish = {}
        for i in m.order:
            start = max((finish[a.src] for a in m.adapters if a.dst == i), default=0)
            finish[i] = start + perfs[i].latency_cycles
        top_bytes = {top.name: perfs[i].bytes.get(p.name, 0) for i, p, top in self._top_ports(spec)}
        return Performance(latency_cycles=max(finish.values()), ii=max(p.ii for p in perfs), unit=perfs[0].unit,
                           macs=sum(p.macs for p in perfs), macs_per_cycle=m.macs_per_cycle, bytes=top_bytes)

    def hls_scalars(self, spec):
        members, kernels, _ = self._parts(spec)
        out, seen = [], set()
        for k, mem in zip(kernels, members):
            for s in k.hls_scalars(mem):
                if s.name not in seen:
                    seen.add(s.name)
                    out.append(s)
        return out

    def units_scalar(self, spec):
        members, kernels, _ = self._parts(spec)
        return kernels[0].units_scalar(members[0])

    def units_per_call(self, spec):
        members, kernels, _ = self._parts(spec)
        return kernels[0].units_per_call(members[0])

    def call_plan(self, spec, inputs):
        """Every member's calls, merged by scalar name (members of one composition agree on the calls)."""
        members, kernels, _ = self._parts(spec)
        chained = self._member_inputs(spec, inputs)
        names = [s.name for s in self.hls_scalars(spec)]
        plans = []
        for k, mem, inp in zip(kernels, members, chained):
            plans.append([dict(zip([s.name for s in k.hls_scalars(mem)], call)) for call in k.call_plan(mem, inp)])
        merged = []
        for calls in zip(*plans):
            values = {}
            for c in calls:
                values.update(c)
            merged.append([values[n] for n in names])
        return merged

    # --- data: the members' data, chained through the adapters ---------------------------------
    def random_inputs(self, spec, rng, vectors):
        members, kernels, m = self._parts(spec)
        fed = {(a.dst, a.dst_port) for a in m.adapters}
        out = {}
        for i, (mem, k) in enumerate(zip(members, kernels)):
            drop = {p.input_key for p in k.ports(mem) if (i, p.name) in fed}
            for key, arr in k.random_inputs(mem, rng, vectors).items():
                if key not in drop:
                    out[f"{mem.design_name}.{key}"] = arr
        return out

    def input_names(self, spec):
        members, kernels, m = self._parts(spec)
        fed = {(a.dst, a.dst_port) for a in m.adapters}
        names = []
        for i, (mem, k) in enumerate(zip(members, kernels)):
            drop = {p.input_key for p in k.ports(mem) if (i, p.name) in fed}
            names += [f"{mem.design_name}.{key}" for key in k.input_names(mem) if key not in drop]
        return tuple(names)

    def validate_inputs(self, spec, inputs):
        """Each member validates its own arrays (those of fed ports come from the producer); a chained consumer is
        validated again once its fed arrays are known (when the golden model runs)."""
        members, kernels, m = self._parts(spec)
        fed = {(a.dst, a.dst_port) for a in m.adapters}
        out = {}
        for i, (mem, k) in enumerate(zip(members, kernels)):
            drop = {p.input_key for p in k.ports(mem) if (i, p.name) in fed}
            own = {key: inputs[f"{mem.design_name}.{key}"] for key in k.input_names(mem) if key not in drop}
            if drop:          # placeholders for the fed arrays, so the member can check the rest
                units = next(iter(own.values())).shape[0] if own else 1
                for p in k.ports(mem):
                    if p.input_key in drop:
                        own[p.input_key] = np.zeros((units, p.unit_elements), np.int64)
            try:
                checked = k.validate_inputs(mem, own)
            except UserError as err:
                raise UserError(f"{mem.design_name}.{err.field}", err.message) from None
            out.update({f"{mem.design_name}.{key}": v for key, v in checked.items() if key not in drop})
        return out

    def _member_inputs(self, spec, inputs, goldens: Optional[list] = None) -> list[dict]:
        """Every member's full inputs: its own arrays and, for fed ports, the adapter's output of the producer's
        golden output (members in topological order). `goldens` receives each member's golden output."""
        members, kernels, m = self._parts(spec)
        res: list = [None] * len(members)
        outs: list = [None] * len(members)
        for i in m.order:
            mem, k = members[i], kernels[i]
            own = {key[len(mem.design_name) + 1:]: v for key, v in inputs.items()
                   if key.startswith(mem.design_name + ".")}
            for a in m.adapters:
                if a.dst == i:
                    port = next(p for p in k.ports(mem) if p.name == a.dst_port)
                    own[port.input_key] = adapt(a, outs[a.src][a.src_port])
            res[i] = own
            outs[i] = k.golden(mem, own)
        if goldens is not None:
            goldens.extend(outs)
        return res

    def vector_count(self, spec, inputs):
        members, kernels, m = self._parts(spec)
        i = m.order[0]
        own = {key[len(members[i].design_name) + 1:]: v for key, v in inputs.items()
               if key.startswith(members[i].design_name + ".")}
        return kernels[i].vector_count(members[i], own)

    def golden(self, spec, inputs):
        outs: list = []
        self._member_inputs(spec, inputs, outs)
        return {top.name: outs[i][p.name] for i, p, top in self._top_ports(spec) if p.direction == "out"}

    def stream_beats(self, spec, inputs):
        members, kernels, _ = self._parts(spec)
        chained = self._member_inputs(spec, inputs)
        beats = [k.stream_beats(mem, inp) for k, mem, inp in zip(kernels, members, chained)]
        return {top.name: beats[i][p.name] for i, p, top in self._top_ports(spec) if p.direction == "in"}

    def output_units(self, spec, inputs):
        members, kernels, _ = self._parts(spec)
        chained = self._member_inputs(spec, inputs)
        units = [k.output_units(mem, inp) for k, mem, inp in zip(kernels, members, chained)]
        return {top.name: units[i][p.name] for i, p, top in self._top_ports(spec) if p.direction == "out"}

    def from_beats(self, spec, inputs, beats):
        members, kernels, _ = self._parts(spec)
        chained = self._member_inputs(spec, inputs)
        out = {}
        for i, p, top in self._top_ports(spec):
            if p.direction == "out":
                got = kernels[i].from_beats(members[i], chained[i], {p.name: beats[top.name]})
                out[top.name] = got[p.name]
        return out

    def user_output(self, spec, inputs, outputs):
        members, kernels, _ = self._parts(spec)
        chained = self._member_inputs(spec, inputs)
        out = {}
        for i, p, top in self._top_ports(spec):
            if p.direction == "out":
                out[top.name] = kernels[i].user_output(members[i], chained[i], {p.name: outputs[top.name]})[p.name]
        return out

    # --- render: the members' own sources, the adapters and a generated top --------------------
    def render_context(self, spec) -> dict:
        members, kernels, m = self._parts(spec)
        tops = self._top_ports(spec)
        top_of = {(i, p.name): top for i, p, top in tops}
        wire = {}                                   # (member, port) -> signal prefix of an internal stream
        for a in m.adapters:
            wire[(a.src, a.src_port)] = f"{a.name}_in"
            wire[(a.dst, a.dst_port)] = f"{a.name}_out"
        instances = []
        for i in m.order:
            mem, k = members[i], kernels[i]
            conns = []
            for p in k.ports(mem):
                sig = top_of[(i, p.name)].rtl if (i, p.name) in top_of else wire[(i, p.name)]
                hls = top_of[(i, p.name)].name if (i, p.name) in top_of else wire[(i, p.name)]
                conns.append({"port": p.rtl, "signal": sig, "hls": hls})
            instances.append({"module": k.rtl_top(mem), "name": f"u_{mem.design_name}", "conns": conns,
                              "hls_args": [c["hls"] for c in conns] + [s.name for s in k.hls_scalars(mem)],
                              "adapters_after": [a.name for a in m.adapters if a.src == i]})
        units = self.units_scalar(spec)
        adapters = [{**asdict(a), "in_bits": a.in_bits, "out_bits": a.out_bits, "in_msb": a.in_bits - 1,
                     "out_msb": a.out_bits - 1, "ibw": index_bits(a.in_beats), "obw": index_bits(a.out_beats),
                     "written": min(a.in_n * a.in_beats, a.elements),
                     "n_values": max(a.in_n * a.in_beats, a.out_n * a.out_beats),
                     "in_last": a.in_beats - 1, "out_last": a.out_beats - 1,
                     "units": units or "1", "max_units": self.units_per_call(spec) or 1}
                    for a in m.adapters]
        ports = [{"name": top.name, "rtl": top.rtl, "is_in": top.direction == "in", "msb": top.beat_bits - 1,
                  "beat_bits": top.beat_bits} for _, _, top in tops]
        return {"top": spec.design_name, "m": m, "ports": ports, "instances": instances, "adapters": adapters,
                "scalars": [{"name": s.name, "ctype": s.ctype} for s in self.hls_scalars(spec)],
                "member_headers": [mem.design_name for mem in members], "adapter_module": ADAPTER_MODULE,
                "description": " -> ".join(m.members[i] for i in m.order)}

    def outputs(self, backend):
        if backend == "hls":
            return [("composed/hls/top.h.j2", "hls/{top}.h"), ("composed/hls/top.cpp.j2", "hls/{top}.cpp")]
        return [("composed/rtl/top.v.j2", "rtl/{top}.v"), (f"lib/rtl/{ADAPTER_MODULE}.v", f"rtl/{ADAPTER_MODULE}.v")]

    def files(self, spec, backend):
        members, kernels, _ = self._parts(spec)
        files: dict[str, str] = {}
        for k, mem in zip(kernels, members):
            for path, text in k.files(mem, backend).items():
                if path in files and files[path] != text:
                    raise UserError("kernels", f"two members write different {path}; give them distinct names")
                files[path] = text
        files.update(super().files(spec, backend))
        return files

    # --- surrogate and design spaces -------------------------------------------------------------
    def graph(self, spec):
        from ..surrogate.compose import build_composed
        return build_composed(self, spec)

    def space_params(self):
        return ("chain", "dims", "dims_fields", "members", "common")

    def draw(self, params, draw_value, rng):
        """A random chain: `chain` members (a domain, default 2), each drawn from the sub-spaces in `members`
        ([{kind, weight, params}]), plus the `common` parameters; consecutive members share a dimension drawn
        from `dims`, set as the fields `dims_fields` (default [K, N]: producer N = consumer K)."""
        n = int(draw_value(params.get("chain", 2), rng))
        k_field, n_field = params.get("dims_fields", ["K", "N"])
        dims = [draw_value(params["dims"], rng) for _ in range(n + 1)]
        subs = params["members"]
        kernels = []
        for i in range(n):
            sub = subs[rng.choices(range(len(subs)), weights=[float(s.get("weight", 1)) for s in subs])[0]]
            k = {"kind": sub["kind"]}
            for name in sorted(sub.get("params", {})):
                k[name] = draw_value(sub["params"][name], rng)
            for name in sorted(params.get("common", {})):
                k[name] = draw_value(params["common"][name], rng)
            k[k_field], k[n_field] = dims[i], dims[i + 1]
            k["name"] = f"k{i}"
            kernels.append(k)
        return {"kernels": kernels, "streams": [{"from": f"k{i}", "to": f"k{i + 1}"} for i in range(n - 1)]}


def adapt(a: Adapter, y: np.ndarray) -> np.ndarray:
    """The adapter's arithmetic on a producer's outputs [units, elements]: (y >> shift), wrapped to out_w bits."""
    v = (np.asarray(y, dtype=np.int64) >> a.shift) & ((1 << a.out_w) - 1)
    v = np.where(v >= 1 << (a.out_w - 1), v - (1 << a.out_w), v)
    return v[:, : a.elements]


def _topological(n: int, edges: list[tuple[int, int]]) -> list[int]:
    order, indeg = [], [0] * n
    for _, b in edges:
        indeg[b] += 1
    ready = [i for i in range(n) if indeg[i] == 0]
    while ready:
        i = ready.pop(0)
        order.append(i)
        for a, b in edges:
            if a == i:
                indeg[b] -= 1
                if indeg[b] == 0:
                    ready.append(b)
    if len(order) != n:
        raise UserError("streams", "streams form a cycle")
    return order
