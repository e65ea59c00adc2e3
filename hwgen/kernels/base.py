"""What a kernel plugin provides. A new kernel is one module implementing this plus its templates."""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..spec import KernelSpec


class Kernel:
    """Base class of kernel plugins. Stages call these hooks; they never branch on `kind`."""

    kind: ClassVar[str]
    spec_model: ClassVar[type[KernelSpec]]
    template_dir: ClassVar[str]           # folder under templates/ holding hls/ and rtl/
    description: ClassVar[str] = ""

    # --- spec -> kernel model -------------------------------------------------
    def check(self, spec: KernelSpec) -> None:
        """Cross-field validation beyond pydantic; raise UserError."""

    def model(self, spec: KernelSpec) -> Any:
        """Derived micro-architecture (widths, depths, cycle counts)."""
        raise NotImplementedError

    # --- render ------------------------------------------------------------
    def render_context(self, spec: KernelSpec) -> dict:
        raise NotImplementedError

    def outputs(self, backend: str) -> list[tuple[str, str]]:
        """(template name relative to template_dir, output path relative to the project)."""
        raise NotImplementedError

    def rtl_top(self, spec: KernelSpec) -> str:
        raise NotImplementedError

    # --- data --------------------------------------------------------------
    def random_inputs(self, spec: KernelSpec, rng: np.random.Generator, vectors: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def load_inputs(self, spec: KernelSpec, path: Path) -> dict[str, np.ndarray]:
        """Read and validate a user's IN.npz; raise UserError on bad shapes/values."""
        raise NotImplementedError

    def golden(self, spec: KernelSpec, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Bit-exact expected hardware output (integers)."""
        raise NotImplementedError

    def write_vectors(self, spec: KernelSpec, inputs: dict[str, np.ndarray], folder: Path) -> None:
        """Write the stimulus files the C++ and RTL test benches read."""
        raise NotImplementedError

    def read_hw_output(self, spec: KernelSpec, inputs: dict[str, np.ndarray], folder: Path) -> np.ndarray:
        raise NotImplementedError

    def user_output(self, spec: KernelSpec, inputs: dict[str, np.ndarray], hw_out: np.ndarray) -> np.ndarray:
        """What --output receives (integers for matmul, dequantized floats for attention)."""
        return hw_out

    def extra_metrics(self, spec: KernelSpec, inputs: dict[str, np.ndarray], hw_out: np.ndarray) -> dict:
        return {}

    def vector_count(self, inputs: dict[str, np.ndarray]) -> int:
        raise NotImplementedError

    # --- estimates -----------------------------------------------------------
    def expected_cycles(self, spec: KernelSpec, inputs: dict[str, np.ndarray]) -> int | None:
        return None

    def setup_cycles(self, spec: KernelSpec) -> int:
        """Cycles a test bench spends before the first input can flow (e.g. streaming the weights in)."""
        return 0
