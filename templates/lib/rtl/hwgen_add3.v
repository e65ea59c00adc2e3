// hwgen library: ternary adder s = a + b + c + y0 + ci (signed, modulo 2^W) in one LUT6_2 per bit and one carry
// chain. Bit i's LUT6_2 (I5 = 1, both outputs) sees a[i], b[i], c[i] and m[i], the carry-save carry of bit i-1
// (y0 at bit 0):
//   O5 = m[i+1] = majority(a[i], b[i], c[i])          (to bit i+1's LUT and carry DI)
//   O6 = p[i]   = a[i] ^ b[i] ^ c[i] ^ m[i]           (carry-chain propagate)
// so the chain adds the 3:2 compressor's sum and carry vectors: with p[i] = 0 the two bits are equal and
// generate the carry m[i] (DI). y0 and ci add two 1-bit operands for free (the expert naive's negation
// corrections; 0 in the TLMM). INIT is computed in Python (hwgen/kernels/xilinx_prims.py: TERNARY_INIT).
`timescale 1ns/1ps
module hwgen_add3 #(
    parameter AW = 1,
    parameter BW = 1,
    parameter CW = 1,
    parameter W = 2,                  // result bits (the bound analysis proved the sum fits)
    parameter CARRY = "CARRY8",       // CARRY8 | CARRY4
    parameter [63:0] INIT = 64'h0     // the LUT6_2 function above
) (
    input  wire signed [AW-1:0] a,
    input  wire signed [BW-1:0] b,
    input  wire signed [CW-1:0] c,
    input  wire                 y0,
    input  wire                 ci,
    output wire signed [W-1:0]  s
);
    wire signed [W-1:0] x = a;        // sign-extended (or cut to W bits: the sum is taken modulo 2^W)
    wire signed [W-1:0] y = b;
    wire signed [W-1:0] z = c;
    wire [W:0] m;
    wire [W-1:0] p;
    assign m[0] = y0;
    genvar i;
    generate
        for (i = 0; i < W; i = i + 1) begin : g_bit
            LUT6_2 #(.INIT(INIT)) u_lut (.I0(x[i]), .I1(y[i]), .I2(z[i]), .I3(m[i]), .I4(1'b0), .I5(1'b1),
                                         .O6(p[i]), .O5(m[i + 1]));
        end
    endgenerate
    hwgen_carry_chain #(.W(W), .CARRY(CARRY)) u_chain (.s(p), .di(m[W-1:0]), .ci(ci), .o(s));
endmodule
