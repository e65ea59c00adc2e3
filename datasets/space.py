"""Design spaces for dataset builds and design search, declared in YAML.

A space is either one kernel kind or a list of weighted sub-spaces (which inherit the top level's
`targets`, `params` and `constraints`)::

    name: tlmm
    targets: [kv260, u280]
    constraints: {max_macs_per_cycle: 4096}
    spaces:
      - kind: tlmm
        weight: 3
        params:
          G: [2, 3, 4]                      # a list: pick one value
          T: {min: 1, max: 32, log: true}   # an integer range, log-uniform
          K: {min: 32, max: 1536, log: true}
          table_style: [full, mirror]
          act_bits: 8                       # a scalar: fixed
      - kind: tlmm_naive
        params: {P_k: {min: 1, max: 96}, P_n: {min: 1, max: 32}}

A kernel draws its own points from the sub-space's params (`Kernel.draw`; by default each parameter
independently; a composition draws chains of member kernels, see hwgen/kernels/composed.py).

Bounds (`constraints:`) act on the kernel's derived model (`kernel.model(spec)`): `max_macs_per_cycle` /
`min_macs_per_cycle` are shorthands for `model_max: {macs_per_cycle: ...}` / `model_min`, and any
numeric model attribute, or a product / quotient of them (`wbuf_depth*lanes*word_bits`,
`len_max*groups/npe`), may be bounded.
Invalid combinations (a UserError from `hwgen.spec.parse_spec`, or a violated constraint) are
skipped and drawn again.

Sampling is deterministic and prefix-stable: `sample(space, n + k, seed)[:n] == sample(space, n, seed)`,
so a dataset build can be grown by rerunning it with a larger n.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from hwgen.errors import UserError
from hwgen.spec import read_yaml

__all__ = ["IntRange", "ModelBounds", "SubSpace", "DesignSpace", "load_space", "parse_space", "sample",
           "enumerate_space", "space_size"]

RESERVED = ("kind", "target", "name")


class IntRange(BaseModel):
    """An integer range, inclusive; `log: true` samples log-uniformly (small values as often as large octaves)."""

    model_config = ConfigDict(extra="forbid")
    min: int
    max: int
    log: bool = False

    @model_validator(mode="after")
    def _check(self):
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) < min ({self.min})")
        if self.log and self.min < 1:
            raise ValueError(f"log ranges need min >= 1 (got {self.min})")
        return self

    def draw(self, rng: random.Random) -> int:
        if not self.log or self.min == self.max:
            return rng.randint(self.min, self.max)
        # log-uniform over [min, max + 1): P(v) proportional to ln((v + 1) / v)
        v = int(math.exp(rng.uniform(math.log(self.min), math.log(self.max + 1))))
        return min(max(v, self.min), self.max)

    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1))


def _structured(value):
    """A mapping that is not an integer range is a structured value (a kernel's own draw reads it); one with
    range keys must be a valid range."""
    if isinstance(value, dict) and {"min", "max", "log"} & set(value):
        try:
            IntRange.model_validate(value)
        except ValidationError as err:
            raise ValueError(err.errors()[0].get("msg", "invalid range")) from None
    return value


Scalar = Union[bool, int, float, str]
Structured = Annotated[dict, BeforeValidator(_structured)]
# a list: pick one value; a mapping that is not a range: a structured value a kernel's own draw reads
Domain = Union[IntRange, list[Union[Scalar, Structured]], Scalar, Structured]


class ModelBounds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_macs_per_cycle: Optional[float] = None
    min_macs_per_cycle: Optional[float] = None
    model_max: dict[str, float] = Field(default_factory=dict)
    model_min: dict[str, float] = Field(default_factory=dict)

    def merged(self, other: "ModelBounds") -> "ModelBounds":
        """self overridden by other (a sub-space's own constraints win)."""
        return ModelBounds(
            max_macs_per_cycle=other.max_macs_per_cycle if other.max_macs_per_cycle is not None else self.max_macs_per_cycle,
            min_macs_per_cycle=other.min_macs_per_cycle if other.min_macs_per_cycle is not None else self.min_macs_per_cycle,
            model_max={**self.model_max, **other.model_max}, model_min={**self.model_min, **other.model_min})

    def bounds(self) -> tuple[dict[str, float], dict[str, float]]:
        lo, hi = dict(self.model_min), dict(self.model_max)
        if self.min_macs_per_cycle is not None:
            lo["macs_per_cycle"] = self.min_macs_per_cycle
        if self.max_macs_per_cycle is not None:
            hi["macs_per_cycle"] = self.max_macs_per_cycle
        return lo, hi

    def empty(self) -> bool:
        lo, hi = self.bounds()
        return not lo and not hi


class SubSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    weight: float = Field(1.0, gt=0)
    targets: Optional[list[str]] = None
    params: dict[str, Domain] = Field(default_factory=dict)
    constraints: ModelBounds = Field(default_factory=ModelBounds)


class DesignSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Optional[str] = None
    description: Optional[str] = None
    kind: Optional[str] = None
    targets: list[str] = Field(default_factory=lambda: ["kv260"])
    params: dict[str, Domain] = Field(default_factory=dict)
    constraints: ModelBounds = Field(default_factory=ModelBounds)
    spaces: Optional[list[SubSpace]] = None

    @model_validator(mode="after")
    def _one_form(self):
        if (self.kind is None) == (self.spaces is None):
            raise ValueError("give exactly one of `kind` (a single kernel) or `spaces` (a list of sub-spaces)")
        if self.spaces is not None and not self.spaces:
            raise ValueError("`spaces` is empty")
        return self

    def subspaces(self) -> list[SubSpace]:
        """Sub-spaces with the top level's targets, params and constraints folded in."""
        if self.kind is not None:
            return [SubSpace(kind=self.kind, targets=list(self.targets), params=dict(self.params),
                             constraints=self.constraints)]
        return [SubSpace(kind=s.kind, weight=s.weight, targets=list(s.targets or self.targets),
                         params={**self.params, **s.params}, constraints=self.constraints.merged(s.constraints))
                for s in self.spaces]

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- loading / checking

def _first_error(err: ValidationError, prefix: str = "space") -> UserError:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ()) if not str(p).startswith(("function-", "list[", "union[")))
    return UserError(f"{prefix}.{loc}" if loc else prefix, first.get("msg", "invalid value"))


def parse_space(data: Any) -> DesignSpace:
    """Validate a space dict; every error is a UserError naming the field."""
    if not isinstance(data, dict):
        raise UserError("space", "must be a YAML mapping with `kind:` or `spaces:`")
    try:
        space = DesignSpace.model_validate(data)
    except ValidationError as err:
        raise _first_error(err) from None
    _check_names(space)
    return space


def load_space(path: str | Path) -> DesignSpace:
    data = read_yaml(path, "space")
    return parse_space(data)


def _check_names(space: DesignSpace) -> None:
    from hwgen import kernels
    from hwgen.targets import get_target

    for i, sub in enumerate(space.subspaces()):
        where = "space" if space.kind is not None else f"space.spaces.{i}"
        try:
            kernel = kernels.get(sub.kind)
        except UserError as err:
            raise UserError(f"{where}.kind", err.message) from None
        if not sub.targets:
            raise UserError(f"{where}.targets", "is empty; list at least one target")
        for t in sub.targets:
            try:
                get_target(t)
            except UserError as err:
                raise UserError(f"{where}.targets", err.message) from None
        fields = kernel.space_params()
        for name, dom in sub.params.items():
            if name in RESERVED:
                raise UserError(f"{where}.params.{name}", "is set by the space itself (kind, targets), not a parameter")
            if name not in fields:
                allowed = ", ".join(n for n in fields if n not in RESERVED)
                raise UserError(f"{where}.params.{name}", f"unknown parameter of {sub.kind}; allowed: {allowed}")
            if isinstance(dom, list) and not dom:
                raise UserError(f"{where}.params.{name}", "empty list of values")


# ----------------------------------------------------------------------------- sampling

def _check_point(sub: SubSpace, data: dict, field_prefix: str = "constraints") -> Optional[dict]:
    """Validate one raw point; return the normalized spec dict, or None when invalid / out of bounds."""
    from hwgen import kernels

    try:
        spec = kernels.parse_spec(data)
    except UserError:
        return None
    lo, hi = sub.constraints.bounds()
    if lo or hi:
        model = kernels.get(sub.kind).model(spec)
        for attr, bound in lo.items():
            if _model_value(model, attr, sub.kind, field_prefix) < bound:
                return None
        for attr, bound in hi.items():
            if _model_value(model, attr, sub.kind, field_prefix) > bound:
                return None
    return spec.model_dump(mode="json", exclude_none=True), spec.design_key()


def _model_value(model, expr: str, kind: str, field_prefix: str) -> float:
    """A model attribute, or a product / quotient of attributes written `a*b/c` (left to right),
    e.g. `wbuf_depth*lanes*word_bits` or `len_max*len_max*groups*beats/npe`. Numbers are allowed too."""
    tokens = re.split(r"([*/])", expr.replace(" ", ""))
    value, op = 1.0, "*"
    for tok in tokens:
        if tok in ("*", "/"):
            op = tok
            continue
        try:
            v = float(tok)
        except ValueError:
            v = getattr(model, tok, None)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise UserError(f"{field_prefix}.{expr}", f"kernel {kind} has no numeric model attribute {tok!r}") from None
        if op == "/" and v == 0:
            raise UserError(f"{field_prefix}.{expr}", f"division by zero ({tok} = 0)")
        value = value * v if op == "*" else value / v
    return value


def _draw(dom: Domain, rng: random.Random):
    if isinstance(dom, IntRange):
        return dom.draw(rng)
    if isinstance(dom, list):
        return dom[rng.randrange(len(dom))]
    return dom


def sample(space: DesignSpace, n: int, seed: int = 0, max_tries: Optional[int] = None) -> list[dict]:
    """n distinct valid spec dicts (normalized: every field of the kernel's spec, None fields dropped).

    Deterministic for a given (space, seed) and prefix-stable in n. Returns fewer than n points when the
    space holds fewer valid distinct points than asked (after `max_tries` draws, default 200*n + 2000).
    """
    if n < 0:
        raise UserError("n", f"must be >= 0 (got {n})")
    subs = space.subspaces()
    weights = [s.weight for s in subs]
    from hwgen import kernels

    rng = random.Random(f"hwgen-space:{seed}")
    out: list[dict] = []
    seen: set[str] = set()
    tries = 0
    limit = max_tries if max_tries is not None else 200 * n + 2000
    while len(out) < n and tries < limit:
        tries += 1
        i = rng.choices(range(len(subs)), weights=weights)[0] if len(subs) > 1 else 0
        sub = subs[i]
        data = {"kind": sub.kind, "target": sub.targets[rng.randrange(len(sub.targets))]}
        data.update(kernels.get(sub.kind).draw(sub.params, _draw, rng))
        norm = _new_valid_point(sub, data, seen)
        if norm is not None:
            out.append(norm)
    return out


def _new_valid_point(sub, data: dict, seen: set[str]) -> Optional[dict]:
    """The normalized point if the kernel accepts it and it is not in `seen` (which it joins), else None."""
    checked = _check_point(sub, data)
    if checked is None:
        return None
    norm, key = checked
    if key in seen:
        return None
    seen.add(key)
    return norm


def _values(dom: Domain) -> list:
    if isinstance(dom, IntRange):
        return dom.values()
    if isinstance(dom, list):
        return list(dom)
    return [dom]


def space_size(space: DesignSpace) -> int:
    """Raw combinations (before validity checks) over all sub-spaces and targets."""
    total = 0
    for sub in space.subspaces():
        total += len(sub.targets) * math.prod(len(_values(d)) for d in sub.params.values())
    return total


def enumerate_space(space: DesignSpace, limit: Optional[int] = None) -> Iterator[dict]:
    """Every valid point of a space (normalized spec dicts, no duplicates) in a fixed order:
    sub-space, target, then the parameters' cartesian product (names sorted, values in declared order).
    Integer ranges enumerate every integer; bound huge spaces with `limit` (stop after that many)."""
    seen: set[str] = set()
    count = 0
    for sub in space.subspaces():
        names = sorted(sub.params)
        for target in sub.targets:
            for combo in itertools.product(*(_values(sub.params[n]) for n in names)):
                data = {"kind": sub.kind, "target": target, **dict(zip(names, combo))}
                norm = _new_valid_point(sub, data, seen)
                if norm is None:
                    continue
                yield norm
                count += 1
                if limit is not None and count >= limit:
                    return
