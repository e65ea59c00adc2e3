"""The one place kernels are registered."""
from __future__ import annotations

from ..errors import UserError
from .base import Kernel

_KERNELS: dict[str, Kernel] = {}


def register(kernel_cls: type[Kernel]) -> type[Kernel]:
    _KERNELS[kernel_cls.kind] = kernel_cls()
    return kernel_cls


def _load_builtin() -> None:
    # Importing a kernel module registers it; importing one directly must not hide the others.
    from . import tlmm  # noqa: F401  (registers tlmm, tlmm_naive)
    from . import attention  # noqa: F401  (registers attention_decode, attention_prefill)


def kinds() -> list[str]:
    _load_builtin()
    return sorted(_KERNELS)


def get(kind: str) -> Kernel:
    _load_builtin()
    try:
        return _KERNELS[kind]
    except KeyError:
        raise UserError("kind", f"unknown kind {kind!r}; allowed: {', '.join(sorted(_KERNELS))}") from None
