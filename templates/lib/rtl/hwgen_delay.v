// hwgen library: registered delay line, q = d delayed by STAGES enabled clock edges.
// RESET = 1 adds a synchronous reset of every stage to 0 (for valid bits); data lines leave it 0
// so they map to plain or shift-register flip-flops.
`timescale 1ns/1ps
module hwgen_delay #(
    parameter WIDTH = 1,
    parameter STAGES = 1,     // >= 1
    parameter RESET = 0
) (
    input  wire clk,
    input  wire rst,
    input  wire en,
    input  wire [WIDTH-1:0] d,
    output wire [WIDTH-1:0] q
);
    reg [STAGES*WIDTH-1:0] sr;
    generate
        if (STAGES == 1) begin : one
            always @(posedge clk)
                if (RESET && rst) sr <= {WIDTH{1'b0}};
                else if (en) sr <= d;
        end else begin : many
            always @(posedge clk)
                if (RESET && rst) sr <= {(STAGES*WIDTH){1'b0}};
                else if (en) sr <= {sr[(STAGES-1)*WIDTH-1:0], d};
        end
    endgenerate
    assign q = sr[(STAGES-1)*WIDTH +: WIDTH];
endmodule
