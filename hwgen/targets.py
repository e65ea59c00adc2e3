"""Target devices: part, family, resources, off-chip bandwidth, default clock."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from .errors import UserError


class Target(BaseModel):
    name: str
    board: str
    part: str
    family: Literal["ultrascale+", "7series"]
    lut: int
    ff: int
    dsp: int
    bram36: int
    uram: int
    mem_bw_gbps: float  # off-chip memory bandwidth the kernels can stream from, GB/s
    mem_desc: str
    default_clock_mhz: float
    # capacity of the memory that mem_bw_gbps is measured on: what must hold the weights and the K/V cache
    mem_capacity_gb: float
    mem_capacity_desc: str

    @property
    def yosys_family(self) -> str:
        return "xcup" if self.family == "ultrascale+" else "xc7"

    def capacity(self) -> dict[str, int]:
        # LUTRAM shares LUT sites; CARRY is not a capacity constraint we check.
        return {"lut": self.lut, "ff": self.ff, "dsp": self.dsp, "bram36": self.bram36, "uram": self.uram}


# Resources from the AMD data sheets of each part; bandwidth is the board's peak off-chip memory rate
# (HBM2 / DDR4 / DDR3 width x transfer rate), before any efficiency factor.
TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target(name="u280", board="Alveo U280", part="xcu280-fsvh2892-2L-e", family="ultrascale+",
               lut=1303680, ff=2607360, dsp=9024, bram36=2016, uram=960,
               mem_bw_gbps=460.0, mem_desc="HBM2 8 GB, 32 x 14.375 GB/s", default_clock_mhz=300.0,
               mem_capacity_gb=8.0, mem_capacity_desc="HBM2 8 GB (the 460 GB/s memory; the 32 GB DDR4 of the card is not planned on)"),
        Target(name="kv260", board="Kria KV260", part="xck26-sfvc784-2LV-c", family="ultrascale+",
               lut=117120, ff=234240, dsp=1248, bram36=144, uram=64,
               mem_bw_gbps=19.2, mem_desc="DDR4 64-bit, 19.2 GB/s peak", default_clock_mhz=250.0,
               mem_capacity_gb=4.0, mem_capacity_desc="DDR4 4 GB on the K26 SOM, shared with the Linux of the APU"),
        Target(name="zcu104", board="ZCU104", part="xczu7ev-ffvc1156-2-e", family="ultrascale+",
               lut=230400, ff=460800, dsp=1728, bram36=312, uram=96,
               mem_bw_gbps=19.2, mem_desc="DDR4 64-bit (PS), 19.2 GB/s peak", default_clock_mhz=300.0,
               mem_capacity_gb=2.0, mem_capacity_desc="PS DDR4 2 GB SODIMM"),
        Target(name="zcu102", board="ZCU102", part="xczu9eg-ffvb1156-2-e", family="ultrascale+",
               lut=274080, ff=548160, dsp=2520, bram36=912, uram=0,
               mem_bw_gbps=19.2, mem_desc="DDR4 64-bit (PS), 19.2 GB/s peak", default_clock_mhz=300.0,
               mem_capacity_gb=4.0, mem_capacity_desc="PS DDR4 4 GB SODIMM (the 512 MB PL DDR4 is not planned on)"),
        Target(name="u250", board="Alveo U250", part="xcu250-figd2104-2L-e", family="ultrascale+",
               lut=1728000, ff=3456000, dsp=12288, bram36=2688, uram=1280,
               mem_bw_gbps=76.8, mem_desc="DDR4 4 x 19.2 GB/s", default_clock_mhz=300.0,
               mem_capacity_gb=64.0, mem_capacity_desc="DDR4 4 x 16 GB"),
        Target(name="pynq-z2", board="PYNQ-Z2", part="xc7z020clg400-1", family="7series",
               lut=53200, ff=106400, dsp=220, bram36=140, uram=0,
               mem_bw_gbps=4.2, mem_desc="DDR3 32-bit 1066 MT/s", default_clock_mhz=100.0,
               mem_capacity_gb=0.5, mem_capacity_desc="DDR3 512 MB, shared with the Linux of the APU"),
    ]
}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise UserError("target", f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None
