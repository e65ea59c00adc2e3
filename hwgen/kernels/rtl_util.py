"""Structural decisions for the Verilog renderers (kept in Python, templates only substitute)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TreeNode:
    name: str
    bits: int
    a: str
    b: str


def adder_tree(n_leaves: int, leaf_bits: int, max_bits: int, leaf_prefix: str = "lf") -> tuple[list[TreeNode], str, int]:
    """Balanced binary adder tree over signed leaves `{leaf_prefix}_{i}`.

    Each level adds neighbouring pairs; a sum grows one bit (capped at max_bits, the width the
    bound analysis proved sufficient). Returns the nodes in dependency order, the root name and its width.
    """
    level = [(f"{leaf_prefix}_{i}", leaf_bits) for i in range(n_leaves)]
    nodes: list[TreeNode] = []
    depth = 0
    while len(level) > 1:
        depth += 1
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (a, wa), (b, wb) = level[i], level[i + 1]
            node = TreeNode(f"s{depth}_{i // 2}", min(max(wa, wb) + 1, max_bits), a, b)
            nodes.append(node)
            nxt.append((node.name, node.bits))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return nodes, level[0][0], level[0][1]
