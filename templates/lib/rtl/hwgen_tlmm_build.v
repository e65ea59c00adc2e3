// hwgen library: the T table builders of a TLMM chunk, one adder per table. Each cycle of the build
// walk moves the running partial sum by +-a[sel] (op 1: add, 2: subtract) or restarts it at 0
// (op 0); `entries` is the value written into every lane's replica of each table this cycle.
`timescale 1ns/1ps
module hwgen_tlmm_build #(
    parameter T = 1,                  // tables
    parameter G = 1,                  // activations per table
    parameter ACT_BITS = 2,
    parameter ENTRY_BITS = 2,         // table entry width (bound analysis)
    parameter SELW = 1                // activation-select bits
) (
    input  wire                    clk,
    input  wire                    we,
    input  wire [T*G*ACT_BITS-1:0] x,        // the chunk, activation t*G+i at (t*G+i)*ACT_BITS
    input  wire [SELW-1:0]         sel,
    input  wire [1:0]              op,
    output wire [T*ENTRY_BITS-1:0] entries
);
    genvar t;
    generate
        for (t = 0; t < T; t = t + 1) begin : g_table
            reg signed [ACT_BITS-1:0] a_sel;
            integer i;
            always @* begin   // G:1 activation mux
                a_sel = x[t * G * ACT_BITS +: ACT_BITS];
                for (i = 1; i < G; i = i + 1)
                    if (sel == i) a_sel = x[(t * G + i) * ACT_BITS +: ACT_BITS];
            end
            // One adder: subtracting is adding the complement plus a carry-in.
            wire signed [ENTRY_BITS-1:0] a_ext = a_sel;
            wire [ENTRY_BITS-1:0] a_x = a_ext ^ {ENTRY_BITS{op[1]}};
            reg signed [ENTRY_BITS-1:0] run;
            wire signed [ENTRY_BITS-1:0] entry = (op == 2'd0) ? 0 : run + a_x + op[1];
            always @(posedge clk) if (we) run <= entry;
            assign entries[t * ENTRY_BITS +: ENTRY_BITS] = entry;
        end
    endgenerate
endmodule
