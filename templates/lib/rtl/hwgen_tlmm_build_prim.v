// hwgen library: the T table builders of a TLMM chunk (as hwgen_tlmm_build) with each builder's add/subtract/zero
// in one LUT6_2 per entry bit and one carry chain (TLMM `adder: ternary`). Bit i's LUT6_2 (I5 = 1) sees run[i],
// the selected activation's bit a[i] and op:
//   O6 = (op != 0) & (run[i] ^ a[i] ^ op[1])     (carry-chain propagate; 0 for op 0)
//   O5 = (op != 0) & run[i]                      (carry-chain DI)
// with the chain's carry-in op[1] (subtracting adds the complement plus one), so op 0 writes 0, op 1 run + a and
// op 2 run - a. INIT is computed in Python (hwgen/kernels/xilinx_prims.py: BUILD_INIT); the G:1 activation mux stays behavioural.
`timescale 1ns/1ps
module hwgen_tlmm_build_prim #(
    parameter T = 1,
    parameter G = 1,
    parameter ACT_BITS = 2,
    parameter ENTRY_BITS = 2,
    parameter SELW = 1,
    parameter CARRY = "CARRY8",       // CARRY8 | CARRY4
    parameter [63:0] INIT = 64'h0     // the LUT6_2 function above
) (
    input  wire                    clk,
    input  wire                    we,
    input  wire [T*G*ACT_BITS-1:0] x,
    input  wire [SELW-1:0]         sel,
    input  wire [1:0]              op,
    output wire [T*ENTRY_BITS-1:0] entries
);
    genvar t, i;
    generate
        for (t = 0; t < T; t = t + 1) begin : g_table
            reg signed [ACT_BITS-1:0] a_sel;
            integer j;
            always @* begin   // G:1 activation mux
                a_sel = x[t * G * ACT_BITS +: ACT_BITS];
                for (j = 1; j < G; j = j + 1)
                    if (sel == j) a_sel = x[(t * G + j) * ACT_BITS +: ACT_BITS];
            end
            wire signed [ENTRY_BITS-1:0] a_ext = a_sel;
            reg [ENTRY_BITS-1:0] run;
            wire [ENTRY_BITS-1:0] p, di, entry;
            for (i = 0; i < ENTRY_BITS; i = i + 1) begin : g_bit
                LUT6_2 #(.INIT(INIT)) u_lut (.I0(run[i]), .I1(a_ext[i]), .I2(op[0]), .I3(op[1]), .I4(1'b0), .I5(1'b1),
                                             .O6(p[i]), .O5(di[i]));
            end
            hwgen_carry_chain #(.W(ENTRY_BITS), .CARRY(CARRY)) u_chain (.s(p), .di(di), .ci(op[1]), .o(entry));
            always @(posedge clk) if (we) run <= entry;
            assign entries[t * ENTRY_BITS +: ENTRY_BITS] = entry;
        end
    endgenerate
endmodule
