// hwgen library: simple dual-port RAM, one write port and one registered (synchronous) read port, so it maps
// onto block RAM as well as distributed RAM. The read register advances only on `re`.
`timescale 1ns/1ps
module hwgen_sdp_ram #(
    parameter WIDTH = 1,
    parameter DEPTH = 1,
    parameter AW = 1,
    parameter RAM_STYLE = "block"     // ultra | block | distributed
) (
    input  wire             clk,
    input  wire             we,
    input  wire [AW-1:0]    waddr,
    input  wire [WIDTH-1:0] wdata,
    input  wire             re,
    input  wire [AW-1:0]    raddr,
    output wire [WIDTH-1:0] rdata
);
    localparam LAST = DEPTH - 1;
    reg [WIDTH-1:0] rd;
    assign rdata = rd;
    // ram_style must be a literal attribute, hence one branch per style.
    generate
        if (RAM_STYLE == "ultra") begin : g_ultra
            (* ram_style = "ultra" *) reg [WIDTH-1:0] mem [0:LAST];
            always @(posedge clk) begin
                if (we) mem[waddr] <= wdata;
                if (re) rd <= mem[raddr];
            end
        end else if (RAM_STYLE == "distributed") begin : g_distributed
            (* ram_style = "distributed" *) reg [WIDTH-1:0] mem [0:LAST];
            always @(posedge clk) begin
                if (we) mem[waddr] <= wdata;
                if (re) rd <= mem[raddr];
            end
        end else begin : g_block
            (* ram_style = "block" *) reg [WIDTH-1:0] mem [0:LAST];
            always @(posedge clk) begin
                if (we) mem[waddr] <= wdata;
                if (re) rd <= mem[raddr];
            end
        end
    endgenerate
endmodule
