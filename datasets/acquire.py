"""Which points of a design space to synthesize next (`hwgen dataset build --acquire ...`).

- `uniform`: the space's own sampler (prefix-stable in n), as before.
- `uncertainty`: draw a candidate pool of `pool` x n distinct points with the same sampler, ask the surrogate for
  its predictive uncertainty (the ensemble's log-scale sigma of one target, LUT by default) on every candidate,
  and spend synthesis on the n the model is least sure about. Points of the pool already in the dataset count
  first (a rerun with the same model resumes the same selection; a retrained model picks new points).

The score is the ensemble disagreement plus the model's out-of-range inflation (surrogate/model.py), i.e. what
`hwgen surrogate predict` reports as `log_sigma`; designs the model has never seen the like of score highest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from hwgen.errors import UserError

ACQUIRE_CHOICES = ("uniform", "uncertainty")
DEFAULT_POOL = 8
SCORE_BATCH = 2048


@dataclass(frozen=True)
class Acquisition:
    mode: str = "uniform"
    pool: int = DEFAULT_POOL          # candidates drawn per point to build (uncertainty only)
    target: str = "lut"               # the target whose uncertainty is scored
    model_dir: str | None = None      # surrogate to ask (default: the shipped one)

    def check(self) -> "Acquisition":
        if self.mode not in ACQUIRE_CHOICES:
            raise UserError("acquire", f"unknown mode {self.mode!r}; allowed: {', '.join(ACQUIRE_CHOICES)}")
        if not 2 <= self.pool <= 1000:
            raise UserError("pool", f"must be in 2..1000 (got {self.pool})")
        from hwgen.surrogate.model import TARGETS

        if self.target not in TARGETS:
            raise UserError("acquire-target", f"unknown target {self.target!r}; allowed: {', '.join(TARGETS)}")
        return self

    def pool_size(self, n: int) -> int:
        return n if self.mode == "uniform" else n * self.pool


def uncertainty_scores(points: Sequence[dict], acq: Acquisition) -> list[float]:
    """The surrogate's log-scale sigma of `acq.target` for every point (spec dicts)."""
    from hwgen.surrogate.predict import predict_specs

    rows = predict_specs(points, acq.model_dir, batch_size=SCORE_BATCH, targets=[acq.target])
    return [r[acq.target]["log_sigma"] for r in rows]


def select(points: Sequence[dict], done: Sequence[bool], n: int, acq: Acquisition) -> tuple[list[int], dict]:
    """Indices (into `points`, in pool order) of the n points to hold in the dataset, and {index: score}.

    uniform: the first n. uncertainty: every point already done, then the highest-scoring others (ties by pool
    order), n in all."""
    if acq.mode == "uniform":
        return list(range(min(n, len(points)))), {}
    already = [i for i, d in enumerate(done) if d]
    if len(already) >= n:
        return already[:n], {}
    rest = [i for i, d in enumerate(done) if not d]
    scores = dict(zip(rest, uncertainty_scores([points[i] for i in rest], acq)))
    chosen = sorted(rest, key=lambda i: (-scores[i], i))[: n - len(already)]
    return sorted(already + chosen), {i: scores[i] for i in chosen}
