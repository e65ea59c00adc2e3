// hwgen library: LUTRAM memory with one write port and one asynchronous read port (FIFO storage,
// row buffers). A caller that registers rdata gets a synchronous read port (Yosys merges the register).
`timescale 1ns/1ps
module hwgen_lutram #(
    parameter WIDTH = 1,
    parameter DEPTH = 2,
    parameter AW = 1          // address bits, 2^AW >= DEPTH
) (
    input  wire clk,
    input  wire we,
    input  wire [AW-1:0] waddr,
    input  wire [WIDTH-1:0] wdata,
    input  wire [AW-1:0] raddr,
    output wire [WIDTH-1:0] rdata
);
    (* ram_style = "distributed" *) reg [WIDTH-1:0] mem [0:DEPTH-1];
    always @(posedge clk) if (we) mem[waddr] <= wdata;
    assign rdata = mem[raddr];
endmodule
