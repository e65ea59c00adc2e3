// hwgen library: sequential restoring divider, one quotient bit per step. The numerator enters
// serially, MSB first, on num_bit (2^n / den: num_bit = 1 in the first of n+1 steps, then 0);
// after the steps quo holds the low Q_BITS bits of the quotient.
`timescale 1ns/1ps
module hwgen_divider #(
    parameter DEN_BITS = 1,
    parameter Q_BITS = 2      // >= 2
) (
    input  wire clk,
    input  wire clear,        // remainder <= 0, before the first step
    input  wire step,
    input  wire num_bit,
    input  wire [DEN_BITS-1:0] den,
    output reg  [Q_BITS-1:0] quo
);
    reg [DEN_BITS:0] rem;
    wire [DEN_BITS+1:0] rem_sh = {rem, num_bit};
    wire ge = rem_sh >= {1'b0, den};
    wire [DEN_BITS+1:0] rem_sub = rem_sh - {1'b0, den};
    always @(posedge clk) begin
        if (clear) begin
            rem <= {(DEN_BITS+1){1'b0}};
        end else if (step) begin
            rem <= ge ? rem_sub[DEN_BITS:0] : rem_sh[DEN_BITS:0];
            quo <= {quo[Q_BITS-2:0], ge};
        end
    end
endmodule
