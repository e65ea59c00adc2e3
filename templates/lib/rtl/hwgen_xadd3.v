// hwgen library: the expert naive adder's ternary tree adder (hwgen/kernels/naive_expert.py):
// s = a + b + c + y0 + ci modulo 2^W (operands sign-extended), one LUT6_2 per result bit on a CARRY8 chain.
// Bit j's LUT gives the carry-save carry CS_j = majority(a_j, b_j, c_j) (O5, to bit j+1's LUT and DI) and
// the propagate a_j ^ b_j ^ c_j ^ CS_j-1 (O6); y0 stands in for CS_-1. y0 and ci carry negation corrections.
`timescale 1ns/1ps
module hwgen_xadd3 #(
    parameter WA = 8,
    parameter WB = 8,
    parameter WC = 8,
    parameter W = 10,
    parameter [63:0] INIT = 64'h0        // naive_expert.add3_init
) (
    input  wire [WA-1:0] a,
    input  wire [WB-1:0] b,
    input  wire [WC-1:0] c,
    input  wire          y0,
    input  wire          ci,
    output wire [W-1:0]  s
);
    wire signed [W-1:0] ax = $signed(a);    // sign-extended
    wire signed [W-1:0] bx = $signed(b);
    wire signed [W-1:0] cx = $signed(c);
    wire [W-1:0] p, cs;
    wire [W:0] below = {cs, y0};            // CS_j-1, y0 under bit 0
    genvar j;
    generate
        for (j = 0; j < W; j = j + 1) begin : g_bit
            LUT6_2 #(.INIT(INIT)) u_lut (.I0(ax[j]), .I1(bx[j]), .I2(cx[j]), .I3(below[j]), .I4(1'b0), .I5(1'b1),
                                         .O6(p[j]), .O5(cs[j]));
        end
    endgenerate
    hwgen_carry8_chain #(.W(W)) u_chain (.s(p), .di(below[W-1:0]), .ci(ci), .o(s));
endmodule
