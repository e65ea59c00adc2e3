// hwgen library: a W-bit carry chain of Xilinx carry primitives (CARRY8 on UltraScale+, CARRY4 on 7-series),
// cascaded CO -> CI. Bit i: o[i] = s[i] ^ carry into i; the carry out of i is carry-in when s[i] (propagate), else
// di[i] (generate). ci is the carry into bit 0. The caller's LUTs compute s and di.
`timescale 1ns/1ps
module hwgen_carry_chain #(
    parameter W = 1,
    parameter CARRY = "CARRY8"        // CARRY8 | CARRY4
) (
    input  wire [W-1:0] s,
    input  wire [W-1:0] di,
    input  wire         ci,
    output wire [W-1:0] o
);
    localparam CB = (CARRY == "CARRY8") ? 8 : 4;     // bits per carry cell
    localparam CELLS = (W + CB - 1) / CB;
    wire [CELLS*CB-1:0] sp = s;                      // unused top bits: s = di = 0
    wire [CELLS*CB-1:0] dp = di;
    wire [CELLS*CB-1:0] op, co;
    genvar k;
    generate
        for (k = 0; k < CELLS; k = k + 1) begin : g_cell
            wire cin;
            if (k == 0) begin : g_first
                assign cin = ci;
            end else begin : g_next
                assign cin = co[k * CB - 1];
            end
            if (CARRY == "CARRY8") begin : g_c8
                CARRY8 #(.CARRY_TYPE("SINGLE_CY8")) u_carry (
                    .CI(cin), .CI_TOP(1'b0), .DI(dp[k * CB +: CB]), .S(sp[k * CB +: CB]),
                    .O(op[k * CB +: CB]), .CO(co[k * CB +: CB]));
            end else begin : g_c4
                CARRY4 u_carry (.CI(cin), .CYINIT(1'b0), .DI(dp[k * CB +: CB]), .S(sp[k * CB +: CB]),
                                .O(op[k * CB +: CB]), .CO(co[k * CB +: CB]));
            end
        end
    endgenerate
    assign o = op[W-1:0];
endmodule
