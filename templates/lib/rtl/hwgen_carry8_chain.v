// hwgen library: a W-bit carry chain of cascaded UltraScale+ CARRY8 cells (the expert naive adder,
// hwgen/kernels/naive_expert.py). o = the sum bits S ^ carry; unused positions of the last cell are zero.
`timescale 1ns/1ps
module hwgen_carry8_chain #(
    parameter W = 8
) (
    input  wire [W-1:0] s,      // propagate (LUT O6)
    input  wire [W-1:0] di,     // generate operand (LUT O5), taken where the propagate is 0
    input  wire         ci,
    output wire [W-1:0] o
);
    localparam CELLS = (W + 7) / 8;
    wire [8*CELLS-1:0] s_pad = s;      // zero-extended
    wire [8*CELLS-1:0] di_pad = di;
    wire [8*CELLS-1:0] o_pad, co;
    wire [CELLS:0] cin;
    assign cin[0] = ci;
    genvar c;
    generate
        for (c = 0; c < CELLS; c = c + 1) begin : g_cell
            CARRY8 #(.CARRY_TYPE("SINGLE_CY8")) u_cy (
                .CI(cin[c]), .CI_TOP(1'b0), .DI(di_pad[8*c +: 8]), .S(s_pad[8*c +: 8]),
                .O(o_pad[8*c +: 8]), .CO(co[8*c +: 8]));
            assign cin[c+1] = co[8*c+7];
        end
    endgenerate
    assign o = o_pad[W-1:0];
endmodule
