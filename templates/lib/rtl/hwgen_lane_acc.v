// hwgen library: one output lane's stage 2: register the lane sum, accumulate it over the chunks in a
// LUTRAM of NBLOCKS partial sums. `total` is the running sum, emitted on the last chunk.
`timescale 1ns/1ps
module hwgen_lane_acc #(
    parameter LANE_BITS = 1,          // lane sum width (bound analysis)
    parameter ACC_BITS = 1,           // accumulator width (bound analysis)
    parameter NBLOCKS = 1,
    parameter NW = 1
) (
    input  wire                        clk,
    input  wire                        en,
    input  wire signed [LANE_BITS-1:0] sum,     // stage 1 result (adder-tree root)
    input  wire                        valid,
    input  wire                        first,
    input  wire [NW-1:0]               nb,
    output wire signed [ACC_BITS-1:0]  total
);
    localparam LAST_NB = NBLOCKS - 1;
    reg signed [LANE_BITS-1:0] s2_sum;
    always @(posedge clk) if (en) s2_sum <= sum;
    (* ram_style = "distributed" *) reg signed [ACC_BITS-1:0] acc [0:LAST_NB];
    wire signed [ACC_BITS-1:0] prev = first ? 0 : acc[nb];
    assign total = prev + s2_sum;
    always @(posedge clk) if (en && valid) acc[nb] <= total;
endmodule
