// hwgen library: one output lane's stage 2 for the weight-streaming TLMM: register the lane sum and accumulate
// it over the chunks in a memory of DEPTH partial sums (M_max tokens x NBLOCKS) with a registered read: the
// partial sum is read one stage before stage 2 (raddr) and written back at stage 2 (waddr). An address recurs only after a
// whole chunk of the call (>= BUILD_STEPS + NBLOCKS >= 3 cycles), so the read never misses a pending write.
`timescale 1ns/1ps
module hwgen_lane_acc_sync #(
    parameter LANE_BITS = 1,
    parameter ACC_BITS = 1,
    parameter DEPTH = 1,
    parameter AW = 1,
    parameter RAM_STYLE = "distributed"
) (
    input  wire                        clk,
    input  wire                        en,
    input  wire signed [LANE_BITS-1:0] sum,     // stage 1 result (adder-tree root)
    input  wire                        valid,   // stage 2 holds a lookup
    input  wire                        first,   // stage 2: first chunk, the sum starts from 0
    input  wire [AW-1:0]               raddr,   // the address one stage before stage 2
    input  wire [AW-1:0]               waddr,   // stage 2 address
    output wire signed [ACC_BITS-1:0]  total
);
    reg signed [LANE_BITS-1:0] s2_sum;
    always @(posedge clk) if (en) s2_sum <= sum;
    wire [ACC_BITS-1:0] prev_r;
    hwgen_sdp_ram #(.WIDTH(ACC_BITS), .DEPTH(DEPTH), .AW(AW), .RAM_STYLE(RAM_STYLE))
        u_mem (.clk(clk), .we(en && valid), .waddr(waddr), .wdata(total), .re(en), .raddr(raddr), .rdata(prev_r));
    wire signed [ACC_BITS-1:0] prev = first ? 0 : $signed(prev_r);
    assign total = prev + s2_sum;
endmodule
