"""Baselines outside hwgen's kernels, built through the same open flows for comparison (bench/)."""
