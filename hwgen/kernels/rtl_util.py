"""Structural decisions for the Verilog renderers (kept in Python, templates only substitute)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class TreeNode:
    name: str
    bits: int
    a: str
    b: str | None = None   # None: a register node, name <= a
    reg: bool = False
    c: str | None = None   # third operand (arity-3 trees; 1'b0 for a two-operand node there)
    operand_bits: tuple = ()   # widths of a, b (, c) (arity-3 trees: the primitive adder's parameters)


@dataclass(frozen=True)
class AdderTree:
    nodes: tuple[TreeNode, ...]  # dependency order (shared between callers: memoised, never mutated)
    root: str
    width: int
    stages: int            # register stages on every leaf-to-root path


def build_adder_tree(leaf_bits: list[int], max_bits: int, leaf_prefix: str = "lf", stage_levels: int = 0,
                     root_reg: str | None = None, node_prefix: str = "s", cut_levels=(), arity: int = 2) -> AdderTree:
    """Balanced binary adder tree over signed leaves `{leaf_prefix}_{i}` of the given widths.

    Each level adds neighbouring pairs (nodes {node_prefix}{level}_{i}); an odd last value passes to the next level.
    A sum grows one bit, capped at max_bits, the width the bound analysis proved sufficient for the final
    sum: above a capped node every node is max_bits wide, so the arithmetic there is modulo 2^max_bits and
    the (in-range) result is exact.
    stage_levels > 0 registers every value alive after each stage_levels levels (r{level}_{j}, pass-through
    values included, so all paths have the same latency) unless one value is left; root_reg names a
    max_bits register for the root (one more stage). cut_levels: register every value alive after each listed
    level instead (0: the leaves themselves), as long as more than one value is left.
    """
    return _build_adder_tree(tuple(leaf_bits), max_bits, leaf_prefix, stage_levels, root_reg, node_prefix,
                             tuple(cut_levels), arity)


@lru_cache(maxsize=8192)
def _build_adder_tree(leaf_bits: tuple, max_bits: int, leaf_prefix: str, stage_levels: int, root_reg, node_prefix: str,
                      cut_levels: tuple, arity: int) -> AdderTree:
    """build_adder_tree, memoised: the surrogate builds the same lane trees for thousands of designs a second."""
    level = [(f"{leaf_prefix}_{i}", bits) for i, bits in enumerate(leaf_bits)]
    nodes: list[TreeNode] = []
    depth = stages = 0
    if 0 in cut_levels and len(level) > 1:
        stages += 1
        regs = [TreeNode(f"r0_{j}", w, a, reg=True) for j, (a, w) in enumerate(level)]
        nodes.extend(regs)
        level = [(r.name, r.bits) for r in regs]
    while len(level) > 1:
        depth += 1
        nxt = []
        if arity == 3:
            for j, i in enumerate(range(0, len(level) - 1, 3)):
                ops = level[i:i + 3]
                bits = min(max(w for _, w in ops) + len(ops) - 1, max_bits)
                if len(ops) == 2:   # a pair: the same primitive adder with c = 0
                    ops = [*ops, ("1'b0", 1)]
                (a, wa), (b, wb), (c, wc) = ops
                node = TreeNode(f"{node_prefix}{depth}_{j}", bits, a, b, c=c, operand_bits=(wa, wb, wc))
                nodes.append(node)
                nxt.append((node.name, node.bits))
            if len(level) % 3 == 1:
                nxt.append(level[-1])
        else:
            for i in range(0, len(level) - 1, 2):
                (a, wa), (b, wb) = level[i], level[i + 1]
                node = TreeNode(f"{node_prefix}{depth}_{i // 2}", min(max(wa, wb) + 1, max_bits), a, b)
                nodes.append(node)
                nxt.append((node.name, node.bits))
            if len(level) % 2:
                nxt.append(level[-1])
        level = nxt
        if ((stage_levels and depth % stage_levels == 0) or depth in cut_levels) and len(level) > 1:
            stages += 1
            regs = [TreeNode(f"r{depth}_{j}", w, a, reg=True) for j, (a, w) in enumerate(level)]
            nodes.extend(regs)
            level = [(r.name, r.bits) for r in regs]
    if root_reg is not None:
        stages += 1
        nodes.append(TreeNode(root_reg, max_bits, level[0][0], reg=True))
        level = [(root_reg, max_bits)]
    return AdderTree(tuple(nodes), level[0][0], level[0][1], stages)


def adder_tree(leaf_bits: list[int], max_bits: int, leaf_prefix: str = "lf") -> tuple[list[TreeNode], str, int]:
    """The unregistered tree (build_adder_tree without stages): its nodes, root name and root width."""
    t = build_adder_tree(leaf_bits, max_bits, leaf_prefix)
    return list(t.nodes), t.root, t.width


@dataclass(frozen=True)
class BuildStep:
    index: int     # table entry written this cycle
    digit: int     # activation whose +/- a is added to the running partial sum
    op: int        # 0: write 0 (first step), 1: add a[digit], 2: subtract a[digit]


def build_walk(G: int, indices: set[int] | None = None) -> list[BuildStep]:
    """Order in which a table of 3^G partial sums is filled with ONE adder per table.

    Consecutive entries differ in one weight by +-1, so each cycle adds or subtracts one activation
    from a running sum (a Gray-code walk over the 3^G grid). The walk starts at the all-zero-weight
    entry (value 0, no arithmetic) and must visit every index in `indices` (all entries for a full
    table, 0..(3^G-1)/2 for a mirror table). When the grid's parity forbids a Hamiltonian path from
    the centre, the search allows revisits; the result has the fewest steps it found.
    """
    full = 3**G
    allowed = set(range(full)) if indices is None else set(indices)
    center = (full - 1) // 2
    allowed.add(center)

    def neighbours(idx):
        out = []
        for i in range(G):
            d = (idx // 3**i) % 3
            for delta in (1, -1):
                if 0 <= d + delta <= 2 and idx + delta * 3**i in allowed:
                    out.append((idx + delta * 3**i, i, 1 if delta == 1 else 2))
        return out

    def search(extra: int, budget: list[int]):
        path = [(center, 0, 0)]
        seen = {center: 1}

        def rec(revisits_left):
            if len(seen) == len(allowed):
                return True
            budget[0] -= 1
            if budget[0] < 0:
                return False
            node = path[-1][0]
            # Warnsdorff: prefer unvisited neighbours with the fewest unvisited neighbours of their own.
            cand = sorted(neighbours(node), key=lambda n: (n[0] in seen, sum(m[0] not in seen for m in neighbours(n[0]))))
            for nxt, digit, op in cand:
                revisit = nxt in seen
                if revisit and revisits_left == 0:
                    continue
                path.append((nxt, digit, op))
                seen[nxt] = seen.get(nxt, 0) + 1
                if rec(revisits_left - revisit):
                    return True
                path.pop()
                seen[nxt] -= 1
                if not seen[nxt]:
                    del seen[nxt]
            return False

        return list(path) if rec(extra) else None

    import sys
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * full + 100))
    try:
        for extra in range(0, G + 1):
            walk = search(extra, [20000])
            if walk is not None:
                return [BuildStep(i, d, op) for i, d, op in walk]
    finally:
        sys.setrecursionlimit(limit)
    raise RuntimeError(f"no build walk found for G={G}")
