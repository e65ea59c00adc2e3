// hwgen library module: one tensor buffer of the single layer top: NB banks (hwgen_sdp_ram) of W-bit words at
// shared addresses; a write enables any subset of banks, a read returns the whole word one cycle later.
`timescale 1ns/1ps
module hwgen_lt_buf #(
    parameter NB = 1, W = 8, DEPTH = 2, AW = 1, RAM_STYLE = "block"
) (
    input  wire clk,
    input  wire [NB-1:0] we,
    input  wire [AW-1:0] waddr,
    input  wire [NB*W-1:0] wdata,
    input  wire re,
    input  wire [AW-1:0] raddr,
    output wire [NB*W-1:0] rdata
);
    genvar j;
    generate
        for (j = 0; j < NB; j = j + 1) begin : g_bank
            hwgen_sdp_ram #(.WIDTH(W), .DEPTH(DEPTH), .AW(AW), .RAM_STYLE(RAM_STYLE)) u_ram (
                .clk(clk), .we(we[j]), .waddr(waddr), .wdata(wdata[j*W +: W]),
                .re(re), .raddr(raddr), .rdata(rdata[j*W +: W]));
        end
    endgenerate
endmodule
