"""hwgen's ternary table-lookup matmul (TLMM) as an hls4ml extension.

    import hwgen.hls4ml            # registers it (an `hls4ml.backends` entry point also loads it with hls4ml)
    hls_model = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, io_type="io_stream")

A Dense / QDense whose weights are ternary ({-1, 0, 1} x alpha per output) becomes a TLMMDense; per layer,
`hls_config["LayerName"][name]["TLMM"] = {"G": 3, "T": 8, "Q": 4}` sets the kernel (True forces TLMM with the
defaults, False keeps hls4ml's Dense); `Strategy` set on a layer keeps hls4ml's Dense. Only this package imports
hls4ml and TensorFlow; the rest of hwgen never does.
"""
from __future__ import annotations


def plugin(register_backend=None, register_writer=None) -> None:
    """The `hls4ml.backends` entry point: hls4ml calls it while importing its backends (after the built-in
    ones are registered). It adds passes and templates to the Vivado/Vitis backends, no new backend."""
    from .extension import register

    register()


from .extension import TLMMFallbackWarning, layer_table, register, write_tlmm_specs  # noqa: E402

register()

__all__ = ["plugin", "register", "layer_table", "write_tlmm_specs", "TLMMFallbackWarning"]
