// hwgen library: the naive kernel's select stage: per weight +a, 0 or -a (2-bit code 01 -> +1,
// 11 -> -1, else 0); leaf i (LEAF_BITS, one more than ACT_BITS for -(-2^(ACT_BITS-1))) at i*LEAF_BITS.
`timescale 1ns/1ps
module hwgen_naive_select #(
    parameter P_K = 1,                // activations per cycle
    parameter ACT_BITS = 2,
    parameter LEAF_BITS = 3
) (
    input  wire [2*P_K-1:0]         word,
    input  wire [P_K*ACT_BITS-1:0]  x,
    output wire [P_K*LEAF_BITS-1:0] leaves
);
    genvar i;
    generate
        for (i = 0; i < P_K; i = i + 1) begin : g_sel
            wire [1:0] code = word[i * 2 +: 2];
            wire signed [ACT_BITS-1:0] a = x[i * ACT_BITS +: ACT_BITS];
            wire signed [LEAF_BITS-1:0] lf = code == 2'b01 ? a : code == 2'b11 ? -a : 0;
            assign leaves[i * LEAF_BITS +: LEAF_BITS] = lf;
        end
    endgenerate
endmodule
