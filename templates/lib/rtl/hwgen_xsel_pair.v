// hwgen library: the expert naive adder's first level (hwgen/kernels/naive_expert.py): two +a / 0 / -a
// selects fused into one carry-chain adder, one LUT6_2 per activation bit. Weight code c: c[0] = nonzero,
// c[1] = negate (01: +1, 11: -1, 00: 0). The LUT gives the ones' complement selects' propagate
// u0 ^ u1 (O6) and u0 (O5); ci adds the +1 of a0's negation (a1's is added further up the tree).
// s = u0 + u1 + ci, ACT_BITS + 1 bits; the sign bit reuses the top LUT (sign extension).
`timescale 1ns/1ps
module hwgen_xsel_pair #(
    parameter ACT_BITS = 8,
    parameter CARRY = "CARRY8",          // CARRY8 | CARRY4
    parameter [63:0] INIT = 64'h0        // pair LUT function, computed in Python (xilinx_prims.PAIR_INIT)
) (
    input  wire [ACT_BITS-1:0] a0,
    input  wire [1:0]          c0,
    input  wire [ACT_BITS-1:0] a1,
    input  wire [1:0]          c1,
    input  wire                ci,
    output wire [ACT_BITS:0]   s
);
    wire [ACT_BITS-1:0] p, g;
    genvar j;
    generate
        for (j = 0; j < ACT_BITS; j = j + 1) begin : g_bit
            LUT6_2 #(.INIT(INIT)) u_lut (.I0(a0[j]), .I1(c0[0]), .I2(c0[1]), .I3(a1[j]), .I4(c1[1]), .I5(c1[0]),
                                         .O6(p[j]), .O5(g[j]));
        end
    endgenerate
    hwgen_carry_chain #(.W(ACT_BITS + 1), .CARRY(CARRY)) u_chain (.s({p[ACT_BITS-1], p}), .di({g[ACT_BITS-1], g}), .ci(ci), .o(s));
endmodule
