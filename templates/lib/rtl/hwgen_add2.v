// hwgen library: binary adder s = a + b + c0 + ci modulo 2^W (operands sign-extended), one LUT6_2 per result bit
// on one carry chain (the expert naive's tree, hwgen/kernels/naive_expert.py). The LUTs add the carry-save form
// S + 2C (S = a ^ b ^ c0, C = majority; c0 only at bit 0): O6 = S_j ^ C_j-1 (propagate), O5 = S_j (generate
// operand); each bit's LUT computes the carry of the bit below itself, so the path is one LUT deep (hwgen_add3
// with c = 0 would chain two). c0 and ci add two 1-bit operands for free. INITs: hwgen/kernels/xilinx_prims.py.
`timescale 1ns/1ps
module hwgen_add2 #(
    parameter AW = 8,
    parameter BW = 8,
    parameter W = 9,
    parameter CARRY = "CARRY8",          // CARRY8 | CARRY4
    parameter [63:0] INIT0 = 64'h0,      // bit 0, bit 1, bits >= 2 (xilinx_prims.ADD2_INITS)
    parameter [63:0] INIT1 = 64'h0,
    parameter [63:0] INITN = 64'h0
) (
    input  wire [AW-1:0] a,
    input  wire [BW-1:0] b,
    input  wire          c0,
    input  wire          ci,
    output wire [W-1:0]  s
);
    wire signed [W-1:0] ax = $signed(a);    // sign-extended
    wire signed [W-1:0] bx = $signed(b);
    wire [W-1:0] p, g;
    LUT6_2 #(.INIT(INIT0)) u_lut0 (.I0(ax[0]), .I1(bx[0]), .I2(c0), .I3(1'b0), .I4(1'b0), .I5(1'b1),
                                   .O6(p[0]), .O5(g[0]));
    LUT6_2 #(.INIT(INIT1)) u_lut1 (.I0(ax[1]), .I1(bx[1]), .I2(ax[0]), .I3(bx[0]), .I4(c0), .I5(1'b1),
                                   .O6(p[1]), .O5(g[1]));
    genvar j;
    generate
        for (j = 2; j < W; j = j + 1) begin : g_bit
            LUT6_2 #(.INIT(INITN)) u_lut (.I0(ax[j]), .I1(bx[j]), .I2(ax[j-1]), .I3(bx[j-1]), .I4(1'b0), .I5(1'b1),
                                          .O6(p[j]), .O5(g[j]));
        end
    endgenerate
    hwgen_carry_chain #(.W(W), .CARRY(CARRY)) u_chain (.s(p), .di(g), .ci(ci), .o(s));
endmodule
