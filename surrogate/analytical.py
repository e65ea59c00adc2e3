"""The analytical model (FINN-style): a design's estimate is the sum of its hardware graph's per-block cost
terms (each kernel's graph builder, combining the primitives of surrogate/costs.py); latency and II come from
the kernel's performance contract. The GNN learns the residual log(target) - log(estimate)."""
from __future__ import annotations

from .costs import RES, TARGETS  # noqa: F401  (re-exported: the targets every estimate has)


def estimate(spec_or_dict) -> dict[str, float]:
    """Analytical estimate of all 8 targets for a spec (pydantic spec or spec dict)."""
    from .features import build_ir

    return build_ir(spec_or_dict).analytical()


def estimate_many(specs) -> list[dict[str, float]]:
    return [estimate(s) for s in specs]
